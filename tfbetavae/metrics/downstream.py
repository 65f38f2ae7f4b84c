"""The downstream task (Locatello et al. 2019): how well a classifier predicts each factor from the code.

Per factor, a classifier is trained on the codes of n training points and scored by its accuracy on ``num_test``
held-out points, for n on a learning curve: 10, 100, 1,000 and 10,000 (the sizes below ``num_train``, then
``num_train`` itself). A code that makes the factors easy to read should need few labels. Two metrics, one per
classifier, as disentanglement_lib's two configurations:

* ``downstream_logreg``: scikit-learn's ``LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5), scoring="accuracy")``
  (the regularisation chosen by 5-fold cross-validation among 10 values; ``scoring`` is written out because it is
  that library's default and scikit-learn 1.11 changes it);
* ``downstream_gbt``: ``GradientBoostingClassifier()`` (100 stages of depth 3), with ``random_state=seed``
  (disentanglement_lib leaves it unset; its trees break ties between features at random).

Keys (flat, for Keras logs), for ``downstream_logreg`` and the same for ``downstream_gbt``:

* ``downstream_logreg_test_accuracy``: mean over factors of the test accuracy with ``num_train`` training codes —
  the main key, present whatever the sizes (a study or a tuner scoring on 1,000 training codes has it too);
* ``downstream_logreg_train_accuracy``: the same classifiers' accuracy on their own training codes;
* ``downstream_logreg_{n}_test_accuracy`` for each n of the curve (``..._10000_...`` repeats the main key at the
  paper's sizes).

Sampling: ``num_train`` training and ``num_test`` test points are drawn once; the n-point training set is the first n
of them and every n is scored on the same test points (disentanglement_lib draws a fresh training and test set per n).
Each number has the same expectation either way; sharing makes the steps of the curve less noisy and encodes 5,000
test images instead of 20,000.

Both protocols use these estimators: they are the task's definition, and the cost is set by the sizes (a study
scores on fewer points) rather than by a different classifier. Where disentanglement_lib would fail, the library
decides: a factor with a single class among the n training points is predicted as that class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfbetavae.checks import int_at_least, non_negative_int, positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import Progress, check_data, make_rng, sample_encoded
from tfbetavae.metrics._sklearn import quiet_single_thread
from tfbetavae.metrics.representation import as_representation

__all__ = ["PREDICTORS", "TRAIN_SIZES", "downstream_from_codes", "downstream_gbt", "downstream_logreg", "train_sizes"]

TRAIN_SIZES = (10, 100, 1000, 10000)  # disentanglement_lib's learning curve
PREDICTORS = ("logistic_regression", "gradient_boosting")
SMALLEST = TRAIN_SIZES[0]  # five cross-validation folds need a few points each


def downstream_logreg(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_test: int = 5000,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 256,
) -> dict[str, float]:
    """Downstream task with cross-validated logistic regression (keys in the module docstring)."""
    return _downstream(represent, data, "logistic_regression", num_train, num_test, seed, progress, batch_size)


def downstream_gbt(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_test: int = 5000,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 256,
) -> dict[str, float]:
    """Downstream task with gradient-boosted trees (keys in the module docstring)."""
    return _downstream(represent, data, "gradient_boosting", num_train, num_test, seed, progress, batch_size)


def train_sizes(num_train: int) -> tuple[int, ...]:
    """The learning curve up to ``num_train``: the sizes of ``TRAIN_SIZES`` below it, then ``num_train``."""
    num_train = int_at_least(num_train, "num_train", SMALLEST, f"an integer >= {SMALLEST}")
    return tuple(size for size in TRAIN_SIZES if size < num_train) + (num_train,)


def downstream_from_codes(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    predictor: str = "logistic_regression",
    sizes: tuple[int, ...] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Downstream accuracies of given codes [n, d] and factor classes [n, K] on the curve ``sizes``.

    ``sizes`` defaults to ``train_sizes(len(codes_train))``; each n trains on the first n training codes.
    """
    if predictor not in PREDICTORS:
        raise ValueError(f"unknown predictor {predictor!r}; choose one of {list(PREDICTORS)}")
    seed = non_negative_int(seed, "seed")
    codes_train, codes_test = np.asarray(codes_train, np.float64), np.asarray(codes_test, np.float64)
    sizes = train_sizes(len(codes_train)) if sizes is None else tuple(sizes)
    if not sizes or any(not SMALLEST <= int_at_least(n, "size", 1) <= len(codes_train) for n in sizes):
        raise ValueError(f"training sizes must lie in [{SMALLEST}, {len(codes_train)}] (the training codes), got {sizes}")
    scores: dict[str, float] = {}
    for n in sizes:
        train, test = _accuracies(codes_train[:n], factors_train[:n], codes_test, factors_test, predictor, seed)
        scores[f"{n}_test_accuracy"] = test
    scores["test_accuracy"] = test
    scores["train_accuracy"] = train
    return scores


def _downstream(
    represent: Any, data: Any, predictor: str, num_train: Any, num_test: Any, seed: Any, progress: bool, batch_size: Any
) -> dict[str, float]:
    data = check_data(data)
    sizes = train_sizes(num_train)
    num_train = sizes[-1]
    num_test = positive_int(num_test, "num_test")
    batch_size = positive_int(batch_size, "batch_size")
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    title = f"Downstream task ({predictor.replace('_', ' ')}): {num_train} training and {num_test} test points"
    bar = Progress(num_train + num_test, progress, title)
    factors_train, codes_train = sample_encoded(data, represent_fn, num_train, rng, batch_size, bar)
    factors_test, codes_test = sample_encoded(data, represent_fn, num_test, rng, batch_size, bar)
    return downstream_from_codes(codes_train, factors_train, codes_test, factors_test, predictor, sizes, seed)


def _accuracies(
    x_train: np.ndarray, factors_train: np.ndarray, x_test: np.ndarray, factors_test: np.ndarray, predictor: str, seed: int
) -> tuple[float, float]:
    """Mean over factors of (train accuracy, test accuracy) of one classifier per factor."""
    train, test = [], []
    for k in range(factors_train.shape[1]):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        if len(np.unique(y_train)) < 2:  # nothing to learn: predict the one class seen
            train.append(1.0)
            test.append(float(np.mean(y_test == y_train[0])))
            continue
        with quiet_single_thread():
            model = _make_predictor(predictor, seed).fit(x_train, y_train)
            train.append(float(np.mean(model.predict(x_train) == y_train)))
            test.append(float(np.mean(model.predict(x_test) == y_test)))
    return float(np.mean(train)), float(np.mean(test))


def _make_predictor(name: str, seed: int) -> Any:
    if name == "logistic_regression":
        from sklearn.linear_model import LogisticRegressionCV
        from sklearn.model_selection import KFold

        return LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5), scoring="accuracy")
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(random_state=seed)
