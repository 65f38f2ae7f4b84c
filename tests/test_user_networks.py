"""Issue 19: your own networks, any input shape, any likelihood — through the one BetaVAE class."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfbetavae
from tfbetavae import likelihoods
from tfbetavae.data import GroundTruthData
from tfbetavae.model import BetaVAE
from tfbetavae.objectives import BetaTCVAE, FactorVAE

tfd = tfp.distributions
LATENT = 3


class Squares(GroundTruthData):
    """A bright square on a dark background; factors: x and y position (and the channel it lights, for RGB)."""

    def __init__(self, shape=(28, 28, 1), positions=6, size=6) -> None:
        self.shape = tuple(shape)
        self.positions = positions
        self.size = size

    @property
    def factor_names(self):
        return ("x", "y")

    @property
    def factor_sizes(self):
        return (self.positions, self.positions)

    @property
    def observation_shape(self):
        return self.shape

    def _render(self, factors, rng):
        height, width, channels = self.shape
        images = np.zeros((len(factors), *self.shape), np.float32)
        for n, (x, y) in enumerate(factors):
            top = y * (height - self.size) // (self.positions - 1)
            left = x * (width - self.size) // (self.positions - 1)
            images[n, top : top + self.size, left : left + self.size, n % channels] = 1.0
        return images


def sequential_networks(shape=(28, 28, 1), latent=LATENT):
    pixels = int(np.prod(shape))
    encoder = keras.Sequential(
        [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(2 * latent)],
        name="my_encoder",
    )
    decoder = keras.Sequential(
        [keras.Input((latent,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(pixels), keras.layers.Reshape(shape)],
        name="my_decoder",
    )
    return encoder, decoder


def _loss(model, images):
    return float(model.compute_terms(tf.constant(images))["loss"])


def _train(model, images, epochs=4, learning_rate=3e-3):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    model.fit(images, batch_size=32, epochs=epochs, verbose=0, shuffle=False)


# ----------------------------------------------------------------------------- the standard architecture
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (48, 80, 1), (7, 5, 2), (12,)])
def test_standard_networks_fit_any_shape_and_end_at_its_size(shape):
    model = BetaVAE(latent_dim=LATENT, input_shape=shape)
    images = np.random.default_rng(0).random((3, *shape), dtype=np.float32)
    assert model.reconstruct(images).shape == (3, *shape)
    assert model.decode(np.zeros((2, LATENT))).shape == (2, *shape)


def test_standard_network_at_64_is_the_same_network():
    """The variables of today's 64x64 network: names and shapes (no crop, 1024 = 4·4·64 features)."""
    model = BetaVAE(latent_dim=10)
    shapes = {v.path.split("/", 1)[1]: tuple(v.shape) for v in model.weights}
    assert shapes["encoder/hidden/kernel"] == (1024, 256)
    assert shapes["decoder/expand/kernel"] == (256, 1024)
    assert shapes["decoder/deconv_3/kernel"] == (4, 4, 1, 32)
    assert len(shapes) == 25 and model.count_params() == 764_246  # the pre-issue-19 network's count
    assert model.decoder.crop is None
    assert BetaVAE(latent_dim=10, input_shape=(28, 28, 1)).decoder.crop is not None


# ----------------------------------------------------------------------------- user networks
def test_sequential_networks_train_and_the_loss_falls():
    data = Squares()
    images = data.sample(256, np.random.default_rng(0))[1]
    encoder, decoder = sequential_networks()
    model = BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT, beta=1.0, seed=0)
    assert model.image_shape == (28, 28, 1)  # taken from the encoder's Input
    before = _loss(model, images)
    _train(model, images)
    after = _loss(model, images)
    assert after < 0.7 * before, (before, after)


def test_functional_encoder_returning_a_pair_and_subclassed_decoder():
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Flatten()(inputs)
    encoder = keras.Model(inputs, [keras.layers.Dense(LATENT)(h), keras.layers.Dense(LATENT)(h)])
    decoder = SubclassedDecoder((16, 16, 1))
    model = BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT)
    images = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32)
    mean, log_variance = model.encode(images, return_log_variance=True)
    assert mean.shape == log_variance.shape == (4, LATENT)
    assert model.reconstruct(images).shape == (4, 16, 16, 1)


@keras.saving.register_keras_serializable(package="test_user_networks")
class SubclassedDecoder(keras.Model):
    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape_ = tuple(shape)
        self.dense = keras.layers.Dense(int(np.prod(shape)))

    def call(self, codes):
        return keras.ops.reshape(self.dense(codes), (-1, *self.shape_))

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape_)}


class UnregisteredDecoder(SubclassedDecoder):
    pass


@pytest.mark.parametrize("objective", ["capacity", "tcvae", "factor"])
def test_every_objective_takes_user_networks(objective):
    images = Squares(shape=(16, 16, 1), size=4).sample(64, np.random.default_rng(0))[1]
    encoder, decoder = sequential_networks((16, 16, 1))
    common = {"encoder": encoder, "decoder": decoder, "latent_dim": LATENT, "seed": 0}
    if objective == "capacity":
        model = BetaVAE(capacity=5.0, capacity_steps=10, **common)
    elif objective == "tcvae":
        model = BetaTCVAE(dataset_size=64, **common)
    else:
        model = FactorVAE(discriminator_units=16, discriminator_depth=2, **common)
    assert model.encoder is encoder
    history = model.compile(optimizer="adam") or model.fit(images, batch_size=32, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    restored = keras.models.model_from_json(model.to_json())
    assert type(restored) is type(model) and isinstance(restored.encoder, keras.Sequential)


# ----------------------------------------------------------------------------- contract errors
def test_mismatched_encoder_output_is_one_value_error_naming_both_shapes():
    encoder, decoder = sequential_networks()
    with pytest.raises(ValueError, match=r"encoder must return .*\[batch, 6\], got shape \[batch, 5\]"):
        BetaVAE(encoder=keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(5)]),
                decoder=decoder, latent_dim=LATENT)
    with pytest.raises(ValueError, match=r"encoder cannot take inputs of shape \[batch, 32, 32, 3\]"):
        BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT, input_shape=(32, 32, 3))


def test_mismatched_decoder_output_is_one_value_error_naming_both_shapes():
    encoder, _ = sequential_networks()
    decoder = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(32 * 32), keras.layers.Reshape((32, 32, 1))])
    with pytest.raises(ValueError, match=r"decoder must map .* shape \[batch, 28, 28, 1\], got \[batch, 32, 32, 1\]"):
        BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT)


def test_likelihood_with_the_wrong_event_shape_is_refused():
    def per_pixel(params):
        return tfd.Normal(loc=params, scale=1.0)  # event shape [] instead of [28, 28, 1]

    encoder, decoder = sequential_networks()
    with pytest.raises(ValueError, match=r"event shape \[28, 28, 1\].*got event shape \[\].*tfd.Independent"):
        BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT, likelihood=per_pixel)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        BetaVAE(latent_dim=LATENT, input_shape=(8, 8, 1), likelihood="poisson")


def test_unregistered_custom_class_says_how_to_fix_it(tmp_path):
    encoder, _ = sequential_networks((16, 16, 1))
    model = BetaVAE(encoder=encoder, decoder=UnregisteredDecoder((16, 16, 1)), latent_dim=LATENT)
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"UnregisteredDecoder.*register_keras_serializable.*custom_objects") as caught:
        tfbetavae.load(path)
    assert "\n" not in str(caught.value)
    loaded = tfbetavae.load(path, custom_objects={"UnregisteredDecoder": UnregisteredDecoder})
    images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.encode(images), model.encode(images), atol=1e-6)


# ----------------------------------------------------------------------------- saving, resuming
def test_keras_round_trip_gives_equal_encodings_and_keeps_a_learned_scale(tmp_path):
    encoder, decoder = sequential_networks((32, 32, 3))
    model = BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT, likelihood="gaussian_learned_scale")
    assert any(v is model.likelihood_layer.log_scale for v in model.trainable_variables)  # fit() trains it
    model.likelihood_layer.log_scale.assign([0.1, 0.2, 0.3])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    images = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.encode(images), model.encode(images))
    np.testing.assert_allclose(loaded.likelihood_layer.log_scale.numpy(), [0.1, 0.2, 0.3])
    assert loaded.get_config()["likelihood"] == "gaussian_learned_scale"
    assert loaded.get_config()["encoder"]["class_name"] == "Sequential"


def test_train_resumes_a_run_with_user_networks_and_load_opens_it(tmp_path):
    data = Squares(shape=(16, 16, 1), size=4)

    def make():
        keras.utils.set_random_seed(0)
        encoder, decoder = sequential_networks((16, 16, 1))
        return BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT, seed=0)

    first = make()
    tfbetavae.train(first, data, steps=4, batch_size=16, steps_per_epoch=2, run_dir=tmp_path / "run", verbose=0)
    resumed = make()
    tfbetavae.train(resumed, data, steps=6, batch_size=16, steps_per_epoch=2, run_dir=tmp_path / "run", verbose=0)
    assert int(resumed.step_counter.numpy()) == 6
    opened = tfbetavae.load(tmp_path / "run")
    images = data.sample(4, np.random.default_rng(1))[1]
    np.testing.assert_allclose(opened.encode(images), resumed.encode(images), atol=1e-6)


# ----------------------------------------------------------------------------- likelihoods
@pytest.mark.parametrize("name", likelihoods.LIKELIHOODS)
def test_each_likelihood_is_minus_log_p_in_nats_summed_over_the_event(name):
    shape = (4, 6, 2)
    layer = likelihoods.get(name, observation_scale=0.5)
    layer.build(shape)
    rng = np.random.default_rng(0)
    params = rng.normal(size=(3, *shape)).astype(np.float32)
    x = rng.random((3, *shape)).astype(np.float32)
    logits = params.astype(np.float64)
    if name == "bernoulli":
        per_element = x * logits - np.logaddexp(0, logits)
    elif name == "continuous_bernoulli":
        lam = 1 / (1 + np.exp(-logits))
        per_element = x * np.log(lam) + (1 - x) * np.log1p(-lam) + np.log(2 * np.arctanh(1 - 2 * lam) / (1 - 2 * lam))
    elif name == "laplace":
        per_element = -np.abs(x - params) / 0.5 - math.log(2 * 0.5)
    else:
        per_element = -0.5 * ((x - params) / 0.5) ** 2 - math.log(0.5 * math.sqrt(2 * math.pi))
    log_p = layer.distribution(tf.constant(params)).log_prob(x).numpy()
    np.testing.assert_allclose(log_p, per_element.reshape(3, -1).sum(axis=1), rtol=1e-4)


def _ramps(num, seed=0):
    """Grey images in (0, 1) that vary smoothly with two random slopes: every pixel carries information."""
    slopes = np.random.default_rng(seed).uniform(-2, 2, size=(num, 2, 1, 1))
    grid = (np.arange(16) - 7.5) / 4
    return (1 / (1 + np.exp(-(slopes[:, 0] * grid[:, None] + slopes[:, 1] * grid[None, :]))))[..., None].astype(np.float32)


@pytest.mark.parametrize("name", ["continuous_bernoulli", "laplace"])
def test_named_likelihood_trains_and_saves_by_name(name, tmp_path):
    images = _ramps(128)
    model = BetaVAE(latent_dim=LATENT, input_shape=(16, 16, 1), likelihood=name, beta=1.0, seed=0)
    before = _loss(model, images)
    _train(model, images, epochs=8)
    after = _loss(model, images)
    assert after < before - 10.0, (before, after)  # nats per image; a step's noise is well under 1
    assert model.get_config()["likelihood"] == name
    model.save(tmp_path / "m.keras")
    assert keras.models.load_model(tmp_path / "m.keras").likelihood_name == name


@keras.saving.register_keras_serializable(package="test_user_networks")
def student_t(params):
    return tfd.Independent(tfd.StudentT(df=3.0, loc=params, scale=0.2), reinterpreted_batch_ndims=1)


def test_a_callable_likelihood_is_used_and_saved(tmp_path):
    model = BetaVAE(latent_dim=LATENT, input_shape=(8,), likelihood=student_t, seed=0)
    vectors = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    terms = model.vae_terms(tf.constant(vectors))
    expected = -np.mean(student_t(model.decoder(terms["codes"])).log_prob(vectors).numpy())
    np.testing.assert_allclose(float(terms["reconstruction"]), expected, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.likelihood_name == "student_t"
    np.testing.assert_allclose(loaded.encode(vectors), model.encode(vectors), atol=1e-6)


# ----------------------------------------------------------------------------- vectors
def test_vectors_get_an_mlp_and_train():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(512, 2))
    vectors = (np.tanh(codes @ rng.normal(size=(2, 10))) + 0.05 * rng.normal(size=(512, 10))).astype(np.float32)
    model = BetaVAE(latent_dim=LATENT, input_shape=(10,), likelihood="gaussian", beta=1.0, seed=0)
    assert type(model.encoder).__name__ == "MLPEncoder"
    before = _loss(model, vectors)
    _train(model, vectors, epochs=3)
    assert _loss(model, vectors) < 0.7 * before
    with pytest.raises(ValueError, match=r"images must have shape \[batch, 10\]"):
        model.encode(np.zeros((2, 9), np.float32))


# ----------------------------------------------------------------------------- downstream, with unchanged calls
def test_export_takes_the_models_own_shape_and_bare_tensorflow_loads_it(tmp_path):
    from tfbetavae.export import export_saved_model

    encoder, decoder = sequential_networks()
    model = BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT, likelihood="continuous_bernoulli")
    folder = export_saved_model(model, tmp_path / "base")
    loaded = tf.saved_model.load(str(folder))
    images = Squares().sample(3, np.random.default_rng(0))[1]
    encoded = loaded.signatures["encode"](images=tf.constant(images))
    assert encoded["mean"].shape == (3, LATENT)
    np.testing.assert_allclose(encoded["mean"].numpy(), model.encode(images), atol=1e-5)
    codes = np.random.default_rng(1).normal(size=(2, LATENT)).astype(np.float32)
    decoded = loaded.signatures["decode"](z=tf.constant(codes))["mean"].numpy()
    assert decoded.shape == (2, 28, 28, 1)
    np.testing.assert_allclose(decoded, model.decode(codes), atol=1e-5)
    assert tfbetavae.load(folder).reconstruct(images).shape == (3, 28, 28, 1)


def test_export_of_a_vector_model_takes_unbounded_vectors(tmp_path):
    from tfbetavae.export import export_saved_model

    model = BetaVAE(latent_dim=2, input_shape=(5,), likelihood="gaussian", seed=0)
    folder = export_saved_model(model, tmp_path / "base")
    vectors = np.random.default_rng(0).normal(scale=3.0, size=(4, 5)).astype(np.float32)
    mean = tf.saved_model.load(str(folder)).signatures["reconstruct"](images=tf.constant(vectors))["reconstruction"]
    np.testing.assert_allclose(mean.numpy(), model.reconstruct(vectors), atol=1e-5)
    np.testing.assert_allclose(tfbetavae.load(folder).encode(vectors), model.encode(vectors), atol=1e-5)


def test_every_metric_runs_on_a_users_28x28_ground_truth_data():
    from tfbetavae.metrics import evaluate

    encoder, decoder = sequential_networks()
    model = BetaVAE(encoder=encoder, decoder=decoder, latent_dim=LATENT)
    names = ("beta_vae", "factor_vae", "mig", "dci", "sap")
    scores = evaluate(
        model, Squares(), names, seed=0, progress=False,
        **{"beta_vae": {"num_train": 40, "num_eval": 20, "batch_size": 8},
           "factor_vae": {"num_train": 40, "num_eval": 20, "batch_size": 8, "num_variance_estimate": 64},
           "mig": {"num_train": 64}, "dci": {"num_train": 64, "num_test": 32}, "sap": {"num_train": 64, "num_test": 32}},
    )
    for name in names:
        assert any(key == name or key.startswith(name + "_") for key in scores), (name, scores)
    assert all(np.isfinite(value) for value in scores.values()), scores


def test_factor_vae_trains_a_learned_scale_with_the_networks():
    images = _ramps(64)
    model = FactorVAE(latent_dim=2, input_shape=(16, 16, 1), likelihood="gaussian_learned_scale",
                      discriminator_units=8, discriminator_depth=1, seed=0)
    start = model.likelihood_layer.log_scale.numpy().copy()
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.fit(images, batch_size=32, epochs=2, verbose=0)
    assert np.all(np.abs(model.likelihood_layer.log_scale.numpy() - start) > 1e-3)


class Bumps(GroundTruthData):
    """Vectors of 8 features: two bumps whose positions are the factors (vector ground-truth data)."""

    @property
    def factor_names(self):
        return ("first", "second")

    @property
    def factor_sizes(self):
        return (4, 4)

    @property
    def observation_shape(self):
        return (8,)

    def _render(self, factors, rng):
        vectors = np.zeros((len(factors), 8), np.float32)
        vectors[np.arange(len(factors)), factors[:, 0]] = 1.0
        vectors[np.arange(len(factors)), 4 + factors[:, 1]] = 1.0
        return vectors + rng.normal(scale=0.05, size=vectors.shape).astype(np.float32)


def test_vectors_train_through_train_and_score_with_metrics():
    data = Bumps()
    model = BetaVAE(latent_dim=2, input_shape=(8,), likelihood="gaussian", beta=1.0, seed=0)
    vectors = data.sample(256, np.random.default_rng(0))[1]
    before = _loss(model, vectors)
    tfbetavae.train(model, data, steps=60, batch_size=32, learning_rate=3e-3, verbose=0)
    tfbetavae.train(model, vectors, steps=70, batch_size=32, learning_rate=3e-3, verbose=0)  # an array of vectors too
    assert _loss(model, vectors) < 0.7 * before
    assert np.isfinite(tfbetavae.mig(model, data, num_train=128, progress=False)["mig"])


def test_tuner_searches_the_networks_hook_alongside_beta(tmp_path):
    from tfbetavae.tuning import results_table, search

    def build_networks(hp):
        units = hp.Choice("units", [8, 32])
        latent = hp.get("latent_dim")
        encoder = keras.Sequential(
            [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(units, activation="relu"),
             keras.layers.Dense(2 * latent)]
        )
        decoder = keras.Sequential(
            [keras.Input((latent,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(28 * 28),
             keras.layers.Reshape((28, 28, 1))]
        )
        return encoder, decoder

    tuner = search(
        Squares(), tmp_path, "arch", max_trials=3, steps=3, betas=[1, 4],
        build_networks=build_networks, objective="mig", metric_kwargs={"num_train": 64},
        latent_dim=2, batch_size=8, num_eval_images=16,
    )
    rows = results_table(tuner)
    assert {row["status"] for row in rows} == {"COMPLETED"}
    trials = tuner.oracle.get_best_trials(3)
    assert {trial.hyperparameters.get("units") for trial in trials} <= {8, 32}
    model = tuner.get_best_models(1)[0]
    assert isinstance(model.encoder, keras.Sequential)
    assert model.encoder.layers[1].units == tuner.oracle.get_best_trials(1)[0].hyperparameters.get("units")


# ----------------------------------------------------------------------------- command line
def test_cli_trains_28x28_folder_images_with_a_named_likelihood(tmp_path, capsys):
    from PIL import Image

    from tfbetavae.cli import main
    from tfbetavae.cli.train_command import add_model_arguments

    folder = tmp_path / "images"
    folder.mkdir()
    for n, image in enumerate(Squares().sample(24, np.random.default_rng(0))[1]):
        Image.fromarray((image[..., 0] * 255).astype(np.uint8)).save(folder / f"{n}.png")
    run = tmp_path / "run"
    assert main(["train", "--data", str(folder), "--image-size", "28,28", "--channels", "1", "--likelihood",
                 "continuous_bernoulli", "--latent-dim", "2", "--steps", "3", "--batch-size", "8", "--out", str(run)]) == 0
    model = tfbetavae.load(run)
    assert model.image_shape == (28, 28, 1) and model.likelihood_name == "continuous_bernoulli"
    parser = __import__("argparse").ArgumentParser()
    add_model_arguments(parser)
    choices = next(a.choices for a in parser._actions if a.dest == "likelihood")
    assert tuple(choices) == likelihoods.LIKELIHOODS  # the CLI's list is the library's


def test_a_likelihood_object_keeps_its_own_scale_through_saving(tmp_path):
    model = BetaVAE(latent_dim=2, input_shape=(6,), likelihood=likelihoods.Laplace(scale=0.3), seed=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras").likelihood_layer
    assert isinstance(loaded, likelihoods.Laplace) and loaded.scale == 0.3
