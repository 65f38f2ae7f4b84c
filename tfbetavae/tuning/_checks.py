"""Argument checks shared by the hypermodel, the search and other runners: each fails with a one-line error
naming the argument."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def positive_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def choices(values: Any, name: str, convert: Callable[[Any, str], Any]) -> list:
    """A non-empty list of distinct, checked values (a scalar is a one-value list)."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a number or a list of numbers, got {values!r}")
    items = list(values) if isinstance(values, Sequence) or isinstance(values, np.ndarray) else [values]
    if not items:
        raise ValueError(f"{name} is empty: the search space needs at least one value")
    checked = [convert(item, f"{name} entry") for item in items]
    return list(dict.fromkeys(checked))  # drop repeats, keep order
