"""MPI3D (Gondal et al. 2019, "On the Transfer of Inductive Bias from Simulation to the Real World").

Three variants share one layout: ``mpi3d_toy.npz``, ``mpi3d_realistic.npz``, ``mpi3d_real.npz``, each with one
array ``images`` (1036800, 64, 64, 3) uint8 and no labels: the rows are every combination of the seven factors
in mixed-radix order (the last changes fastest). Factors: object colour (6), object shape (6), object size (2),
camera height (3), background colour (3), horizontal axis (40) and vertical axis (40) of the robot arm.
disentanglement_lib's ``mpi3d`` module was written for an earlier release with 4 colours and 4 shapes
(460800 images); a file of that size loads with those sizes.

A file saved uncompressed (``np.savez``) is memory-mapped, so the 12.7 GB array is not read into memory; a
compressed one is loaded whole.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfbetavae.data.indexed import IndexedImages

FACTOR_NAMES = (
    "object_color", "object_shape", "object_size", "camera_height", "background_color", "horizontal_axis", "vertical_axis"
)
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
EARLY_FACTOR_SIZES = (4, 4, 2, 3, 3, 40, 40)  # the release disentanglement_lib was written for
VARIANTS = ("toy", "realistic", "real")


class MPI3D(IndexedImages):
    """MPI3D images indexed by their seven factors (what ``load_mpi3d`` returns)."""


def load_mpi3d(path: str | os.PathLike, factor_sizes: Sequence[int] | None = None) -> MPI3D:
    """MPI3D from one of its ``.npz`` files; ``factor_sizes`` only for a file cut to a smaller grid."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MPI3D file not found: {path} (mpi3d_toy.npz, mpi3d_realistic.npz or mpi3d_real.npz)")
    images = _npz_array(path, "images")
    if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
        raise ValueError(f"{path}: 'images' must be uint8 [N, 64, 64, 3], got {images.dtype} {images.shape}")
    if factor_sizes is None:
        known = {int(np.prod(s)): s for s in (FACTOR_SIZES, EARLY_FACTOR_SIZES)}
        if images.shape[0] not in known:
            raise ValueError(
                f"{path}: {images.shape[0]} images, but MPI3D has 1036800 (6×6×2×3×3×40×40) or, in its early "
                "release, 460800 (4×4×…); pass factor_sizes for a cut-down file"
            )
        factor_sizes = known[images.shape[0]]
    if len(factor_sizes) != 7:
        raise ValueError(f"factor_sizes must give the 7 MPI3D factors {list(FACTOR_NAMES)}, got {list(factor_sizes)}")
    return MPI3D(images, FACTOR_NAMES, factor_sizes, source=str(path))


def _npz_array(path: Path, key: str) -> np.ndarray:
    """One array of an npz: memory-mapped when stored uncompressed, else read whole; one-line errors otherwise."""
    member = f"{key}.npy"
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if member not in names:
                raise ValueError(f"{path}: no array {key!r} in this npz (it has {[n[:-4] for n in names]})")
            info = archive.getinfo(member)
            if info.compress_type == zipfile.ZIP_STORED:
                mapped = _memmap_member(path, info)
                if mapped is not None:
                    return mapped
            with archive.open(member) as handle:
                return np.lib.format.read_array(handle, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path}: corrupt or unreadable npz ({error})") from error


def _memmap_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray | None:
    """A read-only memory map of an uncompressed .npy inside a zip (its data sit contiguously in the file)."""
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            return None
        name_length = int.from_bytes(local[26:28], "little")
        extra_length = int.from_bytes(local[28:30], "little")
        handle.seek(info.header_offset + 30 + name_length + extra_length)
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        except ValueError:
            return None
        offset = handle.tell()
    if dtype.hasobject or int(np.prod(shape)) * dtype.itemsize > info.file_size:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
