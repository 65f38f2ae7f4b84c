"""How many points a tuning trial scores on: the tuner's own metric sizes, and what a trial's scoring costs.

The metrics' defaults are the papers' sizes (10,000 training and 5,000 evaluation points for the β-VAE score),
which made scoring nearly all of a short trial. A default trial (1,000 steps) is a tenth of a study's run and is
scored once, so the tuner's sizes are smaller than the studies' (``tfbetavae.studies.STUDY_SIZES``): each keeps one
score under 20 % of a default trial (``scripts/bench.py --sections tune`` measures it; docs/tuning.md has the
numbers). ``paper_sizes=True`` (``tfbetavae tune --paper-sizes``) scores at the metrics' defaults instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfbetavae.metrics import catalogue

__all__ = ["TUNING_SIZES", "describe_sizes", "scored_images", "sizes_in_effect"]

# Registry metric -> the sizes a trial scores on unless told otherwise: the catalogue's ``tune`` preset (its
# comments say why they are small; the sampling error of an accuracy on 150 points is about ±0.035).
TUNING_SIZES: dict[str, dict[str, int]] = {name: catalogue.sizes(name, "tune") for name in catalogue.METRIC_INFO}


def sizes_in_effect(metric: str, metric_kwargs: Mapping[str, Any]) -> dict[str, int]:
    """The size keywords the metric will run with: its defaults (the paper's), overridden by ``metric_kwargs``."""
    return catalogue.sizes(metric, "paper", metric_kwargs)


def scored_images(metric: str, sizes: Mapping[str, int], batch_size: int = 64) -> int:
    """Images a score renders and encodes: a β-VAE-score point is ``batch_size`` pairs, a FactorVAE point
    ``batch_size`` images; the other metrics encode one image per point."""
    points = sum(value for key, value in sizes.items() if key != "num_variance_estimate")
    if metric == "beta_vae":
        return points * 2 * batch_size
    if metric == "factor_vae":
        return points * batch_size + int(sizes.get("num_variance_estimate", 0))
    return points


def describe_sizes(metric: str, sizes: Mapping[str, int], paper: bool) -> str:
    """``"beta_vae on 500 + 500 points (the tuner's sizes)"``: what the output says about a trial's scoring."""
    parts = [str(sizes[key]) for key in ("num_train", "num_eval", "num_test") if key in sizes]
    extra = f", variances on {sizes['num_variance_estimate']}" if "num_variance_estimate" in sizes else ""
    which = "the paper's sizes" if paper else "the tuner's sizes"
    if not paper and sizes != TUNING_SIZES.get(metric):
        which = "sizes given"
    return f"{metric} on {' + '.join(parts)} points{extra} ({which})"
