"""Stored images looked up by their factor classes: the common core of every file-backed data set.

A file holds N images and, per image, its factor classes (given as a matrix, or implied by the file's
order). Sampling an observation for a factor vector means finding a row with those classes. When several
rows share the classes (SmallNORB's five instances of a category, a TFDS data set with an extra unlabelled
variable), one of them is drawn with the caller's generator, as disentanglement_lib draws SmallNORB's
instance: the variable that is not a factor becomes noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfbetavae.data.ground_truth import GroundTruthData


def mixed_radix_bases(sizes: Sequence[int]) -> np.ndarray:
    """Place values of a mixed-radix number with digits of ``sizes`` (the last factor changes fastest)."""
    sizes = [int(s) for s in sizes]
    return np.array([int(np.prod(sizes[i + 1 :], dtype=np.int64)) for i in range(len(sizes))], np.int64)


def classes_of(values: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Each column's values replaced by their rank among the column's distinct values; and the counts."""
    values = np.asarray(values)
    columns, sizes = [], []
    for column in values.T:
        distinct, inverse = np.unique(column, return_inverse=True)
        columns.append(inverse.reshape(-1).astype(np.int64))
        sizes.append(len(distinct))
    matrix = np.stack(columns, axis=1) if columns else np.zeros((len(values), 0), np.int64)
    return matrix, tuple(sizes)


class IndexedImages(GroundTruthData):
    """Images (an array, a memory map or an h5py dataset, [N, H, W] or [N, H, W, C]) indexed by factor classes.

    ``classes`` is the int matrix [N, K] of each row's factor classes; ``None`` means the rows are already in
    mixed-radix order of ``factor_sizes`` (row = classes · bases), as in dSprites, Shapes3D and MPI3D. Every
    combination of classes must have at least one row. uint8 images are scaled by 1/255 (``binary=True``:
    uint8 0/1 images are taken as they are).
    """

    def __init__(
        self,
        images,
        factor_names: Sequence[str],
        factor_sizes: Sequence[int],
        classes: np.ndarray | None = None,
        source: str = "arrays",
        binary: bool = False,
    ) -> None:
        self._names = tuple(str(n) for n in factor_names)
        self._sizes = tuple(int(s) for s in factor_sizes)
        if len(self._names) != len(self._sizes):
            raise ValueError(f"{source}: {len(self._names)} factor names for {len(self._sizes)} factor sizes")
        shape = tuple(int(s) for s in images.shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"{source}: images must be [N, H, W] or [N, H, W, C], got shape {shape}")
        self._images = images
        self._source = source
        self._binary = binary
        self._shape = (shape[1], shape[2], shape[3] if len(shape) == 4 else 1)
        self._bases = mixed_radix_bases(self._sizes)
        total = int(np.prod(self._sizes, dtype=np.int64))
        if classes is None:
            if shape[0] != total:
                raise ValueError(f"{source}: {shape[0]} images, but the factor sizes {self._sizes} give {total} combinations")
            self._order = self._starts = self._counts = None
            return
        classes = np.asarray(classes, np.int64)
        if classes.shape != (shape[0], len(self._sizes)):
            raise ValueError(f"{source}: factor classes must be [{shape[0]}, {len(self._sizes)}], got {classes.shape}")
        if classes.size and (classes.min() < 0 or np.any(classes.max(axis=0) >= np.asarray(self._sizes))):
            raise ValueError(f"{source}: factor classes out of range of the factor sizes {self._sizes}")
        index = classes @ self._bases
        counts = np.bincount(index, minlength=total)
        if np.any(counts == 0):
            missing = np.unravel_index(int(np.argmax(counts == 0)), self._sizes)
            raise ValueError(
                f"{source}: no image for the factor combination {dict(zip(self._names, map(int, missing)))} "
                f"({int(np.sum(counts == 0))} of {total} combinations missing)"
            )
        self._order = np.argsort(index, kind="stable")
        self._counts = counts
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return self._sizes

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self._shape

    def rows(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Row numbers in the file for validated factor classes (a random one where several rows match)."""
        index = np.asarray(factors, np.int64) @ self._bases
        if self._order is None:
            return index
        counts = self._counts[index]
        if np.all(counts == 1):
            return self._order[self._starts[index]]
        offsets = np.floor(rng.random(len(index)) * counts).astype(np.int64)
        return self._order[self._starts[index] + offsets]

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self._fetch(self.rows(factors, rng))

    def _fetch(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros((0, *self._shape), np.float32)
        if isinstance(self._images, np.ndarray):
            images = self._images[rows]
        else:  # h5py and friends read increasing, distinct indices only
            unique, inverse = np.unique(rows, return_inverse=True)
            images = np.asarray(self._images[unique])[inverse.reshape(-1)]
        if images.dtype == np.uint8 and not self._binary:
            images = images.astype(np.float32) / 255.0
        else:
            images = images.astype(np.float32)
        return images.reshape(len(rows), *self._shape)


def resize_uint8(images: np.ndarray, size: int = 64) -> np.ndarray:
    """uint8 images [N, H, W] or [N, H, W, C] resized to size×size with PIL's Lanczos filter (PIL's former
    ``ANTIALIAS``), image by image, as disentanglement_lib resizes SmallNORB and Cars3D."""
    from PIL import Image

    images = np.asarray(images)
    squeeze = images.ndim == 4 and images.shape[-1] == 1
    if squeeze:
        images = images[..., 0]
    out = np.empty((len(images), size, size, *images.shape[3:]), np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((size, size), Image.LANCZOS))
    return out[..., None] if squeeze else out
