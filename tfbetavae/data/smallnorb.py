"""SmallNORB (LeCun et al. 2004), read from NYU's binary matrix files, as disentanglement_lib uses it.

The six files (``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat`` and the ``5x01235…-testing``
trio) are not MATLAB files but NYU's "binary matrix" format: a little-endian int32 magic number giving the
element type (0x1E3D4C55 unsigned byte, 0x1E3D4C54 int32), an int32 rank, max(3, rank) int32 dimensions
(unused ones are 1), then the elements in C order. ``dat`` is uint8 [N, 2, 96, 96] (a stereo pair; the first
camera is used), ``cat`` int32 [N] (category 0–4), ``info`` int32 [N, 4]: instance (0–9), elevation (0–8),
azimuth (0, 2, …, 34, halved to 0–17) and lighting (0–5). Both halves together hold each of the
5 × 10 × 9 × 18 × 6 = 48600 combinations once.

As in disentanglement_lib, the factors are category, elevation, azimuth and lighting, and the instance is drawn
at random for each image (``instance_factor=True`` makes it a factor too); images are resized to 64×64 with
PIL's Lanczos filter (PIL's former ``ANTIALIAS``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfbetavae.data.indexed import IndexedImages, classes_of, resize_uint8

CHUNKS = ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing")
FACTOR_NAMES = ("category", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 9, 18, 6)
MAGIC_DTYPES = {0x1E3D4C55: np.dtype("u1"), 0x1E3D4C54: np.dtype("<i4"), 0x1E3D4C51: np.dtype("<f4"), 0x1E3D4C53: np.dtype("<f8")}


def read_binary_matrix(path: str | os.PathLike) -> np.ndarray:
    """A NORB binary matrix file as an array; a one-line ValueError naming what is wrong with a bad one."""
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) < 20:
        raise ValueError(f"{path}: too short for a NORB binary matrix header ({len(raw)} bytes)")
    magic, rank = (int(v) for v in np.frombuffer(raw, "<i4", 2))
    if magic not in MAGIC_DTYPES:
        raise ValueError(f"{path}: not a NORB binary matrix (magic number {magic:#x})")
    if not 0 < rank <= 16:
        raise ValueError(f"{path}: implausible rank {rank} in the NORB header")
    slots = max(3, rank)
    if len(raw) < 8 + 4 * slots:
        raise ValueError(f"{path}: header cut short")
    dims = tuple(int(d) for d in np.frombuffer(raw, "<i4", slots, 8)[:rank])
    dtype = MAGIC_DTYPES[magic]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - 8 - 4 * slots
    if body != expected:
        raise ValueError(f"{path}: header says {dims} of {dtype} ({expected} bytes) but the file holds {body} data bytes")
    return np.frombuffer(raw, dtype, offset=8 + 4 * slots).reshape(dims)


class SmallNORB(IndexedImages):
    """SmallNORB images indexed by their factors (what ``load_smallnorb`` returns)."""


def load_smallnorb(folder: str | os.PathLike, instance_factor: bool = False) -> SmallNORB:
    """SmallNORB from a folder holding the six (unzipped) NYU files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"SmallNORB folder not found: {folder} (it should hold the six smallnorb-*.mat files)")
    images, features = [], []
    for chunk in CHUNKS:
        paths = {part: folder / f"{chunk}-{part}.mat" for part in ("dat", "cat", "info")}
        for path in paths.values():
            if not path.is_file():
                raise FileNotFoundError(f"SmallNORB file missing: {path} (unzip the .mat.gz files from NYU first)")
        dat, cat, info = (read_binary_matrix(paths[p]) for p in ("dat", "cat", "info"))
        if dat.ndim != 4 or dat.shape[1:] != (2, 96, 96) or dat.dtype != np.uint8:
            raise ValueError(f"{paths['dat']}: images must be uint8 [N, 2, 96, 96], got {dat.dtype} {dat.shape}")
        if cat.shape != (dat.shape[0],) or info.shape != (dat.shape[0], 4):
            raise ValueError(
                f"{folder}/{chunk}: cat must be [{dat.shape[0]}] and info [{dat.shape[0]}, 4], got {cat.shape} and {info.shape}"
            )
        images.append(resize_uint8(dat[:, 0]))
        features.append(np.column_stack([cat, info]).astype(np.int64))
    feature = np.concatenate(features)  # category, instance, elevation, azimuth (0, 2, …), lighting
    if np.any(feature[:, 3] % 2):
        raise ValueError(f"{folder}: azimuth values must be even (0, 2, …, 34)")
    feature[:, 3] //= 2
    classes, sizes = classes_of(feature)
    keep = [0, 1, 2, 3, 4] if instance_factor else [0, 2, 3, 4]
    names = ("category", "instance", "elevation", "azimuth", "lighting")
    if instance_factor and len(feature) != int(np.prod(sizes)):
        raise ValueError(f"{folder}: {len(feature)} images for {int(np.prod(sizes))} combinations of {sizes}")
    return SmallNORB(
        np.concatenate(images), [names[i] for i in keep], [sizes[i] for i in keep], classes[:, keep], source=str(folder)
    )

