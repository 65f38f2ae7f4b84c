"""Images without factors, held in memory: a user's folder or array as a study or a tuner takes it.

``ImageSet`` answers the few questions a study asks of its data — the shape of one observation, how many there are,
``sample(n, rng)`` for held-out images — so reconstruction, KL, the unsupervised scores and UDR work on data nobody
labelled. ``factors`` are None: a score that needs them is refused before anything trains.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfbetavae.data.ground_truth import check_images

__all__ = ["ImageSet", "first_image_shape", "load_image_set"]


class ImageSet:
    """An array of images [N, H, W, C] in [0, 1] (float32), named by where it came from."""

    def __init__(self, images: np.ndarray, name: str = "images") -> None:
        images = check_images(images, name)
        if not len(images):
            raise ValueError(f"{name} holds no images")
        self.images, self.name = images, name

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, num: int, rng: np.random.Generator) -> tuple[None, np.ndarray]:
        """``num`` images drawn with replacement (no factors: the first element is None)."""
        return None, self.images[rng.integers(0, len(self.images), size=int(num))]


def load_image_set(spec: str | os.PathLike) -> ImageSet:
    """An image folder (read at its first image's size and channels) or a ``.npy`` array of images."""
    path = Path(spec)
    if path.suffix == ".npy" and path.is_file():
        return ImageSet(np.load(path), name=os.fspath(path))
    if path.is_dir():
        from tfbetavae.data.pipeline import image_folder_dataset  # noqa: PLC0415

        height, width, channels = first_image_shape(path)
        dataset = image_folder_dataset(path, (height, width), channels, batch_size=256, repeat=False)
        return ImageSet(np.concatenate([batch.numpy() for batch in dataset]), name=os.fspath(path))
    raise FileNotFoundError(f"{spec}: neither an image folder nor a .npy array of images")


def first_image_shape(folder: Path) -> tuple[int, int, int]:
    """(H, W, C) of the first image file under ``folder`` (sorted), read when no model says what size it takes."""
    import tensorflow as tf  # noqa: PLC0415

    from tfbetavae.data.pipeline import IMAGE_EXTENSIONS  # noqa: PLC0415

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {folder}")
    image = tf.io.decode_image(tf.io.read_file(str(files[0])), expand_animations=False)
    return tuple(int(v) for v in image.shape)
