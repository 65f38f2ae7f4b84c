"""The FactorVAE disentanglement score (Kim & Mnih 2018).

Idea: fix one factor and vary all others; in a disentangled code the dimension that captures the fixed
factor has (relative to its usual spread) the smallest variance. Unlike the β-VAE score this needs no
trained linear classifier, and it cannot be fooled by a code where all but one factor is captured.

Procedure, with ``L = batch_size``:

1. Scale: encode ``num_variance_estimate`` random observations; the per-dimension variance (ddof 1) of
   those codes is each dimension's global scale.
2. Prune collapsed dimensions: a dimension is active when its global standard deviation is at least
   ``prune_threshold`` (0.05, in code units, as in disentanglement_lib). VAE dimensions collapsed to the
   prior have posterior means ≈ 0 for every input, so their variance is ≈ 0; dividing by it would make
   them the argmin for every point.
3. One metric point: choose factor k uniformly; draw L factor vectors sharing one random value of factor k,
   the rest independent; encode; divide the variance of each active dimension over the L codes by its
   global variance; the vote is ``(argmin dimension, k)``.
4. A majority-vote classifier maps each active dimension to the factor it voted for most often on the
   training points (ties: the lower factor index); accuracy on the training and evaluation votes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import (
    CHUNK_IMAGES,
    Progress,
    check_data,
    choose_factors,
    encode_factors,
    fixed_factor_groups,
    make_rng,
    points_per_chunk,
    resolve_factors,
    sample_encoded,
)
from tfbetavae.metrics.representation import RepresentFn, as_representation


def factor_vae_score(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_eval: int = 5000,
    batch_size: int = 64,
    num_variance_estimate: int = 10000,
    seed: int = 0,
    progress: bool = True,
    prune_threshold: float = 0.05,
    factors: Sequence[int | str] | None = None,
) -> dict[str, float]:
    """FactorVAE score: accuracy of the majority vote "argmin normalised-variance dimension → fixed factor".

    ``batch_size`` is L, the observations per point. Returns ``{"train_accuracy", "eval_accuracy",
    "num_active_dims"}``; with no active dimension the accuracies are 0 (and a warning is issued).
    """
    data = check_data(data)
    num_train = positive_int(num_train, "num_train")
    num_eval = positive_int(num_eval, "num_eval")
    batch_size = positive_int(batch_size, "batch_size")
    num_variance_estimate = positive_int(num_variance_estimate, "num_variance_estimate")
    if num_variance_estimate < 2 or batch_size < 2:
        raise ValueError("num_variance_estimate and batch_size must be at least 2 to estimate a variance")
    if not prune_threshold >= 0:
        raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold!r}")
    choices = resolve_factors(data, factors)
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    total = num_variance_estimate + num_train + num_eval
    bar = Progress(
        total,
        progress,
        f"FactorVAE score: {num_variance_estimate} points for the scale, "
        f"{num_train + num_eval} points of {batch_size} observations",
    )
    _, global_codes = sample_encoded(data, represent_fn, num_variance_estimate, rng, CHUNK_IMAGES, bar)
    global_variances = np.var(global_codes.astype(np.float64), axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_threshold
    if not active.any():
        warnings.warn("FactorVAE score: no active code dimension (all collapsed); returning accuracy 0", stacklevel=2)
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    dims, labels = _votes(
        data, represent_fn, batch_size, rng, num_train + num_eval, choices, global_variances, active, bar
    )
    num_active = int(active.sum())
    train_votes = _vote_matrix(dims[:num_train], labels[:num_train], num_active, data.num_factors)
    eval_votes = _vote_matrix(dims[num_train:], labels[num_train:], num_active, data.num_factors)
    classifier = np.argmax(train_votes, axis=1)
    rows = np.arange(num_active)
    return {
        "train_accuracy": float(train_votes[rows, classifier].sum() / num_train),
        "eval_accuracy": float(eval_votes[rows, classifier].sum() / num_eval),
        "num_active_dims": num_active,
    }


def _votes(
    data: GroundTruthData,
    represent_fn: RepresentFn,
    batch_size: int,
    rng: np.random.Generator,
    num_points: int,
    choices: list[int],
    global_variances: np.ndarray,
    active: np.ndarray,
    bar: Progress,
) -> tuple[np.ndarray, np.ndarray]:
    """(argmin active dimension, fixed factor) for ``num_points`` points, rendered a chunk at a time."""
    per_chunk = points_per_chunk(batch_size)
    dims, labels = [], []
    for start in range(0, num_points, per_chunk):
        count = min(per_chunk, num_points - start)
        fixed = choose_factors(choices, count, rng)
        groups = fixed_factor_groups(data, fixed, batch_size, rng)
        codes = encode_factors(data, represent_fn, groups.reshape(-1, data.num_factors), rng, len(fixed) * batch_size)
        codes = codes.reshape(count, batch_size, -1)[:, :, active].astype(np.float64)
        normalised = np.var(codes, axis=1, ddof=1) / global_variances[active]
        dims.append(np.argmin(normalised, axis=1))
        labels.append(fixed)
        bar.add(count)
    return np.concatenate(dims), np.concatenate(labels)


def _vote_matrix(dims: np.ndarray, labels: np.ndarray, num_dims: int, num_factors: int) -> np.ndarray:
    votes = np.zeros((num_dims, num_factors), np.int64)
    np.add.at(votes, (dims, labels), 1)
    return votes
