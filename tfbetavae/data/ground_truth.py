"""The interface every data set with known generative factors speaks.

Metrics and training pipelines only ever talk to this interface, so the procedural renderer, the real
dSprites file and a user's own data set are interchangeable. All randomness comes from an explicit
``numpy.random.Generator`` so results are reproducible for a seed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from tfbetavae.checks import non_negative_int


class GroundTruthData(abc.ABC):
    """A data set whose observations are a deterministic-or-noisy function of discrete factors."""

    @property
    @abc.abstractmethod
    def factor_names(self) -> tuple[str, ...]:
        """Names of the factors, in column order of a factor matrix."""

    @property
    @abc.abstractmethod
    def factor_sizes(self) -> tuple[int, ...]:
        """Number of distinct values of each factor."""

    @property
    @abc.abstractmethod
    def observation_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one observation."""

    @abc.abstractmethod
    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observations for an already validated int matrix of factor classes."""

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        """Number of distinct factor combinations."""
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    def factor_index(self, factor: int | str) -> int:
        """Column of a factor given by name or index; a clear error for an unknown one."""
        if isinstance(factor, str):
            if factor not in self.factor_names:
                raise ValueError(f"unknown factor {factor!r}; known factors: {list(self.factor_names)}")
            return self.factor_names.index(factor)
        if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)):
            raise ValueError(f"unknown factor {factor!r}: give a factor name {list(self.factor_names)} or an integer index")
        index = int(factor)
        if not 0 <= index < self.num_factors:
            raise ValueError(f"unknown factor index {factor}; this data set has factors 0..{self.num_factors - 1}")
        return index

    def sample_factors(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """``num`` factor vectors drawn uniformly and independently, int64 [num, num_factors]."""
        num = non_negative_int(num, "number of samples")
        columns = [rng.integers(0, size, size=num) for size in self.factor_sizes]
        return np.stack(columns, axis=1).astype(np.int64) if columns else np.zeros((num, 0), np.int64)

    def sample_observations_from_factors(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observations (float32 in [0, 1], [n, H, W, C]) for a matrix of factor classes."""
        return self._render(self.validate_factors(factors), rng)

    def sample(self, num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``num`` random (factors, observations) pairs."""
        factors = self.sample_factors(num, rng)
        return factors, self._render(factors, rng)

    def validate_factors(self, factors: np.ndarray | Sequence) -> np.ndarray:
        """Checks shape, dtype and range of a factor matrix; returns it as int64."""
        array = np.asarray(factors)
        if array.ndim != 2 or array.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape [n, {self.num_factors}] (one column per factor "
                f"{list(self.factor_names)}), got shape {array.shape}"
            )
        if array.size and not np.issubdtype(array.dtype, np.integer):
            if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
                raise ValueError(f"factors must be integer class indices, got dtype {array.dtype} with non-integer values")
        array = array.astype(np.int64)
        sizes = np.asarray(self.factor_sizes)
        bad = (array < 0) | (array >= sizes)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise ValueError(
                f"factor {self.factor_names[col]!r} value {array[row, col]} is out of range [0, {sizes[col] - 1}] (row {row})"
            )
        return array


def check_images(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Validates a batch of images (rank 4, real-valued, finite, in [0, 1]) and returns it as float32."""
    array = np.asarray(images)
    if array.ndim != 4:
        raise ValueError(f"{name} must be 4-D [batch, height, width, channels], got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer) or array.dtype == bool):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contain NaN or infinite values")
    with np.errstate(over="ignore"):  # a value too large for float32 becomes inf, refused below by its real value
        values = array.astype(np.float32)
    if values.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ValueError(f"{name} must lie in [0, 1], got values in [{array.min():g}, {array.max():g}]")
    return values


def check_batch(values, shape: tuple[int, ...] | None = None, name: str = "images") -> np.ndarray:
    """The one check of a batch a model is given: images [n, H, W, C] in [0, 1] (uint8 scaled), or vectors [n, D].

    ``shape`` is one element's shape (the model's ``image_shape``; length 1 for vectors, any finite values); None
    accepts any images. Errors name the argument and say what was expected: one image where a batch was needed,
    another shape, an empty batch, a non-numeric dtype, NaN, or values outside [0, 1]. Returns float32.
    (``tfbetavae.loading`` keeps its own copy with the same words: it opens a SavedModel as a lone file.)
    """
    array = np.asarray(values)
    shape = None if shape is None else tuple(int(d) for d in shape)
    if shape is not None and tuple(array.shape) == shape:
        one = "vector" if len(shape) == 1 else "image"
        raise ValueError(f"{name} must be a batch [n, {', '.join(map(str, shape))}]; for one {one} pass {name}[None]")
    if shape is not None and len(shape) == 1:  # vectors: numeric and finite, any value
        if array.ndim != 2:
            raise ValueError(f"{name} must be 2-D [batch, features], got shape {array.shape}")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
        array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} contain NaN or infinite values")
    else:
        array = check_images(array, name)
    if shape is not None and tuple(array.shape[1:]) != shape:
        raise ValueError(f"{name} must have shape [batch, {', '.join(map(str, shape))}] for this model, got {array.shape}")
    if not len(array):  # the convolutions fail on a batch of 0 with an unreadable TensorFlow error
        raise ValueError(f"{name} is an empty batch: give at least one")
    return array

