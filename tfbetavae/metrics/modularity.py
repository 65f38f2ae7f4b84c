"""Modularity and explicitness (Ridgeway & Mozer 2018), as disentanglement_lib computes them.

* **Modularity**: is each code dimension about one factor only? From the mutual information I[j, k] between
  dimension j (cut into ``num_bins`` histogram bins over its range) and factor k, on the ``num_train`` points:
  δ_j = (Σ_k I[j, k]² − max_k I[j, k]²) / (max_k I[j, k]² · (K − 1)), and modularity is the mean over dimensions of
  1 − δ_j. A dimension carrying no information at all scores 0. It says nothing about whether a factor is captured:
  a code can be modular and uninformative (noise scores about 0.6 on the test data set of four factors, because the
  plug-in information is biased upward by a different amount for each factor size).
* **Explicitness**: can each factor be read off the code linearly? Per factor, a logistic regression (scikit-learn's
  defaults, multinomial) on the standardised codes of the ``num_train`` points predicts its class; the score is
  the ROC AUC of its class probabilities, one class against the rest, averaged over classes, then over factors: on
  the training points (``explicitness_train``) and on ``num_test`` held-out points (``explicitness_test``). Chance is
  0.5; a rotation of a perfect code is as explicit as the code itself.

Both protocols compute the same numbers: disentanglement_lib's choices (20 equal-width bins, plain logistic
regression, macro AUC) are already cheap and stable, so the library has no reason to differ. Where that library
would fail, the library decides instead: a factor that does not vary among the training points is left out (as MIG
leaves it out); with a single varying factor every informative dimension is perfectly modular; a constant code
dimension is standardised to 0 rather than divided by a zero deviation; a class missing from the test points is left
out of that factor's test AUC. Its ``LogisticRegression()`` takes scikit-learn's defaults of the day: the lbfgs
multinomial model today; the library's 2019 numbers were made with that version's default, liblinear one-vs-rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import Progress, check_data, make_rng, sample_encoded
from tfbetavae.metrics._sklearn import quiet_single_thread
from tfbetavae.metrics.mig import mutual_information
from tfbetavae.metrics.representation import as_representation

__all__ = ["explicitness", "histogram_bins", "modularity", "modularity_from_codes", "modularity_score"]


def modularity(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_test: int = 5000,
    num_bins: int = 20,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 256,
) -> dict[str, float]:
    """Modularity and explicitness ``{"modularity", "explicitness_train", "explicitness_test"}``.

    ``batch_size`` is the number of images per encoder call.
    """
    data = check_data(data)
    num_train = positive_int(num_train, "num_train")
    num_test = positive_int(num_test, "num_test")
    num_bins = positive_int(num_bins, "num_bins")
    batch_size = positive_int(batch_size, "batch_size")
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    bar = Progress(num_train + num_test, progress, f"Modularity: {num_train} training and {num_test} test points")
    factors_train, codes_train = sample_encoded(data, represent_fn, num_train, rng, batch_size, bar)
    factors_test, codes_test = sample_encoded(data, represent_fn, num_test, rng, batch_size, bar)
    return modularity_from_codes(codes_train, factors_train, codes_test, factors_test, num_bins)


def modularity_from_codes(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    num_bins: int = 20,
) -> dict[str, float]:
    """Modularity and explicitness of given codes [n, d] and factor classes [n, K] (what ``modularity`` computes)."""
    num_bins = positive_int(num_bins, "num_bins")
    codes_train, codes_test = np.asarray(codes_train, np.float64), np.asarray(codes_test, np.float64)
    factors_train, factors_test = np.asarray(factors_train), np.asarray(factors_test)
    varying = [k for k in range(factors_train.shape[1]) if len(np.unique(factors_train[:, k])) > 1]
    if not varying:
        raise ValueError(f"no factor varies among the {len(factors_train)} training points; increase num_train")
    binned = histogram_bins(codes_train, num_bins)
    labels = [np.unique(factors_train[:, k], return_inverse=True)[1] for k in varying]
    information = np.array([[mutual_information(binned[:, j], y) for y in labels] for j in range(binned.shape[1])])
    train, test = explicitness(codes_train, factors_train[:, varying], codes_test, factors_test[:, varying])
    return {"modularity": modularity_score(information), "explicitness_train": train, "explicitness_test": test}


def histogram_bins(values: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin index (int64, 0..num_bins-1) of every entry: ``num_bins`` equal-width bins per column over its range.

    The edges are NumPy's histogram edges, so a value on an edge falls where disentanglement_lib's
    ``np.digitize`` puts it (MIG's floor division can differ there by one bin).
    """
    values = np.asarray(values, np.float64)
    binned = np.empty(values.shape, np.int64)
    for j in range(values.shape[1]):
        edges = np.histogram_bin_edges(values[:, j], num_bins)
        binned[:, j] = np.searchsorted(edges[1:-1], values[:, j], side="right")
    return binned


def modularity_score(information: np.ndarray) -> float:
    """Mean over code dimensions (rows) of 1 − δ_j, from the mutual information matrix [d, K] (module docstring)."""
    squared = np.square(np.asarray(information, np.float64))
    top = squared.max(axis=1)
    others = squared.sum(axis=1) - top
    num_factors = squared.shape[1]
    scores = np.zeros(len(squared))
    informative = top > 0
    if num_factors == 1:
        scores[informative] = 1.0  # only one factor to be about
    else:
        scores[informative] = 1.0 - others[informative] / (top[informative] * (num_factors - 1))
    return float(np.mean(scores))


def explicitness(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray
) -> tuple[float, float]:
    """Mean over factors of the one-vs-rest macro ROC AUC of a logistic regression: (train, test)."""
    from sklearn.linear_model import LogisticRegression

    mean = codes_train.mean(axis=0)
    spread = codes_train.std(axis=0)
    scale = np.where(spread > 0, spread, 1.0)
    x_train, x_test = (codes_train - mean) / scale, (codes_test - mean) / scale
    train, test = [], []
    for k in range(factors_train.shape[1]):
        with quiet_single_thread():
            model = LogisticRegression().fit(x_train, factors_train[:, k])
        train.append(_macro_auc(model, x_train, factors_train[:, k]))
        score = _macro_auc(model, x_test, factors_test[:, k])
        if score is not None:
            test.append(score)
    if not test:
        raise ValueError("no factor has two classes among the test points; increase num_test")
    return float(np.mean(train)), float(np.mean(test))


def _macro_auc(model: Any, x: np.ndarray, y: np.ndarray) -> float | None:
    """Mean over classes of the ROC AUC of a class's probability, that class against the rest (classes y lacks: left out)."""
    from sklearn.metrics import roc_auc_score

    probabilities = model.predict_proba(x)
    scores = []
    for column, label in enumerate(model.classes_):
        positive = y == label
        if positive.all() or not positive.any():
            continue  # AUC needs both kinds of point
        scores.append(roc_auc_score(positive, probabilities[:, column]))
    return float(np.mean(scores)) if scores else None
