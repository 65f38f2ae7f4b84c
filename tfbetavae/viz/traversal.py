"""Latent traversals as arrays (NumPy, no drawing), the choice and order of the dimensions they show, and the model
behind every picture (``_Adapter``: a model or a path, with the checks the pictures need). The package docstring
(``tfbetavae.viz``) says what a traversal is."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfbetavae.checks import int_at_least, positive_int
from tfbetavae.data.ground_truth import check_batch
from tfbetavae.loading import as_model
from tfbetavae.model import ACTIVE_KL_THRESHOLD

__all__ = ["Traversal", "reconstruction_grid", "tile", "traversal_grid", "traverse"]


class _Adapter:
    """A model (or a path, opened with ``tfbetavae.load``) with the checks the pictures need: NumPy out."""

    def __init__(self, model: Any) -> None:
        self.model = model.model if isinstance(model, _Adapter) else as_model(model)
        self.latent_dim = int(self.model.latent_dim)
        self.image_shape = tuple(int(d) for d in self.model.image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(
                f"pictures need a model of images [H, W, C]; this model's inputs are vectors of shape {self.image_shape}"
            )

    def images(self, images, name: str = "images") -> np.ndarray:
        return check_batch(images, self.image_shape, name)

    def one_image(self, image, name: str = "image") -> np.ndarray:
        array = np.asarray(image)
        if array.ndim == 3:
            array = array[None]
        elif array.ndim == 4 and len(array) != 1:
            raise ValueError(f"{name} must be one image [H, W, C] (or [1, H, W, C]), got a batch of shape {array.shape}")
        elif array.ndim != 4:
            raise ValueError(f"{name} must be one image [H, W, C] (or [1, H, W, C]), got shape {array.shape}")
        if tuple(array.shape[1:]) != self.image_shape:
            raise ValueError(f"{name} must have shape {self.image_shape} for this model, got {tuple(array.shape[1:])}")
        return self.images(array, name)

    def mean(self, images: np.ndarray) -> np.ndarray:
        mean = np.asarray(self.model.encode(images), np.float32)
        if mean.shape != (len(images), self.latent_dim):
            raise ValueError(f"encode returned codes of shape {mean.shape}, expected {(len(images), self.latent_dim)}")
        return mean

    def decode(self, codes: np.ndarray) -> np.ndarray:
        images = np.asarray(self.model.decode(np.asarray(codes, np.float32)), np.float32)
        if images.ndim != 4 or len(images) != len(codes):
            raise ValueError(f"decode returned shape {images.shape} for {len(codes)} codes; expected [n, H, W, C]")
        return np.clip(images, 0.0, 1.0)

    def kl(self, images: np.ndarray) -> np.ndarray:
        """KL of each dimension averaged over ``images``."""
        kl = np.asarray(self.model.kl_per_dimension(images), np.float32)
        if kl.shape != (self.latent_dim,):
            raise ValueError(f"the KL per dimension has shape {kl.shape}, expected ({self.latent_dim},)")
        return kl


@dataclass(frozen=True)
class Traversal:
    """A latent traversal.

    Attributes:
        images: float32 [rows, steps, H, W, C], row ``r`` sweeping dimension ``dims[r]``.
        dims: the swept dimensions, ordered by KL descending (index order when the model gives no KL).
        values: float32 [rows, steps], the value the swept dimension takes in each column.
        mean: float32 [latent_dim], the seed image's posterior mean (the value of the unswept dimensions).
        kl: float32 [latent_dim] average KL of each dimension on the reference images, or None.
    """

    images: np.ndarray
    dims: tuple[int, ...]
    values: np.ndarray
    mean: np.ndarray
    kl: np.ndarray | None

    @property
    def active(self) -> np.ndarray:
        """bool [rows]: whether each row's dimension is in use (KL ≥ ACTIVE_KL_THRESHOLD; all True without KL)."""
        if self.kl is None:
            return np.ones(len(self.dims), bool)
        return self.kl[list(self.dims)] >= ACTIVE_KL_THRESHOLD


def _check_limits(limits) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise ValueError(f"limits must be two numbers (low, high), got {limits!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(f"limits must be finite with low < high, got {limits!r}")
    return low, high


def _check_steps(steps) -> int:
    return int_at_least(steps, "steps", 2)


def _choose_dims(dims, latent_dim: int, kl: np.ndarray | None) -> tuple[int, ...]:
    order = list(range(latent_dim)) if kl is None else [int(i) for i in np.argsort(-kl, kind="stable")]
    if dims is None:
        return tuple(order)
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        if not 1 <= dims <= latent_dim:
            raise ValueError(f"dims as a count must be in [1, {latent_dim}], got {dims}")
        return tuple(order[: int(dims)])
    chosen = []
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 0 <= dim < latent_dim:
            raise ValueError(f"latent dimension {dim!r} does not exist; this model has dimensions 0..{latent_dim - 1}")
        if int(dim) not in chosen:
            chosen.append(int(dim))
    if not chosen:
        raise ValueError("dims is empty")
    return tuple(d for d in order if d in chosen)


def traverse(
    model,
    image,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 10,
    dims: int | Sequence[int] | None = None,
    reference=None,
    relative: bool = False,
) -> Traversal:
    """Traversal of ``image`` (one image [H, W, C] or [1, H, W, C] in [0, 1]); see ``Traversal``.

    Args:
        model: a model as ``tfbetavae.load`` returns it, or a path to one.
        limits: (low, high) of the sweep; with ``relative=False`` (default) the swept dimension takes the
            absolute values ``linspace(low, high, steps)`` (the prior's range for ±3), with ``relative=True``
            it takes ``mean[d] + linspace(low, high, steps)``.
        steps: number of columns (≥ 2).
        dims: None (all dimensions), an int k (the k dimensions of highest KL) or a sequence of dimensions.
            Rows are always ordered by KL descending.
        reference: a batch [n, H, W, C] over which the KL of each dimension is averaged to order and mark the
            rows (default: the seed image alone). A few dozen images give a more reliable ordering.
    """
    adapter = _Adapter(model)
    low, high = _check_limits(limits)
    steps = _check_steps(steps)
    seed = adapter.one_image(image)
    batch = seed if reference is None else adapter.images(reference, "reference")
    kl = adapter.kl(batch)
    chosen = _choose_dims(dims, adapter.latent_dim, kl)
    mean = adapter.mean(seed)[0]
    sweep = np.linspace(low, high, steps, dtype=np.float32)
    values = np.stack([mean[d] + sweep if relative else sweep for d in chosen]).astype(np.float32)
    codes = np.repeat(mean[None, None, :], len(chosen), axis=0).repeat(steps, axis=1)  # [rows, steps, D]
    for row, dim in enumerate(chosen):
        codes[row, :, dim] = values[row]
    decoded = adapter.decode(codes.reshape(-1, adapter.latent_dim))
    images = decoded.reshape(len(chosen), steps, *decoded.shape[1:])
    return Traversal(images=images, dims=chosen, values=values, mean=mean, kl=kl)


def tile(cells: np.ndarray) -> np.ndarray:
    """[rows, cols, H, W, C] → one image [rows·H, cols·W, C] (no gaps)."""
    rows, cols, height, width, channels = cells.shape
    return cells.transpose(0, 2, 1, 3, 4).reshape(rows * height, cols * width, channels)


def traversal_grid(
    model,
    image,
    limits: Sequence[float] = (-3.0, 3.0),
    steps: int = 10,
    dims: int | Sequence[int] | None = None,
    reference=None,
    relative: bool = False,
) -> np.ndarray:
    """The traversal as one float32 image [rows·H, steps·W, C] in [0, 1].

    Row block ``r`` (pixel rows ``r·H`` to ``(r+1)·H``) sweeps the dimension with the ``r``-th largest KL;
    column block ``c`` holds the ``c``-th value of the sweep. Arguments as in ``traverse``.
    """
    return tile(traverse(model, image, limits, steps, dims, reference, relative).images)


def reconstruction_grid(model, images, n: int = 8) -> np.ndarray:
    """The first ``n`` images over their reconstructions: float32 [2·H, n·W, C]."""
    adapter = _Adapter(model)
    inputs = adapter.images(images)[: positive_int(n, "n")]
    outputs = adapter.decode(adapter.mean(inputs))
    return tile(np.stack([inputs, outputs]))
