"""The Mutual Information Gap (Chen et al. 2018).

Idea: a factor is well disentangled when exactly one code dimension carries (nearly) all the information
about it. For each factor, the gap between the largest and second-largest mutual information with any
code dimension, divided by the factor's entropy, is in [0, 1]; MIG is the mean over factors. Unlike the
classifier-based scores it penalises a factor spread over several dimensions.

Estimation (as in disentanglement_lib): ``num_train`` random observations are encoded; each code dimension
is cut into ``num_bins`` equal-width bins between its sample minimum and maximum; mutual information and
factor entropies are plug-in estimates from the counts, in nats. Factors that do not vary in the sample
(entropy 0) are left out of the mean. With a single code dimension the second-largest information is 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import Progress, check_data, make_rng, sample_encoded
from tfbetavae.metrics.representation import as_representation


def mig(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    batch_size: int = 256,
    num_bins: int = 20,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Mutual Information Gap ``{"mig"}``; ``batch_size`` is the number of images per encoder call."""
    data = check_data(data)
    num_train = positive_int(num_train, "num_train")
    batch_size = positive_int(batch_size, "batch_size")
    num_bins = positive_int(num_bins, "num_bins")
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    bar = Progress(num_train, progress, f"MIG: {num_train} points")
    factors, codes = sample_encoded(data, represent_fn, num_train, rng, batch_size, bar)
    binned = discretise(codes, num_bins)
    info = np.array(
        [
            [mutual_information(binned[:, j], factors[:, k]) for k in range(data.num_factors)]
            for j in range(codes.shape[1])
        ]
    )
    entropies = np.array([entropy(factors[:, k]) for k in range(data.num_factors)])
    varying = entropies > 0
    if not varying.any():
        raise ValueError(f"no factor varies among the {num_train} sampled points; increase num_train")
    ranked = np.sort(info, axis=0)[::-1]
    second = ranked[1] if len(ranked) > 1 else np.zeros_like(ranked[0])
    gaps = (ranked[0] - second)[varying] / entropies[varying]
    return {"mig": float(np.mean(gaps))}


def discretise(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin index (int64, 0..num_bins-1) of every entry, with equal-width bins per column over its range."""
    low = codes.min(axis=0)
    width = codes.max(axis=0) - low
    scaled = np.divide(codes - low, width, out=np.zeros(codes.shape, np.float64), where=width > 0)
    return np.clip(np.floor(scaled * num_bins), 0, num_bins - 1).astype(np.int64)


def entropy(labels: np.ndarray) -> float:
    """Plug-in entropy (nats) of a vector of non-negative ints."""
    counts = np.bincount(labels)
    p = counts[counts > 0] / len(labels)
    return float(-np.sum(p * np.log(p)))


def mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """Plug-in mutual information (nats) between two vectors of non-negative ints."""
    width = int(b.max()) + 1
    joint = np.bincount(a * width + b, minlength=(int(a.max()) + 1) * width).reshape(-1, width) / len(a)
    pa = joint.sum(axis=1, keepdims=True)
    pb = joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float(max(0.0, np.sum(joint[nonzero] * np.log(joint[nonzero] / (pa @ pb)[nonzero]))))
