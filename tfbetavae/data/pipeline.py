"""tf.data training pipelines from a ground-truth data set, a folder of images, an array or any Dataset.

Every pipeline yields float32 image batches [B, H, W, C] in [0, 1], shuffled, batched and prefetched,
ready for ``BetaVAE.fit``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData, check_images

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
logger = logging.getLogger("tfbetavae.data")


def _check_batch_size(batch_size: int) -> int:
    return positive_int(batch_size, "batch_size")


def ground_truth_dataset(data: GroundTruthData, batch_size: int = 64, seed: int = 0, start: int = 0) -> tf.data.Dataset:
    """An endless stream of random batches rendered from ``data``, beginning at batch ``start``.

    Batch ``i`` is drawn with its own generator seeded by (seed, i), so batches render in parallel,
    the stream is the same for a seed, and a resumed run continues it exactly where it stopped.
    """
    batch_size = _check_batch_size(batch_size)
    shape = tuple(data.observation_shape)  # (H, W, C) images or (D,) vectors

    def render(index):
        rng = np.random.default_rng([int(seed), int(index)])
        return data.sample(batch_size, rng)[1].astype(np.float32)

    def render_tensor(index):
        images = tf.numpy_function(render, [index], tf.float32, stateful=False)
        return tf.ensure_shape(images, (batch_size, *shape))

    return rendered_stream(render_tensor, start)


def rendered_stream(render_batch, start: int = 0) -> tf.data.Dataset:
    """The endless stream ``render_batch(start)``, ``render_batch(start + 1)``, …: batches made from their index, in
    order, so a resumed run continues the same stream (ground-truth images, and pairs of them)."""
    options = tf.data.Options()
    # Under multi-worker training each worker renders the stream and keeps its share of every batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return (
        tf.data.Dataset.counter(int(start))
        .map(render_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def _validated(images, name: str):
    """Casts to float32 in [0, 1] (uint8 is scaled) and fails with a readable message on bad values."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    if not (images.dtype.is_floating or images.dtype.is_integer or images.dtype == tf.bool):
        raise ValueError(f"{name} must be numeric, got dtype {images.dtype.name}")
    images = tf.cast(images, tf.float32)
    checks = [
        tf.debugging.assert_all_finite(images, f"{name} contain NaN or infinite values"),
        tf.debugging.assert_greater_equal(images, 0.0, message=f"{name} must lie in [0, 1]: found values < 0"),
        tf.debugging.assert_less_equal(images, 1.0, message=f"{name} must lie in [0, 1]: found values > 1"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(images)


def _images_of(element):
    if isinstance(element, dict):
        for key in ("image", "images"):
            if key in element:
                return element[key]
        raise ValueError(f"dataset elements are dicts without an 'image' key (keys: {sorted(element)})")
    if isinstance(element, (tuple, list)):
        return element[0]
    return element


def dataset_pipeline(
    dataset: tf.data.Dataset, batch_size: int = 64, seed: int = 0, shuffle_buffer: int = 10_000, repeat: bool = True
) -> tf.data.Dataset:
    """Any Dataset of images (batched or not; plain, (image, label) or {'image': …}) → training batches."""
    batch_size = _check_batch_size(batch_size)
    spec = _images_of(dataset.element_spec)
    if spec.shape.rank == 4:
        dataset = dataset.unbatch()
    elif spec.shape.rank != 3:
        raise ValueError(f"dataset images must be [H, W, C] or batched [B, H, W, C], got element shape {spec.shape}")
    dataset = dataset.map(lambda *e: _validated(_images_of(e[0] if len(e) == 1 else e), "images"))
    if shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)


def array_dataset(images: np.ndarray, batch_size: int = 64, seed: int = 0, repeat: bool = True) -> tf.data.Dataset:
    """Training batches from an in-memory array of images (uint8 or floats in [0, 1]) or of vectors [N, D]."""
    if np.ndim(images) == 2:  # vectors: any finite values
        array = np.asarray(images, np.float32)
        if len(array) == 0 or not np.all(np.isfinite(array)):
            raise ValueError("vectors must be a non-empty array of finite values")
        dataset = tf.data.Dataset.from_tensor_slices(array).shuffle(len(array), seed=seed)
        dataset = dataset.repeat() if repeat else dataset
        return dataset.batch(_check_batch_size(batch_size), drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)
    array = check_images(images)
    if len(array) == 0:
        raise ValueError("images is empty")
    return dataset_pipeline(
        tf.data.Dataset.from_tensor_slices(array), batch_size, seed, shuffle_buffer=len(array), repeat=repeat
    )


def image_files(folder: str | os.PathLike) -> list[str]:
    """Every image file under ``folder`` (``IMAGE_EXTENSIONS``), sorted by path: the order two folders of pairs align in."""
    return sorted(str(p) for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def image_loader(image_size: tuple[int, int], channels: int, folder: str | os.PathLike):
    """``load(path) -> image``: one file decoded with ``channels`` (1 or 3), float32 in [0, 1], resized to
    ``image_size``; the first file of another size is named in one warning about ``folder``."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    image_size = tuple(int(v) for v in image_size)
    said: list[bool] = []
    lock = threading.Lock()

    def say_resized(path, size):
        with lock:  # once per loader, though its map runs in parallel and a mixed folder hits this often
            if said:
                return True
            said.append(True)
        height, width = (int(v) for v in size.numpy())
        logger.warning(
            "%s: images of another size are resized to %dx%d (e.g. %s is %dx%d)",
            folder, *image_size, path.numpy().decode(errors="replace"), height, width,
        )
        return True

    def load(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        size = tf.shape(image)[:2]
        resized = tf.reduce_any(tf.not_equal(size, image_size))
        said_it = tf.cond(resized, lambda: tf.py_function(say_resized, [path, size], tf.bool), lambda: resized)
        with tf.control_dependencies([said_it]):
            image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), image_size, antialias=True)
        return tf.clip_by_value(image, 0.0, 1.0)

    return load


def image_folder_dataset(
    folder: str | os.PathLike,
    image_size: tuple[int, int] = (64, 64),
    channels: int = 1,
    batch_size: int = 64,
    seed: int = 0,
    repeat: bool = True,
) -> tf.data.Dataset:
    """Training batches from every image file under ``folder`` (png, jpg, bmp, gif), resized to ``image_size``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    load = image_loader(image_size, channels, folder)
    files = image_files(folder)
    if not files:
        raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found under {folder}")
    dataset = tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=seed)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(_check_batch_size(batch_size), drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)


def training_dataset(source, batch_size: int = 64, seed: int = 0, start: int = 0, **kwargs) -> tf.data.Dataset:
    """Dispatches on the source: GroundTruthData, tf.data.Dataset, numpy array, or an image folder path.

    ``start`` (batches already consumed) continues a ground-truth stream; other sources reshuffle.
    """
    if isinstance(source, GroundTruthData):
        return ground_truth_dataset(source, batch_size, seed, start)
    if isinstance(source, tf.data.Dataset):
        return dataset_pipeline(source, batch_size, seed, **kwargs)
    if isinstance(source, (str, os.PathLike)):
        return image_folder_dataset(source, batch_size=batch_size, seed=seed, **kwargs)
    if isinstance(source, np.ndarray):
        return array_dataset(source, batch_size, seed, **kwargs)
    raise TypeError(
        f"cannot make a training pipeline from {type(source).__name__}; "
        "pass a GroundTruthData, a tf.data.Dataset, a numpy array or an image folder path"
    )
