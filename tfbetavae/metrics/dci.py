"""Disentanglement, Completeness and Informativeness (Eastwood & Williams 2018).

Idea: train one predictor per factor from the whole code, read off how much each code dimension
contributed (an importance matrix R [d, K]), and ask whether each dimension serves one factor
(disentanglement), whether each factor lives in one dimension (completeness), and how well the factors
are predicted at all (informativeness).

* Importances: per factor, a tree ensemble classifier on the ``num_train`` codes; R[:, k] is its
  impurity-based ``feature_importances_``. ``estimator="random_forest"`` (the library protocol's default; the
  paper's choice, and fast: 50 trees of depth ≤ 8 that consider every dimension at each split, one core) or
  ``"gradient_boosting"`` (10 stages by default here, since 100 take minutes on two cores for the 40-class
  dSprites orientation; with 10 stages the numbers are NOT disentanglement_lib's).
* ``protocol="disentanglement_lib"`` reproduces that library's estimator: scikit-learn's
  ``GradientBoostingClassifier`` with its defaults (100 stages, depth 3), one per factor; only
  ``random_state`` is set (to ``seed``), for repeatable numbers.
* Disentanglement: for dimension j, ``1 − H_K(R[j] / ΣR[j])`` (entropy with log base K), averaged with
  weights ``ΣR[j] / ΣR``.
* Completeness: for factor k, ``1 − H_d(R[:, k] / ΣR[:, k])`` (log base d), averaged with weights
  ``ΣR[:, k] / ΣR``.
* Informativeness: the classifiers' accuracy, mean over factors, on the training and on ``num_test``
  held-out points (higher is better; the paper's error is 1 − this).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import Progress, check_data, make_rng, sample_encoded
from tfbetavae.metrics.representation import as_representation

ESTIMATORS = {"random_forest": 50, "gradient_boosting": 10}  # name → default number of trees / stages


def dci(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_test: int = 5000,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 256,
    estimator: str | None = None,
    n_estimators: int | None = None,
    protocol: str = "library",
) -> dict[str, float]:
    """DCI scores ``{"disentanglement", "completeness", "informativeness_train", "informativeness_test"}``.

    ``batch_size`` is the number of images per encoder call; ``estimator`` (default ``"random_forest"``) and
    ``n_estimators`` choose the importance model, or ``protocol="disentanglement_lib"`` fixes it to that
    library's (see the module docstring).
    """
    data = check_data(data)
    num_train = positive_int(num_train, "num_train")
    num_test = positive_int(num_test, "num_test")
    batch_size = positive_int(batch_size, "batch_size")
    estimator, n_estimators = _protocol_estimator(protocol, estimator, n_estimators)
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    bar = Progress(num_train + num_test, progress, f"DCI: {num_train} training and {num_test} test points")
    factors_train, codes_train = sample_encoded(data, represent_fn, num_train, rng, batch_size, bar)
    factors_test, codes_test = sample_encoded(data, represent_fn, num_test, rng, batch_size, bar)
    return dci_from_codes(codes_train, factors_train, codes_test, factors_test, estimator, n_estimators, seed)


PROTOCOLS = ("library", "disentanglement_lib")


def _protocol_estimator(protocol: str, estimator: str | None, n_estimators: int | None) -> tuple[str, int]:
    """The (estimator, number of trees) a protocol and the caller's choices give; conflicts are errors."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    if protocol == "disentanglement_lib":
        if estimator not in (None, "gradient_boosting") or n_estimators not in (None, 100):
            raise ValueError(
                "protocol='disentanglement_lib' fixes DCI's estimator (gradient boosting, 100 stages); "
                f"drop estimator={estimator!r} / n_estimators={n_estimators!r}"
            )
        return "gradient_boosting", 100
    estimator = "random_forest" if estimator is None else estimator
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; choose one of {sorted(ESTIMATORS)}")
    return estimator, positive_int(ESTIMATORS[estimator] if n_estimators is None else n_estimators, "n_estimators")


def dci_from_codes(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    estimator: str = "random_forest",
    n_estimators: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """DCI of given codes [n, d] and factor classes [n, K] (what ``dci`` computes after encoding its samples)."""
    num_factors = factors_train.shape[1]
    importance = np.zeros((codes_train.shape[1], num_factors))
    train_accuracy, test_accuracy = [], []
    for k in range(num_factors):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        if len(np.unique(y_train)) < 2:  # nothing to learn: constant prediction, no dimension is important
            train_accuracy.append(1.0)
            test_accuracy.append(float(np.mean(y_test == y_train[0])))
            continue
        model = _make_estimator(estimator, n_estimators, seed).fit(codes_train, y_train)
        importance[:, k] = np.abs(model.feature_importances_)
        train_accuracy.append(float(np.mean(model.predict(codes_train) == y_train)))
        test_accuracy.append(float(np.mean(model.predict(codes_test) == y_test)))
    return {
        "disentanglement": disentanglement(importance),
        "completeness": completeness(importance),
        "informativeness_train": float(np.mean(train_accuracy)),
        "informativeness_test": float(np.mean(test_accuracy)),
    }


def disentanglement(importance: np.ndarray) -> float:
    """Importance-weighted mean over code dimensions of 1 − (entropy over factors, log base K)."""
    return _weighted_one_minus_entropy(np.asarray(importance, np.float64))


def completeness(importance: np.ndarray) -> float:
    """Importance-weighted mean over factors of 1 − (entropy over code dimensions, log base d)."""
    return _weighted_one_minus_entropy(np.asarray(importance, np.float64).T)


def _weighted_one_minus_entropy(matrix: np.ndarray) -> float:
    """Rows are the things scored, columns the distribution each row spreads its importance over."""
    total = matrix.sum()
    if total <= 0:
        return 0.0
    row_sums = matrix.sum(axis=1)
    p = np.divide(matrix, row_sums[:, None], out=np.zeros_like(matrix), where=row_sums[:, None] > 0)
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)
    base = np.log(matrix.shape[1]) if matrix.shape[1] > 1 else 1.0
    scores = 1.0 + np.sum(p * logs, axis=1) / base
    return float(np.sum(scores * row_sums / total))


def _make_estimator(name: str, n_estimators: int, seed: int):
    if name == "random_forest":
        # All features at every split: with the usual sqrt(d) subset a tree often has to split on a dimension
        # unrelated to the factor, which spreads importance and halves the disentanglement of a clean code.
        return RandomForestClassifier(
            n_estimators=n_estimators, max_depth=8, max_features=None, n_jobs=1, random_state=seed
        )
    return GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
