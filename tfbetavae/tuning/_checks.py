"""Search-space checks shared by the hypermodel, the search and other runners. The single-value checks are
``tfbetavae.checks`` (re-exported here for the modules that import them from this one)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfbetavae.checks import non_negative_int, positive_float, positive_int

__all__ = ["choices", "non_negative_int", "positive_float", "positive_int"]


def choices(values: Any, name: str, convert: Callable[[Any, str], Any]) -> list:
    """A non-empty list of distinct, checked values (a scalar is a one-value list)."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a number or a list of numbers, got {values!r}")
    items = list(values) if isinstance(values, Sequence) or isinstance(values, np.ndarray) else [values]
    if not items:
        raise ValueError(f"{name} is empty: the search space needs at least one value")
    checked = [convert(item, f"{name} entry") for item in items]
    return list(dict.fromkeys(checked))  # drop repeats, keep order
