"""Modularity and explicitness, IRS, the downstream task, and the sampled representation.

Two kinds of check: equality with disentanglement_lib on fixed codes and factors (its functions re-typed outside the
repository and run on the same arrays; the values are written below with where they came from), and known answers on
a toy data set whose observations are its factors: the factors themselves (perfectly disentangled), an orthogonal
mixing that puts every factor into every dimension equally (as informative, entangled), and seeded noise.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tensorflow as tf

import tfbetavae.metrics  # noqa: F401  (loads the submodules looked up in sys.modules below)
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics import (
    METRICS,
    DisentanglementCallback,
    as_representation,
    catalogue,
    downstream_from_codes,
    downstream_gbt,
    downstream_logreg,
    encode_in_batches,
    evaluate,
    irs,
    irs_from_codes,
    modularity,
    modularity_from_codes,
    scoring_record,
)

downstream_module = sys.modules["tfbetavae.metrics.downstream"]
modularity_module = sys.modules["tfbetavae.metrics.modularity"]

NEW_METRICS = ("modularity", "irs", "downstream_logreg", "downstream_gbt")


class FactorVectors(GroundTruthData):
    """Observation = the factor values scaled to [0, 1], one vector entry per factor."""

    def __init__(self, sizes=(3, 4, 5, 6)) -> None:
        self._sizes = tuple(sizes)

    @property
    def factor_names(self):
        return tuple(f"f{k}" for k in range(len(self._sizes)))

    @property
    def factor_sizes(self):
        return self._sizes

    @property
    def observation_shape(self):
        return (len(self._sizes),)

    def _render(self, factors, rng):
        return (factors / (np.asarray(self._sizes) - 1.0)).astype(np.float32)


DATA = FactorVectors()
CHANCE = float(np.mean(1.0 / np.array(DATA.factor_sizes)))  # accuracy of guessing, mean over factors
# Orthogonal, and every entry ±1/2: each code dimension is an equal mix of all four factors.
MIXING = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0


def identity(x):
    return np.asarray(x)


def mixed(x):
    return (np.asarray(x) - 0.5) @ MIXING


def noise(seed):
    rng = np.random.default_rng(seed)
    return lambda x: rng.normal(size=(len(x), 4)).astype(np.float32)


def fixed_codes(seed, n_train, n_test, sizes):
    """The inputs the reference values were computed on: factor classes and a noisy, partly mixed 4-dim code."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    factors = np.stack([rng.integers(0, s, n) for s in sizes], axis=1)
    codes = np.stack([factors[:, 0] + 0.3 * rng.normal(size=n),
                      factors[:, 1] + 0.5 * factors[:, 0] + 0.3 * rng.normal(size=n),
                      factors[:, 2] / 10 + 0.5 * rng.normal(size=n),
                      rng.normal(size=n)], axis=1)
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


# --- equality with disentanglement_lib ---------------------------------------------------------------------------
# Reference values: google-research/disentanglement_lib at commit 86a644d4ed35c771560dc3360756363d35477357, its
# functions re-typed outside this repository (scikit-learn 1.9.1, NumPy 2.4.6) and run on ``fixed_codes`` above,
# transposed to its [dims, points] layout.


def test_modularity_and_explicitness_equal_disentanglement_lib():
    # evaluation/metrics/modularity_explicitness.py compute_modularity_explicitness (after sampling): histogram
    # discretizer with 20 bins, utils.discrete_mutual_info, modularity(), explicitness_per_factor on normalize_data
    # codes; inputs fixed_codes(0, 600, 400, (3, 4, 12)).
    scores = modularity_from_codes(*fixed_codes(0, 600, 400, (3, 4, 12)), num_bins=20)
    assert scores["modularity"] == pytest.approx(0.9719808061356698, abs=1e-12)
    assert scores["explicitness_train"] == pytest.approx(0.8913270955705229, abs=1e-12)
    assert scores["explicitness_test"] == pytest.approx(0.8745510627804415, abs=1e-12)


def test_irs_equals_disentanglement_lib():
    # evaluation/metrics/irs.py compute_irs (after sampling): factors through the 20-bin histogram discretizer (the
    # 30-valued factor is merged into 20 groups), _drop_constant_dims, scalable_disentanglement_score's avg_score;
    # inputs fixed_codes(1, 800, 0, (3, 4, 30)).
    codes, factors, _, _ = fixed_codes(1, 800, 0, (3, 4, 30))
    assert irs_from_codes(codes, factors)["irs"] == pytest.approx(0.4793364468543081, abs=1e-12)
    assert irs_from_codes(codes, factors, diff_quantile=1.0)["irs"] == pytest.approx(0.41450392086088145, abs=1e-12)
    assert irs_from_codes(codes, factors)["num_active_dims"] == 4  # (disentanglement_lib's key sums code values)


def test_downstream_task_equals_disentanglement_lib():
    # evaluation/metrics/downstream_task.py _compute_loss with utils.logistic_regression_cv and
    # utils.gradient_boosting_classifier (random_state=0 set in both: that library leaves it unset), trained on the
    # first 10 and the 100 codes of fixed_codes(2, 100, 200, (3, 4, 6)), tested on its 200 test codes.
    z_train, y_train, z_test, y_test = fixed_codes(2, 100, 200, (3, 4, 6))
    logreg = downstream_from_codes(z_train, y_train, z_test, y_test, "logistic_regression", (10, 100), seed=0)
    assert logreg == pytest.approx({"10_test_accuracy": 0.445, "100_test_accuracy": 0.64, "test_accuracy": 0.64,
                                    "train_accuracy": 0.7}, abs=1e-12)
    gbt = downstream_from_codes(z_train, y_train, z_test, y_test, "gradient_boosting", (10, 100), seed=0)
    assert gbt == pytest.approx({"10_test_accuracy": 0.5333333333333333, "100_test_accuracy": 0.62,
                                 "test_accuracy": 0.62, "train_accuracy": 1.0}, abs=1e-12)


def test_histogram_bins_match_numpy_digitize_on_edges():
    """disentanglement_lib bins with np.digitize over np.histogram's edges; values on an edge land in the same bin."""
    values = np.array([[0.0], [0.05], [0.2], [0.35], [0.95], [1.0]])
    edges = np.histogram(values[:, 0], 20)[1]
    np.testing.assert_array_equal(modularity_module.histogram_bins(values, 20)[:, 0],
                                  np.digitize(values[:, 0], edges[:-1]) - 1)


# --- known answers --------------------------------------------------------------------------------------------


def test_modularity_known_answers():
    sizes = {"num_train": 1000, "num_test": 500, "progress": False}
    clean, entangled, random = (modularity(rep, DATA, **sizes) for rep in (identity, mixed, noise(1)))
    assert clean["modularity"] > 0.99 and clean["explicitness_test"] > 0.99
    assert entangled["modularity"] < 0.4  # every dimension informs about every factor
    assert entangled["explicitness_test"] > 0.99  # ... and a linear model still reads each factor
    assert abs(random["explicitness_test"] - 0.5) < 0.05  # AUC of guessing
    # Noise is "modular": its small, biased informations differ by factor size. Modularity alone says little.
    assert 0.4 < random["modularity"] < 0.8


def test_irs_known_answers():
    assert irs(identity, DATA, num_train=1000, progress=False) == {"irs": 1.0, "num_active_dims": 4.0}
    entangled = irs(mixed, DATA, num_train=1000, progress=False)["irs"]
    random = irs(noise(2), DATA, num_train=1000, progress=False)["irs"]
    # Noise: the groups spread as far as the whole sample, 1 − q99(|N|)/max|N| plus the best of four factors.
    assert 0.15 < random < 0.45
    # Mixing every factor into every dimension: holding one factor leaves three quarters of each dimension free to
    # move, so the score falls to the level of noise (measured 0.27 against 0.28), far from the clean code's 1.
    assert abs(entangled - random) < 0.1


def test_downstream_known_answers():
    sizes = {"num_train": 100, "num_test": 300, "progress": False}
    clean = downstream_logreg(identity, DATA, **sizes)
    assert set(clean) == {"10_test_accuracy", "100_test_accuracy", "test_accuracy", "train_accuracy"}
    assert clean["test_accuracy"] == clean["100_test_accuracy"] > 0.95
    assert clean["10_test_accuracy"] < clean["test_accuracy"]  # ten labels are not enough: a learning curve
    assert downstream_logreg(mixed, DATA, **sizes)["test_accuracy"] > 0.95  # linear: mixing costs nothing
    assert abs(downstream_logreg(noise(3), DATA, **sizes)["test_accuracy"] - CHANCE) < 0.06
    trees = downstream_gbt(identity, DATA, **sizes)
    assert trees["test_accuracy"] > 0.95
    assert downstream_gbt(mixed, DATA, **sizes)["test_accuracy"] < trees["test_accuracy"] - 0.1  # splits are axis-aligned


def test_learning_curve_sizes_and_constant_factors():
    assert downstream_module.train_sizes(10000) == (10, 100, 1000, 10000)
    assert downstream_module.train_sizes(2000) == (10, 100, 1000, 2000)
    assert downstream_module.train_sizes(10) == (10,)
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 3, 60), np.zeros(60, int)], axis=1)  # the second factor never varies
    codes = factors + 0.01 * rng.normal(size=(60, 2))
    scores = downstream_from_codes(codes[:40], factors[:40], codes[40:], factors[40:], "logistic_regression")
    assert scores["test_accuracy"] == 1.0 and set(scores) == {"10_test_accuracy", "40_test_accuracy",
                                                              "test_accuracy", "train_accuracy"}


# --- the sampled representation ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from tfbetavae.model import BetaVAE

    vae = BetaVAE(latent_dim=2, input_shape=(4,), seed=0)
    vae.build((None, 4))
    return vae


def test_sampled_codes_are_posterior_draws(model):
    images = DATA.sample(3, np.random.default_rng(0))[1]
    mean, log_variance = (np.asarray(t) for t in model.encode(images, return_log_variance=True))
    assert np.all(np.exp(log_variance) > 0.01)  # an untrained model: wide posteriors
    means = as_representation(model)(images)
    np.testing.assert_allclose(means, mean, rtol=1e-6)
    draw = as_representation(model, "sampled", seed=0)
    first = draw(images)
    assert not np.allclose(first, means, atol=1e-3)
    np.testing.assert_array_equal(as_representation(model, "sampled", seed=0)(images), first)  # seeded
    assert not np.array_equal(as_representation(model, "sampled", seed=1)(images), first)
    assert not np.array_equal(draw(images), first)  # a new draw each call

    # In distribution: many draws of one image have the posterior's mean and standard deviation.
    many = encode_in_batches(model, np.repeat(images[:1], 4000, axis=0), batch_size=1000, representation="sampled")
    sigma = np.exp(0.5 * log_variance[0])
    np.testing.assert_allclose(many.mean(axis=0), mean[0], atol=float(4 * sigma.max() / np.sqrt(4000)))
    np.testing.assert_allclose(many.std(axis=0), sigma, rtol=0.06)


def test_sampled_from_signatures_dicts_and_pairs():
    x = DATA.sample(2000, np.random.default_rng(1))[1]
    as_dict = as_representation(lambda v: {"mean": v, "log_variance": np.full(v.shape, np.log(0.01))}, "sampled")
    assert np.std(as_dict(x) - x) == pytest.approx(0.1, rel=0.05)
    as_pair = as_representation(lambda v: (v, np.full(v.shape, np.log(0.04))), "sampled", seed=3)
    assert np.std(as_pair(x) - x) == pytest.approx(0.2, rel=0.05)

    class Exported(tf.Module):  # like an exported encode signature: images= keyword, dict of mean and log_variance
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
        def encode(self, images):
            return {"mean": images, "log_variance": tf.fill(tf.shape(images), np.log(0.0025).astype(np.float32)),
                    "sample": images}

    signature = Exported().encode.get_concrete_function()
    assert np.std(as_representation(signature, "sampled")(x) - x) == pytest.approx(0.05, rel=0.05)
    # An adapted mean function can be turned into its sampled form, and back is the mean again.
    mean_fn = as_representation(signature)
    np.testing.assert_allclose(as_representation(mean_fn, "mean")(x), x, rtol=1e-6)
    assert as_representation(as_representation(mean_fn, "sampled"), "mean")(x).std() == pytest.approx(x.std(), rel=1e-5)


def test_evaluate_and_the_callback_score_and_record_sampled_codes(model):
    sizes = {"num_train": 300, "progress": False}
    by_mean = evaluate(model, DATA, ["irs", "mig"], **sizes)
    sampled = evaluate(model, DATA, ["irs", "mig"], representation="sampled", **sizes)
    assert sampled["irs"] != by_mean["irs"] and sampled["mig"] != by_mean["mig"]
    assert evaluate(model, DATA, ["irs", "mig"], representation="sampled", **sizes) == sampled  # seeded
    # each metric draws its own noise: IRS's codes do not depend on MIG running first
    assert evaluate(model, DATA, ["irs"], representation="sampled", **sizes)["irs"] == sampled["irs"]

    assert scoring_record("irs", representation="sampled")["representation"] == "sampled"
    assert "representation" not in scoring_record("irs")  # a record without it scored the means

    callback = DisentanglementCallback(DATA, metrics=("irs",), representation="sampled", num_train=300)
    callback.set_model(model)
    callback.params = {"epochs": 1}
    logs = {}
    callback.on_epoch_end(0, logs)
    assert logs["irs"] == sampled["irs"]
    assert callback.scoring == {"protocol": "library", "seed": 0, "representation": "sampled",
                                "metric_sizes": {"irs": {"num_train": 300}}}


# --- registry, protocols, bad input -----------------------------------------------------------------------------


def test_registry_catalogue_and_protocols():
    assert set(NEW_METRICS) <= set(METRICS) and set(NEW_METRICS) <= set(catalogue.METRIC_INFO)
    scores = evaluate(identity, DATA, ["modularity", "irs", "downstream_logreg"], num_train=100, num_test=100,
                      progress=False)
    known = {key for name in NEW_METRICS for key in catalogue.metric_keys()[name]}
    assert set(scores) <= known  # every key evaluate writes is catalogued
    assert {"modularity", "modularity_explicitness_test", "irs", "downstream_logreg_test_accuracy",
            "downstream_logreg_10_test_accuracy"} <= set(scores)
    assert catalogue.primary_key("downstream_gbt") == "downstream_gbt_test_accuracy"
    assert catalogue.sizes("downstream_gbt", "study") == {"num_train": 1000, "num_test": 1000}
    # disentanglement_lib's protocol fixes the discretisation; a different one given is refused
    theirs = evaluate(identity, DATA, ["irs"], protocol="disentanglement_lib", num_train=300, progress=False)
    assert theirs["irs"] == irs(identity, DATA, num_train=300, progress=False)["irs"]
    with pytest.raises(ValueError, match="sets modularity's num_bins to 20, but num_bins=10"):
        evaluate(identity, DATA, ["modularity"], protocol="disentanglement_lib", num_bins=10)
    with pytest.raises(ValueError, match="sets irs's diff_quantile to 0.99"):
        scoring_record("irs", protocol="disentanglement_lib", diff_quantile=1.0)


def test_bad_input_is_refused_by_name():
    small = {"num_train": 50, "progress": False}
    with pytest.raises(ValueError, match="representation must be one of \\['mean', 'sampled'\\], got 'median'"):
        as_representation(identity, "median")
    with pytest.raises(ValueError, match="representation"):
        evaluate(identity, DATA, ["irs"], representation="mode", **small)
    with pytest.raises(ValueError, match="representation"):
        DisentanglementCallback(DATA, metrics=("irs",), representation="samples")
    with pytest.raises(ValueError, match="log-variance"):
        as_representation(identity, "sampled")(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="log-variance has shape"):
        as_representation(lambda v: (v, v[:, :2]), "sampled")(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="seed"):
        as_representation(lambda v: (v, v), "sampled", seed=-1)
    with pytest.raises(ValueError, match="diff_quantile"):
        irs(identity, DATA, diff_quantile=1.5, **small)
    with pytest.raises(ValueError, match="diff_quantile"):
        irs_from_codes(np.zeros((5, 2)), np.zeros((5, 1)), diff_quantile=0.0)
    with pytest.raises(ValueError, match="num_bins"):
        modularity(identity, DATA, num_bins=0, **small)
    with pytest.raises(ValueError, match="num_test"):
        modularity(identity, DATA, num_test=0, **small)
    with pytest.raises(ValueError, match="num_train must be an integer >= 10"):
        downstream_logreg(identity, DATA, num_train=5, progress=False)
    with pytest.raises(ValueError, match="unknown predictor 'svm'"):
        downstream_from_codes(np.zeros((20, 2)), np.zeros((20, 1)), np.zeros((5, 2)), np.zeros((5, 1)), "svm")
    with pytest.raises(ValueError, match="training sizes must lie in \\[10, 20\\]"):
        downstream_from_codes(np.zeros((20, 2)), np.zeros((20, 1)), np.zeros((5, 2)), np.zeros((5, 1)), sizes=(50,))
    with pytest.raises(ValueError, match="no factor varies"):
        irs_from_codes(np.random.default_rng(0).normal(size=(20, 2)), np.zeros((20, 2)))
    with pytest.raises(TypeError, match="GroundTruthData"):
        downstream_gbt(identity, np.zeros((3, 4)), progress=False)
