"""Timing helpers and the one summary of repeated measurements."""

from __future__ import annotations

import os
import statistics
import time

TIME_UNITS = ("ms", "seconds")


def load() -> float:
    """The one-minute load average: recorded beside every measurement, since the machine may be shared."""
    return round(os.getloadavg()[0], 2)


def median(values) -> float:
    return float(statistics.median(values))


def summary(values, unit: str = "images_per_s") -> dict:
    """Median (the reported number), best and every repetition; the best of a rate is its largest value, the best
    of a time (``ms``, ``seconds``) its smallest, the one least disturbed by other work."""
    values = [float(v) for v in values]
    best = min(values) if unit in TIME_UNITS else max(values)
    return {unit: median(values), "best": best, "repetitions": [round(v, 3 if unit in TIME_UNITS else 2) for v in values]}


def paired(numerators, denominators) -> float:
    """Median of per-round ratios: each round's two numbers saw the same load."""
    return median([a / b for a, b in zip(numerators, denominators)])


def timed(function, count: int = 1) -> float:
    """Seconds for ``count`` calls of ``function``."""
    start = time.perf_counter()
    for _ in range(count):
        function()
    return time.perf_counter() - start


def latencies_ms(function, calls: int) -> list[float]:
    """Milliseconds of each of ``calls`` calls of ``function``."""
    values = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        values.append((time.perf_counter() - start) * 1e3)
    return values
