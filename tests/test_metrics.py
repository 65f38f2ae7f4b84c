"""Disentanglement metrics: known answers on a toy data set whose images are its factors, plus API checks.

The toy data set puts the K = 4 factor values, scaled to [0, 1], into a (1, 1, 4) image, so the "identity"
representation is the ground truth itself (perfectly disentangled), a random rotation of it is entangled but
equally informative, and seeded Gaussian noise carries no information at all.
"""

from __future__ import annotations

import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfbetavae.metrics  # noqa: F401  (loads the submodules looked up in sys.modules below)
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics import (
    METRICS,
    DisentanglementCallback,
    as_representation,
    beta_vae_batches,
    beta_vae_score,
    dci,
    encode_in_batches,
    evaluate,
    factor_vae_score,
    mig,
    sap,
)

beta_vae_module = sys.modules["tfbetavae.metrics.beta_vae"]
dci_module = sys.modules["tfbetavae.metrics.dci"]
mig_module = sys.modules["tfbetavae.metrics.mig"]

SMALL = {"num_train": 400, "progress": False}


class FactorPixels(GroundTruthData):
    """Observation = the factor values scaled to [0, 1], one per channel of a 1x1 image."""

    def __init__(self, names=("shape", "a", "b", "c"), sizes=(3, 4, 5, 6)) -> None:
        self._names = tuple(names)
        self._sizes = tuple(sizes)

    @property
    def factor_names(self):
        return self._names

    @property
    def factor_sizes(self):
        return self._sizes

    @property
    def observation_shape(self):
        return (1, 1, len(self._sizes))

    def _render(self, factors, rng):
        scaled = factors / np.maximum(np.asarray(self._sizes) - 1.0, 1.0)
        return scaled.astype(np.float32).reshape(len(factors), 1, 1, -1)


def identity(images):
    return images.reshape(len(images), -1)


def noisy_identity(seed=0, scale=0.01):
    rng = np.random.default_rng(seed)
    return lambda images: identity(images) + scale * rng.normal(size=(len(images), images.shape[-1]))


def noise(seed=0, dim=4):
    rng = np.random.default_rng(seed)
    return lambda images: rng.normal(size=(len(images), dim)).astype(np.float32)


ROTATION = np.linalg.qr(np.random.default_rng(3).normal(size=(4, 4)))[0]


def rotated(images):
    return (identity(images) - 0.5) @ ROTATION


@pytest.fixture(scope="module")
def data():
    return FactorPixels()


# --- known answers -----------------------------------------------------------------------------------------


def test_ground_truth_scores_high(data):
    rep = noisy_identity()
    assert beta_vae_score(rep, data, num_eval=300, **SMALL)["eval_accuracy"] >= 0.9
    assert beta_vae_score(rep, data, num_eval=300, protocol="paper", **SMALL)["eval_accuracy"] >= 0.9
    factor = factor_vae_score(rep, data, num_eval=300, num_variance_estimate=500, **SMALL)
    assert factor["eval_accuracy"] >= 0.9 and factor["num_active_dims"] == 4
    assert mig(rep, data, **SMALL)["mig"] > 0.8
    scores = dci(rep, data, num_test=300, **SMALL)
    assert scores["disentanglement"] > 0.8 and scores["completeness"] > 0.8
    assert scores["informativeness_test"] > 0.9
    # Discrete SAP tops out below 1: the second-best dimension still scores chance (1 / number of classes).
    assert sap(rep, data, num_test=300, **SMALL)["sap"] > 0.6
    assert sap(rep, data, num_test=300, continuous_factors=True, **SMALL)["sap"] > 0.9


def test_noise_scores_near_chance(data):
    chance = 1 / data.num_factors
    assert abs(beta_vae_score(noise(1), data, num_eval=400, **SMALL)["eval_accuracy"] - chance) < 0.12
    paper = beta_vae_score(noise(1), data, num_eval=400, protocol="paper", **SMALL)["eval_accuracy"]
    assert abs(paper - 1 / 3) < 0.12  # three labels: shape is left out
    factor = factor_vae_score(noise(2), data, num_eval=400, num_variance_estimate=500, **SMALL)
    assert abs(factor["eval_accuracy"] - chance) < 0.12
    assert mig(noise(3), data, **SMALL)["mig"] < 0.05
    scores = dci(noise(4), data, num_test=300, **SMALL)
    assert scores["disentanglement"] < 0.15 and scores["completeness"] < 0.15
    assert scores["informativeness_test"] < 0.45
    assert sap(noise(5), data, num_test=300, **SMALL)["sap"] < 0.06
    assert sap(noise(5), data, num_test=300, continuous_factors=True, **SMALL)["sap"] < 0.06


def test_entangled_scores_lower_than_disentangled(data):
    assert mig(rotated, data, **SMALL)["mig"] < mig(identity, data, **SMALL)["mig"] - 0.4
    entangled = dci(rotated, data, num_test=300, **SMALL)
    clean = dci(identity, data, num_test=300, **SMALL)
    assert entangled["disentanglement"] < clean["disentanglement"] - 0.4
    assert entangled["informativeness_test"] > 0.8  # as informative, only mixed
    assert sap(rotated, data, num_test=300, **SMALL)["sap"] < sap(identity, data, num_test=300, **SMALL)["sap"] - 0.3


def test_dci_importance_arithmetic():
    assert dci_module.disentanglement(np.eye(3)) == pytest.approx(1.0)
    assert dci_module.completeness(np.eye(3)) == pytest.approx(1.0)
    assert dci_module.disentanglement(np.ones((3, 3))) == pytest.approx(0.0)
    # One dimension serving two factors equally: that dimension scores 1 − log_2(2) = 0, the other 1.
    assert dci_module.disentanglement(np.array([[1.0, 1.0], [0.0, 2.0]])) == pytest.approx(0.5)


def test_mutual_information_estimates():
    x = np.random.default_rng(0).integers(0, 5, size=2000)
    y = np.random.default_rng(1).integers(0, 5, size=2000)
    assert mig_module.mutual_information(x, x) == pytest.approx(mig_module.entropy(x))
    assert mig_module.entropy(x) == pytest.approx(np.log(5), abs=0.01)
    assert mig_module.mutual_information(x, y) < 0.02


def test_factor_vae_prunes_collapsed_dimensions(data):
    def with_dead_dims(images):
        codes = identity(images)
        return np.concatenate([codes, np.zeros_like(codes), 1e-3 * codes], axis=1)

    scores = factor_vae_score(with_dead_dims, data, num_eval=200, num_variance_estimate=300, **SMALL)
    assert scores["num_active_dims"] == 4 and scores["eval_accuracy"] >= 0.9
    with pytest.warns(UserWarning, match="no active"):
        dead = factor_vae_score(lambda x: np.zeros((len(x), 3)), data, num_variance_estimate=50, **SMALL)
    assert dead == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


# --- β-VAE batches -----------------------------------------------------------------------------------------


def test_beta_vae_batches_shapes_labels_and_fixed_factor(data):
    dataset = beta_vae_batches(data, identity, batch_size=16, seed=1, num_points=50)
    assert dataset.element_spec == (
        tf.TensorSpec(shape=(4,), dtype=tf.float32),
        tf.TensorSpec(shape=(), dtype=tf.int64),
    )
    assert int(dataset.cardinality()) == 50
    points = list(dataset.as_numpy_iterator())
    assert len(points) == 50
    z_diff = np.stack([p[0] for p in points])
    labels = np.array([p[1] for p in points])
    assert z_diff.dtype == np.float32 and labels.dtype == np.int64
    assert set(labels) <= set(range(4)) and len(set(labels)) > 1
    np.testing.assert_array_equal(z_diff[np.arange(50), labels], 0.0)  # the fixed factor's code never changes
    others = np.ones_like(z_diff, dtype=bool)
    others[np.arange(50), labels] = False
    assert np.all(z_diff[others] > 0)

    restricted = beta_vae_batches(data, identity, batch_size=4, num_points=40, factors=["a", "c"])
    assert {int(k) for _, k in restricted.as_numpy_iterator()} == {1, 3}


def test_beta_vae_batches_are_deterministic_and_endless(data):
    def collect(seed):
        return [z for z, _ in beta_vae_batches(data, noisy_identity(0), seed=seed, num_points=20).as_numpy_iterator()]

    np.testing.assert_array_equal(collect(5), collect(5))
    assert not np.array_equal(collect(5), collect(6))
    endless = beta_vae_batches(data, identity, batch_size=2)
    assert int(endless.cardinality()) != 40 and len(list(endless.take(40))) == 40


def test_beta_vae_batches_with_a_keras_encoder(data):
    model = TinyEncoderModel()
    points = list(beta_vae_batches(data, model, batch_size=8, num_points=5).as_numpy_iterator())
    assert len(points) == 5 and points[0][0].shape == (3,)
    assert model.encode_calls == 2  # the probe, then all 5 points x 8 pairs x 2 images in one call


def test_scores_are_deterministic_for_a_seed(data):
    first, second = (
        evaluate(noisy_identity(7), data, ["beta_vae", "factor_vae"], seed=3, num_train=100, num_eval=50,
                 num_variance_estimate=100, progress=False)
        for _ in range(2)
    )
    assert first == second
    a = beta_vae_score(noise(0), data, num_eval=100, seed=1, protocol="paper", **SMALL)
    b = beta_vae_score(noise(0), data, num_eval=100, seed=1, protocol="paper", **SMALL)
    assert a == b
    assert mig(noise(0), data, seed=1, **SMALL) != mig(noise(0), data, seed=2, **SMALL)


def test_paper_protocol_leaves_out_shape(data):
    assert beta_vae_module._label_factors(data, "paper", None) == [1, 2, 3]
    assert beta_vae_module._label_factors(data, "standard", None) == [0, 1, 2, 3]
    no_shape = FactorPixels(names=("x", "y"), sizes=(3, 3))
    assert beta_vae_module._label_factors(no_shape, "paper", None) == [0, 1]
    assert beta_vae_module._label_factors(data, "paper", ["shape"]) == [0]


# --- representations ---------------------------------------------------------------------------------------


class TinyEncoderModel(keras.Model):
    """A stand-in for BetaVAE: ``encode`` gives a 3-D mean code of a (1, 1, 4) image."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = keras.layers.Flatten()
        self.mean = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(seed=0))
        self.decoder = keras.layers.Dense(4)
        self.encode_calls = 0

    def encode(self, images):
        self.encode_calls += 1
        return self.mean(self.flatten(images))

    def call(self, images):
        return self.decoder(self.mean(self.flatten(images)))


def test_as_representation_on_tf_functions_and_saved_model(data, tmp_path):
    images = data.sample(7, np.random.default_rng(0))[1]
    weights = tf.constant(np.random.default_rng(1).normal(size=(4, 2)), tf.float32)

    class Exported(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 1, 1, 4], tf.float32)])
        def encode(self, images):
            mean = tf.reshape(images, [-1, 4]) @ weights
            return {"mean": mean, "log_variance": tf.zeros_like(mean), "sample": mean + 1.0}

    module = Exported()
    expected = identity(images) @ weights.numpy()
    np.testing.assert_allclose(as_representation(module.encode)(images), expected, rtol=1e-5)  # positional
    concrete = module.encode.get_concrete_function()
    np.testing.assert_allclose(as_representation(concrete)(images), expected, rtol=1e-5)  # keyword images=
    np.testing.assert_allclose(as_representation(module)(images), expected, rtol=1e-5)  # has .encode

    tf.saved_model.save(module, str(tmp_path / "exported"), signatures={"encode": concrete})
    signature = tf.saved_model.load(str(tmp_path / "exported")).signatures["encode"]
    codes = as_representation(signature)(images)
    assert codes.dtype == np.float32
    np.testing.assert_allclose(codes, expected, rtol=1e-5)
    raw = types.SimpleNamespace(signatures={"encode": signature})  # like tf.saved_model.load() without .encode
    np.testing.assert_allclose(as_representation(raw)(images), expected, rtol=1e-5)


def test_as_representation_on_models_and_plain_functions(data):
    images = data.sample(5, np.random.default_rng(0))[1]
    model = TinyEncoderModel()
    codes = as_representation(model)(images)
    assert codes.shape == (5, 3) and codes.dtype == np.float32 and model.encode_calls == 1
    assert as_representation(lambda x: (identity(x), None))(images).shape == (5, 4)
    adapted = as_representation(identity)
    assert as_representation(adapted) is adapted
    big = np.repeat(images, 9, axis=0)
    np.testing.assert_array_equal(encode_in_batches(identity, big, batch_size=4), identity(big))


@pytest.mark.parametrize(
    ("represent", "message"),
    [
        (lambda x: identity(x)[:, 0], "rank 2"),
        (lambda x: np.full((len(x), 2), np.nan), "NaN"),
        (lambda x: identity(x)[:-1], "4 codes for 5 images"),
        (lambda x: {"log_variance": identity(x), "sample": identity(x)}, "without a 'mean'"),
        (lambda x: np.zeros((len(x), 0)), "zero dimensions"),
    ],
)
def test_bad_representation_outputs_raise(data, represent, message):
    images = data.sample(5, np.random.default_rng(0))[1]
    with pytest.raises(ValueError, match=message):
        as_representation(represent)(images)


def test_bad_inputs_raise_clear_errors(data):
    with pytest.raises(TypeError, match="representation"):
        as_representation(42)
    with pytest.raises(TypeError, match="GroundTruthData"):
        mig(identity, np.zeros((3, 4)), **SMALL)
    with pytest.raises(ValueError, match="num_train"):
        mig(identity, data, num_train=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        beta_vae_score(identity, data, batch_size=0, **SMALL)
    with pytest.raises(ValueError, match="batch_size"):
        encode_in_batches(identity, np.zeros((2, 1, 1, 4)), batch_size=0)
    with pytest.raises(ValueError, match="num_eval"):
        factor_vae_score(identity, data, num_eval=-1, **SMALL)
    with pytest.raises(ValueError, match="unknown factor 'colour'"):
        beta_vae_batches(data, identity, factors=["colour"])
    with pytest.raises(ValueError, match="unknown factor 'size'"):
        sap(identity, data, continuous_factors=["size"], **SMALL)
    with pytest.raises(ValueError, match="unknown protocol"):
        beta_vae_score(identity, data, protocol="nips", **SMALL)
    with pytest.raises(ValueError, match="seed"):
        dci(identity, data, seed=-1, **SMALL)
    with pytest.raises(ValueError, match="unknown estimator"):
        dci(identity, data, estimator="svm", **SMALL)


# --- evaluate, registry, progress, callback ----------------------------------------------------------------


def test_evaluate_flattens_and_routes_keywords(data):
    assert {"beta_vae", "factor_vae", "mig", "dci", "sap", "unsupervised"} <= set(METRICS)
    results = evaluate(
        identity, data, ["mig", "sap", "dci"], seed=0, num_train=200, num_test=100, progress=False, mig={"num_bins": 5}
    )
    assert set(results) == {
        "mig",
        "sap",
        "dci_disentanglement",
        "dci_completeness",
        "dci_informativeness_train",
        "dci_informativeness_test",
    }
    assert results["mig"] == mig(identity, data, num_train=200, num_bins=5, progress=False)["mig"]
    with pytest.raises(ValueError, match="known metrics"):
        evaluate(identity, data, ["mig", "no_such_metric"])
    with pytest.raises(ValueError, match="num_bin"):
        evaluate(identity, data, ["mig"], num_bin=5)
    with pytest.raises(ValueError, match="has no keyword 'num_eval'"):
        evaluate(identity, data, ["mig"], mig={"num_eval": 5})


def test_progress_bar_is_shown_only_when_asked(data, capsys):
    mig(identity, data, num_train=50, progress=True)
    assert "MIG" in capsys.readouterr().out
    mig(identity, data, num_train=50, progress=False)
    assert capsys.readouterr().out == ""


class EncodeCallCounter(keras.callbacks.Callback):
    """Runs after the metric callback and records, per epoch, whether the model was encoded and the logs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls, self.logs = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(self.model.encode_calls)
        self.logs.append(dict(logs))


def test_callback_writes_scores_into_logs_and_carries_them_forward(data):
    factors, images = data.sample(64, np.random.default_rng(0))
    model = TinyEncoderModel()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    metric = DisentanglementCallback(data, metrics=("mig", "beta_vae"), every=3, num_train=100, num_eval=50)
    counter = EncodeCallCounter()
    history = model.fit(images, identity(images), epochs=4, batch_size=16, verbose=0, callbacks=[metric, counter])
    computed = [epoch for epoch in range(4) if counter.calls[epoch] > (counter.calls[epoch - 1] if epoch else 0)]
    assert computed == [0, 2, 3]  # first epoch, every third epoch, last epoch
    for key in ("mig", "beta_vae_train_accuracy", "beta_vae_eval_accuracy"):
        assert len(history.history[key]) == 4
        assert history.history[key][1] == history.history[key][0]  # carried forward
        assert all(isinstance(value, float) for value in history.history[key])
    assert 0.0 <= history.history["mig"][0] <= 1.0
    assert counter.logs[3]["mig"] == metric.last_scores["mig"]


def test_the_callback_and_its_history_say_how_the_scores_were_made(data):
    """Logs hold numbers only; the callback and the History fit returns keep the protocol, sizes and seed."""
    _, images = data.sample(32, np.random.default_rng(0))
    model = TinyEncoderModel()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    metric = DisentanglementCallback(data, metrics=("mig", "dci"), seed=4, num_train=100, dci={"num_test": 50},
                                     protocol="disentanglement_lib")
    history = model.fit(images, identity(images), epochs=1, batch_size=16, verbose=0, callbacks=[metric])
    expected = {"protocol": "disentanglement_lib", "seed": 4,
                "metric_sizes": {"mig": {"num_train": 100}, "dci": {"num_train": 100, "num_test": 50}}}
    assert metric.scoring == history.scoring == expected
    assert all(isinstance(values[0], float) for values in history.history.values())


def test_a_scoring_record_names_protocol_sizes_and_seed():
    from tfbetavae.metrics import scoring_record

    assert scoring_record("beta_vae", protocol="paper") == {
        "protocol": "library", "seed": 0, "beta_vae_protocol": "paper",
        "metric_sizes": {"beta_vae": {"num_train": 10000, "num_eval": 5000}}}
    record = scoring_record(("factor_vae", "sap"), seed=2, num_train=300, protocol="disentanglement_lib")
    assert record["metric_sizes"] == {"factor_vae": {"num_train": 300, "num_eval": 5000, "num_variance_estimate": 10000},
                                      "sap": {"num_train": 300, "num_test": 5000}}
    with pytest.raises(ValueError, match="sets mig's num_bins to 20, but num_bins=10"):
        scoring_record("mig", protocol="disentanglement_lib", num_bins=10)


def test_callback_rejects_unknown_metrics_and_keywords(data):
    with pytest.raises(ValueError, match="known metrics: \\['beta_vae', 'factor_vae', 'mig', 'dci', 'sap'"):
        DisentanglementCallback(data, metrics=("beta_vae", "no_such_metric"))
    with pytest.raises(ValueError, match="num_bins"):
        DisentanglementCallback(data, metrics=("beta_vae",), num_bins=10)
    with pytest.raises(ValueError, match="every"):
        DisentanglementCallback(data, every=0)


# ------------------------------------------------------------------ the disentanglement_lib protocol (issue 21)
sap_module = sys.modules["tfbetavae.metrics.sap"]


def _fixed_codes(seed=0, n_train=300, n_test=200):
    """Factor classes (3 and 4 values) and a noisy, partly mixed 3-dimensional code of them."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 3, n_train + n_test), rng.integers(0, 4, n_train + n_test)], axis=1)
    codes = np.stack([factors[:, 0] + 0.3 * rng.normal(size=len(factors)),
                      factors[:, 1] + 0.5 * factors[:, 0] + 0.3 * rng.normal(size=len(factors)),
                      rng.normal(size=len(factors))], axis=1)
    return codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:]


def test_dci_under_disentanglement_lib_protocol_is_its_formula_on_fixed_arrays():
    """Gradient boosting (100 stages) importances, then D and C as disentanglement_lib writes them (scipy entropy)."""
    import scipy.stats
    from sklearn.ensemble import GradientBoostingClassifier

    z_train, y_train, z_test, y_test = _fixed_codes()
    importance, train_acc, test_acc = np.zeros((3, 2)), [], []
    for k in range(2):
        model = GradientBoostingClassifier(random_state=0).fit(z_train, y_train[:, k])
        assert model.n_estimators == 100
        importance[:, k] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(z_train) == y_train[:, k]))
        test_acc.append(np.mean(model.predict(z_test) == y_test[:, k]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=2)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=3)
    expected_d = np.sum(per_code * importance.sum(axis=1) / importance.sum())
    expected_c = np.sum(per_factor * importance.sum(axis=0) / importance.sum())
    estimator, stages = dci_module._protocol_estimator("disentanglement_lib", None, None)
    scores = dci_module.dci_from_codes(z_train, y_train, z_test, y_test, estimator, stages, seed=0)
    assert scores["disentanglement"] == pytest.approx(expected_d, abs=1e-9)
    assert scores["completeness"] == pytest.approx(expected_c, abs=1e-9)
    assert scores["informativeness_train"] == pytest.approx(np.mean(train_acc))
    assert scores["informativeness_test"] == pytest.approx(np.mean(test_acc))
    assert 0.2 < expected_d < 0.95  # a mixed code: the comparison is not between two trivial values


def test_sap_under_disentanglement_lib_protocol_is_its_formula_on_fixed_arrays():
    """Discrete: LinearSVC(C=0.01, balanced) accuracy per (dimension, factor); continuous: squared correlation."""
    from sklearn.svm import LinearSVC

    z_train, y_train, z_test, y_test = _fixed_codes(1)
    discrete, continuous = np.zeros((3, 2)), np.zeros((3, 2))
    for j in range(3):
        for k in range(2):
            svc = LinearSVC(C=0.01, class_weight="balanced").fit(z_train[:, j : j + 1], y_train[:, k])
            discrete[j, k] = np.mean(svc.predict(z_test[:, j : j + 1]) == y_test[:, k])
            continuous[j, k] = np.corrcoef(z_train[:, j], y_train[:, k])[0, 1] ** 2
    top = np.sort(discrete, axis=0)
    expected = np.mean(top[-1] - top[-2])
    got = sap_module.sap_from_codes(z_train, y_train, z_test, y_test, (), "disentanglement_lib")
    assert got == pytest.approx(expected, abs=1e-12)
    top = np.sort(continuous, axis=0)
    got = sap_module.sap_from_codes(z_train, y_train, z_test, y_test, (0, 1), "disentanglement_lib")
    assert got == pytest.approx(np.mean(top[-1] - top[-2]), abs=1e-12)


def test_sap_perfect_code_known_answers_under_both_protocols(sprites):
    """The issue's finding: on a perfectly disentangled dSprites code the library's threshold classifier gives about
    1 − mean(1/K) (0.88), disentanglement_lib's linear SVC about 0.25 (it cannot pick out middle classes)."""
    rng = np.random.default_rng(0)
    train, test = sprites.sample_factors(4000, rng), sprites.sample_factors(2000, rng)
    ours = sap_module.sap_from_codes(train.astype(float), train, test.astype(float), test, (), "library")
    theirs = sap_module.sap_from_codes(train.astype(float), train, test.astype(float), test, (), "disentanglement_lib")
    assert ours == pytest.approx(1 - np.mean(1 / np.array(sprites.factor_sizes)), abs=0.01)
    assert 0.2 < theirs < 0.3


def test_sap_leaves_out_a_constant_factor_as_mig_does():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 2, 600), rng.integers(0, 3, 600), np.zeros(600, int)], axis=1)
    codes = factors[:, :2] + 0.01 * rng.normal(size=(600, 2))
    with_constant = sap_module.sap_from_codes(codes[:400], factors[:400], codes[400:], factors[400:])
    without = sap_module.sap_from_codes(codes[:400], factors[:400, :2], codes[400:], factors[400:, :2])
    assert with_constant == pytest.approx(without) and without > 0.5
    with pytest.raises(ValueError, match="no factor varies"):
        sap_module.sap_from_codes(codes, np.zeros((600, 2), int), codes, np.zeros((600, 2), int))


def test_protocol_switch_through_dci_sap_and_evaluate():
    data = FactorPixels()
    small = {"num_train": 200, "num_test": 100, "progress": False}
    ours = sap(identity, data, **small)["sap"]
    theirs = sap(identity, data, protocol="disentanglement_lib", **small)["sap"]
    assert ours > theirs + 0.2  # the same perfect code, two classifiers
    with pytest.raises(ValueError, match="fixes DCI's estimator"):
        dci(identity, data, estimator="random_forest", protocol="disentanglement_lib", **small)
    with pytest.raises(ValueError, match="unknown protocol"):
        sap(identity, data, protocol="dlib", **small)
    scores = evaluate(identity, data, ["sap", "mig"], protocol="disentanglement_lib", num_train=200, num_test=100,
                      progress=False)
    assert scores["sap"] == pytest.approx(theirs)
    with pytest.raises(ValueError, match="sets mig's num_bins to 20"):
        evaluate(identity, data, ["mig"], protocol="disentanglement_lib", mig={"num_bins": 10}, **SMALL)
    # the β-VAE score's own protocol names still reach it alone
    paper = evaluate(identity, data, ["beta_vae", "sap"], protocol="paper", num_train=50, num_test=50,
                     beta_vae={"num_eval": 20}, progress=False)
    assert 0.0 <= paper["beta_vae_eval_accuracy"] <= 1.0


def test_callback_takes_the_protocol_for_any_metric_choice():
    data = FactorPixels()
    callback = DisentanglementCallback(data, metrics=("sap",), protocol="disentanglement_lib", num_train=200,
                                       num_test=100)

    class Encoder:
        def encode(self, images):
            return identity(np.asarray(images))

    callback.set_model(Encoder())
    logs = {}
    callback.params = {"epochs": 1}
    callback.on_epoch_end(0, logs)
    expected = sap(identity, data, protocol="disentanglement_lib", num_train=200, num_test=100, progress=False)
    assert logs["sap"] == pytest.approx(expected["sap"])
