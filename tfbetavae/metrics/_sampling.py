"""What every metric does before its own arithmetic: validate, draw factors, render, encode, report progress.

Kept in one place so that all metrics draw their samples the same way (one ``np.random.Generator`` per
call, seeded from the metric's ``seed``) and encode in batches rather than one image at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from tfbetavae.checks import non_negative_int, positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics.representation import RepresentFn, encode_in_batches

# Images rendered and encoded per call: large enough to amortise Python and TF overhead, small enough
# (2048 × 64 × 64 float32 = 32 MB for dSprites) to stay modest in memory.
CHUNK_IMAGES = 2048


def check_data(data: Any) -> GroundTruthData:
    """``data`` if it is a GroundTruthData with at least one factor, else a clear error."""
    if not isinstance(data, GroundTruthData):
        raise TypeError(f"data must be a tfbetavae.data.GroundTruthData, got {type(data).__name__}")
    if data.num_factors < 1:
        raise ValueError("the data set has no factors to evaluate against")
    return data


def make_rng(seed: Any) -> np.random.Generator:
    """The one generator a metric call draws all its randomness from."""
    return np.random.default_rng(non_negative_int(seed, "seed"))


def resolve_factors(data: GroundTruthData, factors: Sequence[int | str] | None) -> list[int]:
    """Column indices of the chosen factors (all by default); unknown names raise the data set's ValueError."""
    if factors is None:
        return list(range(data.num_factors))
    if isinstance(factors, (str, int, np.integer)):
        factors = [factors]
    indices: list[int] = []
    for factor in factors:
        index = data.factor_index(factor)
        if index not in indices:
            indices.append(index)
    if not indices:
        raise ValueError("factors must name at least one factor")
    return indices


class Progress:
    """A ``keras.utils.Progbar`` over sampled points, or nothing when progress is off."""

    def __init__(self, target: int, enabled: bool, title: str) -> None:
        self._bar = None
        if enabled and target > 0:
            print(title)
            self._bar = keras.utils.Progbar(target, unit_name="point")

    def add(self, count: int) -> None:
        if self._bar is not None:
            self._bar.add(count)


def encode_factors(
    data: GroundTruthData,
    represent_fn: RepresentFn,
    factors: np.ndarray,
    rng: np.random.Generator,
    batch_size: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """Codes [n, d] of observations rendered from a factor matrix, rendered and encoded a batch at a time."""
    parts = []
    for start in range(0, len(factors), batch_size):
        chunk = factors[start : start + batch_size]
        images = data.sample_observations_from_factors(chunk, rng)
        parts.append(encode_in_batches(represent_fn, images, batch_size))
        if progress is not None:
            progress.add(len(chunk))
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:
        raise ValueError(
            f"the representation returned codes of different widths {sorted(widths)} for different batches"
        )
    return np.concatenate(parts, axis=0)


def sample_encoded(
    data: GroundTruthData,
    represent_fn: RepresentFn,
    num: int,
    rng: np.random.Generator,
    batch_size: int,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``num`` random factor vectors (int64 [num, K]) and the codes of their observations (float32 [num, d])."""
    num = positive_int(num, "number of points")
    factors = data.sample_factors(num, rng)
    return factors, encode_factors(data, represent_fn, factors, rng, batch_size, progress)


def choose_factors(factor_choices: Sequence[int], num: int, rng: np.random.Generator) -> np.ndarray:
    """``num`` factor indices drawn uniformly from ``factor_choices`` (the label of each metric point)."""
    return np.asarray(factor_choices, np.int64)[rng.integers(0, len(factor_choices), size=num)]


def fixed_factor_groups(
    data: GroundTruthData, fixed: np.ndarray, group_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Groups of ``group_size`` factor vectors (int64 [len(fixed), group_size, K]) sharing one factor each.

    In group ``g`` factor ``fixed[g]`` takes one common value drawn uniformly from its range; every other
    entry is drawn independently. The β-VAE score uses groups of two (a pair), the FactorVAE score groups of L.
    """
    num_groups = len(fixed)
    factors = data.sample_factors(num_groups * group_size, rng).reshape(num_groups, group_size, data.num_factors)
    sizes = np.asarray(data.factor_sizes, np.int64)
    values = rng.integers(0, sizes[fixed])
    factors[np.arange(num_groups), :, fixed] = values[:, None]
    return factors


def points_per_chunk(group_size: int) -> int:
    """How many metric points fit in one render-and-encode call of about CHUNK_IMAGES images."""
    return max(1, CHUNK_IMAGES // group_size)
