"""dSprites (Matthey et al. 2017): the procedural renderer by default, the real file when the user has it.

The five factors are shape (square, ellipse, heart), scale (6 values, 0.5-1), orientation (40 values on
[0, 2π], both ends included as in the original), posX and posY (32 values each on [0, 1]); images are
64x64 and binary. The renderer draws each sprite from its implicit equation on the pixel grid, a whole
batch at once in numpy, so it runs far ahead of training and needs no download.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tfbetavae.data.ground_truth import GroundTruthData

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
SCALE_VALUES = np.linspace(0.5, 1.0, 6)
ORIENTATION_VALUES = np.linspace(0.0, 2.0 * np.pi, 40)
POSITION_VALUES = np.linspace(0.0, 1.0, 32)
NPZ_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
HDF5_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5"
ENV_VAR = "TFBETAVAE_DSPRITES"

_IMAGE_SIZE = 64
_HALF_SIZE_AT_SCALE_1 = 9.0  # pixels from the centre to a square's edge at scale 1
_CENTRE_RANGE = (13.0, 50.0)  # pixel range of sprite centres, so rotated sprites stay inside
_RENDER_SLICE = 64  # images rendered per numpy pass


class ProceduralDSprites(GroundTruthData):
    """Renders dSprites-like images for any factor combination; the default data set everywhere."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (_IMAGE_SIZE, _IMAGE_SIZE, 1)

    def __init__(self) -> None:
        grid = np.arange(_IMAGE_SIZE, dtype=np.float32) + 0.5
        self._rows = grid[None, :, None]
        self._cols = grid[None, None, :]

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        del rng  # rendering is deterministic given the factors
        if len(factors) > _RENDER_SLICE:  # slices keep the per-pixel temporaries in cache
            slices = [self._render_slice(factors[i : i + _RENDER_SLICE]) for i in range(0, len(factors), _RENDER_SLICE)]
            return np.concatenate(slices)
        return self._render_slice(factors)

    def _render_slice(self, factors: np.ndarray) -> np.ndarray:
        shape, scale, orientation, pos_x, pos_y = (factors[:, i] for i in range(5))
        low, high = _CENTRE_RANGE
        centre_x = (low + (high - low) * POSITION_VALUES[pos_x]).astype(np.float32)[:, None, None]
        centre_y = (low + (high - low) * POSITION_VALUES[pos_y]).astype(np.float32)[:, None, None]
        half_size = (_HALF_SIZE_AT_SCALE_1 * SCALE_VALUES[scale]).astype(np.float32)[:, None, None]
        angle = ORIENTATION_VALUES[orientation].astype(np.float32)[:, None, None]
        dx = self._cols - centre_x
        dy = self._rows - centre_y
        cos, sin = np.cos(angle), np.sin(angle)
        u = (cos * dx + sin * dy) / half_size
        v = (-sin * dx + cos * dy) / half_size
        inside = np.zeros(u.shape, dtype=bool)
        for index, test in enumerate((_inside_square, _inside_ellipse, _inside_heart)):
            chosen = shape == index
            if chosen.any():
                inside[chosen] = test(u[chosen], v[chosen])
        return inside.astype(np.float32)[..., None]


def _inside_square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) <= 1.0


def _inside_ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u / 1.25) ** 2 + (v / 0.6) ** 2 <= 1.0


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # The classic implicit heart (x² + y² − 1)³ − x²y³ ≤ 0, with its point facing down the image.
    # Products instead of ** 3: numpy's power calls powf per pixel and was 8x slower here.
    x = u * 1.15
    y = -v * 1.15 + 0.15
    x2 = x * x
    r = x2 + y * y - 1.0
    return r * r * r <= x2 * y * y * y


class DSpritesArrays(GroundTruthData):
    """The real dSprites images indexed by their factor classes (from the npz or TFDS's hdf5).

    Images are kept bit-packed (8 pixels a byte), so the full set takes 377 MB instead of 3 GB.
    """

    observation_shape = (_IMAGE_SIZE, _IMAGE_SIZE, 1)

    def __init__(self, images: np.ndarray, classes: np.ndarray, source: str = "arrays") -> None:
        images = np.asarray(images)
        classes = np.asarray(classes)
        if images.ndim != 3:
            raise ValueError(f"{source}: dSprites images must have shape [N, 64, 64], got {images.shape}")
        if classes.ndim != 2 or classes.shape[0] != images.shape[0] or classes.shape[1] not in (5, 6):
            raise ValueError(
                f"{source}: latents_classes must have shape [N, 6] (color, shape, scale, orientation, posX, posY) "
                f"with N = {images.shape[0]} images, got {classes.shape}"
            )
        if not np.issubdtype(classes.dtype, np.integer) or classes.min() < 0:
            raise ValueError(f"{source}: latents_classes must be non-negative integers, got dtype {classes.dtype}")
        if classes.shape[1] == 6:
            classes = classes[:, 1:]  # colour has a single value in dSprites
        sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
        if int(np.prod(sizes)) != images.shape[0]:
            raise ValueError(
                f"{source}: {images.shape[0]} images but the factor sizes {sizes} give {int(np.prod(sizes))} combinations"
            )
        bases = _mixed_radix_bases(sizes)
        if not np.array_equal(classes.astype(np.int64) @ bases, np.arange(images.shape[0])):
            raise ValueError(f"{source}: rows are not in dSprites order (row index = factor classes in mixed radix)")
        if images.shape[1:] != (_IMAGE_SIZE, _IMAGE_SIZE):
            raise ValueError(f"{source}: dSprites images must be 64x64, got {images.shape[1:]}")
        if images.size and (images.min() < 0 or images.max() > 1):
            raise ValueError(f"{source}: dSprites images must be binary (0/1), got values in [{images.min()}, {images.max()}]")
        self._packed = np.packbits(images.astype(np.uint8), axis=-1)
        self._sizes = sizes
        self._bases = bases

    factor_names = FACTOR_NAMES

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return self._sizes

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        del rng
        rows = self._packed[factors @ self._bases]
        return np.unpackbits(rows, axis=-1).astype(np.float32)[..., None]


def _mixed_radix_bases(sizes: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)


def load_dsprites_npz(path: str | os.PathLike) -> DSpritesArrays:
    """The real dSprites npz (keys ``imgs`` and ``latents_classes``), e.g. ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"dSprites file not found: {path}. Download {NPZ_FILENAME} from the dSprites repository "
            f"(github.com/deepmind/dsprites-dataset) and pass its path, or set {ENV_VAR}."
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"imgs", "latents_classes"} - set(archive.files)
            if missing:
                raise ValueError(f"{path}: not a dSprites npz, missing arrays {sorted(missing)} (has {archive.files})")
            return DSpritesArrays(archive["imgs"], archive["latents_classes"], source=str(path))
    except (OSError, EOFError, ValueError) as error:
        if isinstance(error, ValueError) and str(path) in str(error):
            raise
        raise ValueError(f"{path}: corrupt or unreadable dSprites npz ({error})") from error
    except Exception as error:  # zipfile.BadZipFile and friends
        raise ValueError(f"{path}: corrupt or unreadable dSprites npz ({error})") from error


def load_dsprites_hdf5(path: str | os.PathLike) -> DSpritesArrays:
    """The dSprites hdf5 that TFDS reads from its manual folder (keys ``imgs`` and ``latents/classes``)."""
    import h5py

    path = Path(path)
    if path.is_dir():
        path = path / HDF5_FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"dSprites hdf5 not found: {path}. Place {HDF5_FILENAME} in TFDS's manual folder "
            "(<data_dir>/downloads/manual/) or pass its path."
        )
    try:
        with h5py.File(path, "r") as handle:
            if "imgs" not in handle or "latents/classes" not in handle:
                raise ValueError(f"{path}: not a dSprites hdf5, needs datasets 'imgs' and 'latents/classes'")
            return DSpritesArrays(handle["imgs"][()], handle["latents/classes"][()], source=str(path))
    except OSError as error:
        raise ValueError(f"{path}: corrupt or unreadable dSprites hdf5 ({error})") from error


def tfds_manual_path(data_dir: str | os.PathLike) -> Path:
    """Where TFDS's ``dsprites`` builder expects the hdf5: ``<data_dir>/downloads/manual/``."""
    return Path(data_dir) / "downloads" / "manual" / HDF5_FILENAME


def dsprites(path: str | os.PathLike | None = None) -> GroundTruthData:
    """dSprites: the real file at ``path`` (or ``$TFBETAVAE_DSPRITES``) when given, else the procedural renderer.

    ``path`` may be the npz, the hdf5, or a TFDS data folder holding ``downloads/manual/<hdf5>``.
    """
    path = path if path is not None else os.environ.get(ENV_VAR) or None
    if path is None or str(path) == "procedural":
        return ProceduralDSprites()
    path = Path(path)
    if path.is_dir():
        manual = tfds_manual_path(path)
        return load_dsprites_hdf5(manual if manual.is_file() else path)
    if path.suffix in (".hdf5", ".h5"):
        return load_dsprites_hdf5(path)
    return load_dsprites_npz(path)
