"""Cars3D (Reed et al. 2015, "Deep Visual Analogy-Making"), as disentanglement_lib uses it.

The data come as one MATLAB file per car (``car_001_mesh.mat`` … in ``data/cars/`` of
``nips2015-analogy-data.tar.gz``), each with an array ``im`` [128, 128, 3, 24, 4] uint8: height, width,
colour, 24 azimuths, 4 elevations. There are 183 cars. The factors, in disentanglement_lib's order, are
elevation (4), azimuth (24) and car (183, in sorted file-name order here; disentanglement_lib takes the
directory's listing order, which only renumbers the cars). Images are resized to 64×64 with PIL's Lanczos
filter.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfbetavae.data.indexed import IndexedImages, resize_uint8

FACTOR_NAMES = ("elevation", "azimuth", "car")
FACTOR_SIZES = (4, 24, 183)


class Cars3D(IndexedImages):
    """Cars3D images indexed by their three factors (what ``load_cars3d`` returns)."""


def load_cars3d(folder: str | os.PathLike) -> Cars3D:
    """Cars3D from a folder of per-car ``.mat`` files (every ``*.mat`` in it is one car)."""
    import scipy.io

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Cars3D folder not found: {folder} (it should hold car_XXX_mesh.mat files)")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".mat")
    if not files:
        raise ValueError(f"{folder}: no .mat files (Cars3D has one per car, e.g. car_001_mesh.mat)")
    cars = []
    for path in files:
        try:
            content = scipy.io.loadmat(path)
        except Exception as error:  # scipy raises several types for a bad file
            raise ValueError(f"{path}: corrupt or unreadable .mat file ({error})") from error
        if "im" not in content:
            raise ValueError(f"{path}: no array 'im' (has {sorted(k for k in content if not k.startswith('__'))})")
        im = content["im"]
        if im.ndim != 5 or im.shape[2:] != (3, 24, 4) or im.dtype != np.uint8:
            raise ValueError(f"{path}: 'im' must be uint8 [H, W, 3, 24, 4], got {im.dtype} {im.shape}")
        views = np.transpose(im, (4, 3, 0, 1, 2))  # elevation, azimuth, H, W, C
        cars.append(resize_uint8(views.reshape(-1, *im.shape[:3])).reshape(4, 24, 64, 64, 3))
    images = np.stack(cars, axis=2).reshape(-1, 64, 64, 3)  # elevation, azimuth, car: mixed-radix order
    return Cars3D(images, FACTOR_NAMES, (4, 24, len(files)), source=str(folder))

