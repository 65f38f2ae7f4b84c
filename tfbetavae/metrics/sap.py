"""The Separated Attribute Predictability score (Kumar et al. 2018).

Idea: score how well each single code dimension predicts each factor; a disentangled code has, for every
factor, one dimension far better than all others. SAP is the mean over factors of the gap between the best
and the second-best dimension.

Score of (dimension j, factor k), fitted on ``num_train`` points and scored on ``num_test`` held-out points:

* continuous factor: R² of the least-squares line predicting the factor value from z_j (clipped at 0);
* discrete factor: balanced accuracy of a 1-D threshold classifier: the thresholds are the midpoints between
  the sorted per-class means of z_j on the training points, so each interval predicts the class whose mean
  it contains (nearest class mean). It is exact for a code that orders the classes, and at chance level
  (1 / number of classes) for a code unrelated to the factor.

A factor is continuous when ``continuous_factors`` is True, or when it is named (or indexed) in a sequence
given as ``continuous_factors``. With a single code dimension the second-best score is 0. A factor that does not
vary among the training points is left out of the mean, as MIG leaves it out (it used to count as a zero gap,
lowering the score by 1/K).

``protocol="disentanglement_lib"`` scores as that library does instead: a discrete factor with scikit-learn's
``LinearSVC(C=0.01, class_weight="balanced")`` on the one dimension, scored by plain test accuracy; a
continuous one by the squared correlation on the training points. A linear one-vs-rest classifier on one
feature cannot pick out the middle classes of an ordered factor, so a perfect code scores far lower there
(about 0.25 against 0.88 on dSprites' factor sizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import Progress, check_data, make_rng, resolve_factors, sample_encoded
from tfbetavae.metrics.representation import as_representation


def sap(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_test: int = 5000,
    seed: int = 0,
    continuous_factors: bool | Sequence[int | str] = False,
    progress: bool = True,
    batch_size: int = 256,
    protocol: str = "library",
) -> dict[str, float]:
    """SAP score ``{"sap"}``; ``batch_size`` is the number of images per encoder call; ``protocol`` as above."""
    data = check_data(data)
    num_train = positive_int(num_train, "num_train")
    num_test = positive_int(num_test, "num_test")
    batch_size = positive_int(batch_size, "batch_size")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    if isinstance(continuous_factors, bool):
        continuous = set(range(data.num_factors)) if continuous_factors else set()
    else:
        continuous = set(resolve_factors(data, continuous_factors))
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    bar = Progress(num_train + num_test, progress, f"SAP: {num_train} training and {num_test} test points")
    factors_train, codes_train = sample_encoded(data, represent_fn, num_train, rng, batch_size, bar)
    factors_test, codes_test = sample_encoded(data, represent_fn, num_test, rng, batch_size, bar)
    return {"sap": sap_from_codes(codes_train, factors_train, codes_test, factors_test, continuous, protocol)}


PROTOCOLS = ("library", "disentanglement_lib")


def sap_from_codes(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous: Sequence[int] = (),
    protocol: str = "library",
) -> float:
    """SAP of given codes [n, d] and factor classes [n, K]; ``continuous`` lists the continuous factor columns."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    varying = [k for k in range(factors_train.shape[1]) if len(np.unique(factors_train[:, k])) > 1]
    if not varying:
        raise ValueError(f"no factor varies among the {len(factors_train)} training points; increase num_train")
    library = protocol == "library"
    scores = np.zeros((codes_train.shape[1], len(varying)))
    for column, k in enumerate(varying):
        if k in continuous:
            score = _r_squared if library else _squared_correlation
        else:
            score = _threshold_accuracy if library else _linear_svc_accuracy
        for j in range(codes_train.shape[1]):
            scores[j, column] = score(codes_train[:, j], factors_train[:, k], codes_test[:, j], factors_test[:, k])
    ranked = np.sort(scores, axis=0)[::-1]
    second = ranked[1] if len(ranked) > 1 else np.zeros_like(ranked[0])
    return float(np.mean(ranked[0] - second))


def _squared_correlation(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> float:
    """disentanglement_lib's continuous score: cov(z, y)² / (var z · var y) on the training points (ddof 1)."""
    del z_test, y_test
    cov = np.cov(z_train.astype(np.float64), y_train.astype(np.float64), ddof=1)
    if cov[0, 0] <= 1e-12:
        return 0.0
    return float(cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]))


def _linear_svc_accuracy(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> float:
    """disentanglement_lib's discrete score: LinearSVC(C=0.01, balanced class weights) on one dimension, accuracy."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():  # that library runs with the default iteration limit; so do we, quietly
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LinearSVC(C=0.01, class_weight="balanced").fit(z_train[:, None].astype(np.float64), y_train)
    return float(np.mean(model.predict(z_test[:, None].astype(np.float64)) == y_test))


def _r_squared(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> float:
    z_train, z_test = z_train.astype(np.float64), z_test.astype(np.float64)
    spread = np.var(z_train)
    slope = np.cov(z_train, y_train, bias=True)[0, 1] / spread if spread > 0 else 0.0
    intercept = np.mean(y_train) - slope * np.mean(z_train)
    residual = np.sum((y_test - (slope * z_test + intercept)) ** 2)
    total = np.sum((y_test - np.mean(y_test)) ** 2)
    if total <= 0:
        return 0.0
    return float(max(0.0, 1.0 - residual / total))


def _threshold_accuracy(z_train: np.ndarray, y_train: np.ndarray, z_test: np.ndarray, y_test: np.ndarray) -> float:
    classes = np.unique(y_train)
    means = np.array([np.mean(z_train[y_train == c]) for c in classes], np.float64)
    order = np.argsort(means, kind="stable")
    sorted_means = means[order]
    thresholds = (sorted_means[1:] + sorted_means[:-1]) / 2.0
    predicted = classes[order][np.searchsorted(thresholds, z_test.astype(np.float64), side="right")]
    recalls = [np.mean(predicted[y_test == c] == c) for c in np.unique(y_test)]
    return float(np.mean(recalls))
