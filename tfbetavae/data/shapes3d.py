"""Shapes3D (Burgess & Kim 2018, "3D Shapes Dataset"; used by Kim & Mnih 2018 and Locatello et al. 2019).

The file users hold is DeepMind's ``3dshapes.h5``: ``images`` (480000, 64, 64, 3) uint8 and ``labels``
(480000, 6) float64, one row per combination of the six factors, in mixed-radix order (the last factor,
orientation, changes fastest). The factors, in column order, and their values: floor hue, wall hue and object
hue (10 values each on [0, 0.9]), scale (8 values on [0.75, 1.25]), shape (4: cube, cylinder, sphere, capsule)
and orientation (15 values on [-30, 30] degrees). disentanglement_lib's ``shapes3d`` module uses the same six
factors in the same order. The loader derives each factor's classes from the ``labels`` column (rank among the
column's distinct values) and checks the rows are in that order, so a consistent subset also loads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfbetavae.data.indexed import IndexedImages, classes_of, mixed_radix_bases

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
FILENAME = "3dshapes.h5"


class Shapes3D(IndexedImages):
    """Shapes3D images indexed by their six factors (what ``load_shapes3d`` returns)."""


def load_shapes3d(path: str | os.PathLike, in_memory: bool | None = None) -> Shapes3D:
    """Shapes3D from ``3dshapes.h5`` (or a folder holding it).

    ``in_memory=True`` loads all images (5.9 GB for the full file; no disk reads while training); ``False`` reads
    them from the file batch by batch. The default chooses memory when the file's images are compressed, where
    random reads would unpack a whole chunk per image, and the file otherwise.
    """
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"Shapes3D file not found: {path} (DeepMind's {FILENAME}, from github.com/deepmind/3d-shapes)")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: corrupt or unreadable Shapes3D hdf5 ({error})") from error
    try:
        if "images" not in handle or "labels" not in handle:
            raise ValueError(f"{path}: not a Shapes3D file, needs datasets 'images' and 'labels' (has {sorted(handle)})")
        images, labels = handle["images"], handle["labels"]
        if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
            raise ValueError(f"{path}: 'images' must be uint8 [N, 64, 64, 3], got {images.dtype} {images.shape}")
        if labels.shape != (images.shape[0], 6):
            raise ValueError(f"{path}: 'labels' must be [{images.shape[0]}, 6] (one row per image), got {labels.shape}")
        classes, sizes = classes_of(labels[()])
        if int(np.prod(sizes)) != images.shape[0]:
            raise ValueError(f"{path}: {images.shape[0]} images but the labels' factor sizes {sizes} give {int(np.prod(sizes))}")
        if not np.array_equal(classes @ mixed_radix_bases(sizes), np.arange(images.shape[0])):
            raise ValueError(f"{path}: rows are not in Shapes3D order (row = factor classes in mixed radix, orientation fastest)")
        if in_memory is None:
            in_memory = images.compression is not None
        source = images[()] if in_memory else images
    except Exception:
        handle.close()
        raise
    if in_memory:
        handle.close()
    return Shapes3D(source, FACTOR_NAMES, sizes, source=str(path))
