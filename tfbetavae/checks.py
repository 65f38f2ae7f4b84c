"""Argument checks with one policy, for every layer of the package (this module imports nothing from it).

Before this module the package had about six copies of "positive integer" and "non-negative number" that
disagreed: one accepted ``True`` and ``4.0``, another refused numpy integers. The policy now:

* integers: Python ``int`` and numpy integer scalars; ``bool`` (``True`` is not a count), floats (even ``4.0``) and
  strings (``"4"``) are refused;
* numbers: Python ``int``/``float`` and numpy integer/floating scalars, finite; ``bool`` and strings are refused;
* the wrong kind of value raises ``ArgumentTypeError`` (a ``TypeError`` that is also a ``ValueError``, so code that
  caught the ``ValueError`` of the older checks still does — numpy's ``AxisError`` does the same); a value of the
  right kind out of range raises ``ValueError``. Both name the argument and show the value.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "int_at_least",
    "non_negative_float",
    "non_negative_int",
    "number_at_least",
    "positive_float",
    "positive_int",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind (a bool, a string, a float where a count is due)."""


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if isinstance(value, (bool, str, bytes, float)) else repr(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def int_at_least(value: Any, name: str, low: int, what: str | None = None) -> int:
    """``value`` as an int >= ``low``; ``what`` words the requirement (default "an integer >= low")."""
    what = what or f"an integer >= {low}"
    if not _is_integer(value):
        raise ArgumentTypeError(f"{name} must be {what}, got {_shown(value)}")
    if value < low:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int >= 1 (a count, a size, a number of steps)."""
    return int_at_least(value, name, 1, "a positive integer")


def non_negative_int(value: Any, name: str) -> int:
    """``value`` as an int >= 0 (an index, a seed, a count that may be zero)."""
    return int_at_least(value, name, 0, "a non-negative integer")


def number_at_least(value: Any, name: str, low: float, strict: bool = False, what: str | None = None) -> float:
    """``value`` as a finite float >= ``low`` (> ``low`` when ``strict``)."""
    what = what or f"a finite number {'>' if strict else '>='} {low:g}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise ArgumentTypeError(f"{name} must be {what}, got {_shown(value)}")
    number = float(value)
    if not math.isfinite(number) or number < low or (strict and number == low):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return number


def non_negative_float(value: Any, name: str) -> float:
    """``value`` as a finite float >= 0 (a weight such as β or γ, a capacity in nats)."""
    return number_at_least(value, name, 0.0)


def positive_float(value: Any, name: str) -> float:
    """``value`` as a finite float > 0 (a learning rate, a scale)."""
    return number_at_least(value, name, 0.0, strict=True)
