"""β-TCVAE and FactorVAE: the TC estimators, the permutation, the discriminator, training, saving, export, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbetavae import BetaVAE, train
from tfbetavae.objectives import (
    BetaTCVAE,
    Discriminator,
    FactorVAE,
    dataset_size_of,
    density_ratio_tc,
    discriminator_terms,
    minibatch_weighted_decomposition,
    minibatch_weighted_tc,
    permute_dims,
)

SMALL = {"latent_dim": 3, "input_shape": (32, 32, 1), "seed": 1}
TINY_DISCRIMINATOR = {"discriminator_units": 16, "discriminator_depth": 2}


def analytic_tc(covariance):
    """TC of a Gaussian: 0.5 · (Σ log σ_i² − log det Σ)."""
    return 0.5 * (np.sum(np.log(np.diag(covariance))) - np.linalg.slogdet(covariance)[1])


def narrow_posteriors(covariance, batch, sigma, seed):
    """Codes of q(z|x_i) = N(x_i, σ²I) with x_i drawn from N(0, covariance): q(z) = N(0, covariance + σ²I)."""
    rng = np.random.default_rng(seed)
    means = rng.multivariate_normal(np.zeros(len(covariance)), covariance, size=batch).astype("float32")
    log_variance = np.full_like(means, 2 * math.log(sigma))
    codes = means + sigma * rng.standard_normal(means.shape).astype("float32")
    return codes, means, log_variance


@pytest.fixture(scope="module")
def small_images(sprites):
    """dSprites downsampled to 32x32 (2x2 average), so the tiny models train in seconds."""
    images = sprites.sample(512, np.random.default_rng(7))[1]
    return images.reshape(512, 32, 2, 32, 2, 1).mean(axis=(2, 4))


# --------------------------------------------------------------------------- estimators
def test_minibatch_weighted_estimates_match_a_direct_computation():
    rng = np.random.default_rng(0)
    m, d, n = 7, 3, 50
    mean = rng.normal(size=(m, d)).astype("float32")
    log_variance = rng.normal(scale=0.5, size=(m, d)).astype("float32")
    z = (mean + np.exp(0.5 * log_variance) * rng.normal(size=(m, d))).astype("float32")

    def log_normal(x, mu, log_var):
        return -0.5 * (np.log(2 * np.pi) + log_var + (x - mu) ** 2 / np.exp(log_var))

    def logsumexp(values):
        top = max(values)
        return top + math.log(sum(math.exp(v - top) for v in values))

    log_q_z, log_prod, log_q_given_x, log_p = [], [], [], []
    for i in range(m):
        log_q_z.append(logsumexp([log_normal(z[i], mean[j], log_variance[j]).sum() for j in range(m)]) - math.log(n * m))
        log_prod.append(sum(
            logsumexp([log_normal(z[i, k], mean[j, k], log_variance[j, k]) for j in range(m)]) - math.log(n * m)
            for k in range(d)
        ))
        log_q_given_x.append(log_normal(z[i], mean[i], log_variance[i]).sum())
        log_p.append(log_normal(z[i], 0.0, 0.0).sum())
    expected = {
        "mutual_information": np.mean(np.array(log_q_given_x) - log_q_z),
        "total_correlation": np.mean(np.array(log_q_z) - log_prod),
        "dimension_kl": np.mean(np.array(log_prod) - log_p),
    }
    parts = minibatch_weighted_decomposition(z, mean, log_variance, n)
    for key, value in expected.items():
        np.testing.assert_allclose(float(parts[key]), value, rtol=1e-4, atol=1e-4, err_msg=key)
    np.testing.assert_allclose(float(minibatch_weighted_tc(z, mean, log_variance, n)), expected["total_correlation"], rtol=1e-4)


def test_dataset_size_only_shifts_the_terms_by_constants():
    codes, means, log_variance = narrow_posteriors(np.eye(4), 64, 0.5, seed=1)
    n = 737_280
    one = minibatch_weighted_decomposition(codes, means, log_variance, 1)
    big = minibatch_weighted_decomposition(codes, means, log_variance, n)
    log_n = math.log(n)
    np.testing.assert_allclose(float(big["mutual_information"] - one["mutual_information"]), log_n, rtol=1e-5)
    np.testing.assert_allclose(float(big["total_correlation"] - one["total_correlation"]), 3 * log_n, rtol=1e-5)
    np.testing.assert_allclose(float(big["dimension_kl"] - one["dimension_kl"]), -4 * log_n, rtol=1e-5)
    # The three parts always add up to the one-sample KL estimate E[log q(z|x) − log p(z)].
    total = sum(float(big[key]) for key in ("mutual_information", "total_correlation", "dimension_kl"))
    np.testing.assert_allclose(total, float(tf.reduce_mean(big["log_q_z_given_x"] - big["log_p_z"])), atol=1e-3)

    # ... so N does not change the gradient of the TC with respect to the posterior parameters.
    def gradient(size):
        mean = tf.constant(means)
        with tf.GradientTape() as tape:
            tape.watch(mean)
            value = minibatch_weighted_tc(codes, mean, log_variance, size)
        return tape.gradient(value, mean).numpy()

    np.testing.assert_allclose(gradient(1), gradient(n), atol=1e-5)


# Minibatch-weighted sampling estimates log q(z_i) by logsumexp_j log q(z_i|x_j) − log(N·M). With q(z|x_i) = N(x_i, σ²I)
# and x_i ~ N(0, Σ), the aggregate posterior is the continuous N(0, Σ + σ²I), whose TC we know; its honest "N" is the
# one that turns the weights into the plain minibatch average 1/M, N = 1 (any other N adds exactly (D − 1)·log N, see
# above). What is left is the bias of a kernel estimate from M samples that includes each code's own posterior (q(z_i|x_i)
# is counted at full weight): it is positive, grows as σ shrinks towards the spacing of the M codes (very narrow
# posteriors → the estimate tends to (D − 1)·log M) and shrinks as M grows. With σ = 0.1 and M = 2048 in 2-D it is
# about +0.03 nats on the correlated target (seen over 10 seeds: 0.80–0.84 for a true 0.79/0.83) and +0.08–0.13 on the
# independent one; the tolerances below allow for that and no more.
@pytest.mark.parametrize("seed", [0, 1])
def test_tc_estimate_of_a_correlated_gaussian(seed):
    covariance = np.array([[1.0, 0.9], [0.9, 1.0]])
    sigma = 0.1
    codes, means, log_variance = narrow_posteriors(covariance, 2048, sigma, seed)
    estimate = float(minibatch_weighted_tc(codes, means, log_variance, dataset_size=1))
    aggregate = analytic_tc(covariance + sigma**2 * np.eye(2))  # 0.790: the TC of q(z)
    target = analytic_tc(covariance)  # 0.830
    assert abs(estimate - aggregate) < 0.08, (estimate, aggregate)
    assert abs(estimate - target) < 0.08, (estimate, target)


def test_tc_estimate_of_an_independent_gaussian_is_near_zero():
    codes, means, log_variance = narrow_posteriors(np.diag([1.0, 3.0]), 2048, 0.1, seed=2)
    estimate = float(minibatch_weighted_tc(codes, means, log_variance, dataset_size=1))
    assert 0.0 <= estimate < 0.15, estimate  # the positive self-term bias discussed above, ~0.1 nats


def test_estimate_bias_shrinks_with_the_batch():
    estimates = []
    for batch in (256, 2048):
        codes, means, log_variance = narrow_posteriors(np.eye(2), batch, 0.1, seed=3)
        estimates.append(float(minibatch_weighted_tc(codes, means, log_variance, 1)))
    assert estimates[1] < estimates[0]


# --------------------------------------------------------------------------- permutation and discriminator
def test_permute_dims_keeps_marginals_and_breaks_dependence():
    rng = np.random.default_rng(4)
    z = rng.multivariate_normal(np.zeros(3), [[1, 0.9, 0.8], [0.9, 1, 0.85], [0.8, 0.85, 1]], size=2000).astype("float32")
    permuted = permute_dims(z, seed=[3, 4]).numpy()
    for column in range(3):
        np.testing.assert_array_equal(np.sort(permuted[:, column]), np.sort(z[:, column]))  # the same values
        assert not np.array_equal(permuted[:, column], z[:, column])
    original_corr = np.corrcoef(z, rowvar=False)[np.triu_indices(3, 1)]
    permuted_corr = np.corrcoef(permuted, rowvar=False)[np.triu_indices(3, 1)]
    assert np.all(original_corr > 0.75) and np.all(np.abs(permuted_corr) < 0.1), permuted_corr
    # Columns get different permutations, stateless: the same seed gives the same result, also under XLA.
    assert not np.array_equal(np.argsort(permuted[:, 0]), np.argsort(permuted[:, 1]))
    np.testing.assert_array_equal(permute_dims(z, seed=[3, 4]).numpy(), permuted)
    assert not np.array_equal(permute_dims(z, seed=[3, 5]).numpy(), permuted)
    compiled = tf.function(permute_dims, jit_compile=True)(tf.constant(z), tf.constant([3, 4]))
    np.testing.assert_array_equal(np.sort(compiled.numpy(), axis=0), np.sort(z, axis=0))


def test_discriminator_learns_to_detect_correlation():
    discriminator = Discriminator(latent_dim=2, units=32, depth=2)
    optimizer = keras.optimizers.Adam(1e-3)
    covariance = tf.constant([[1.0, 0.95], [0.95, 1.0]])
    scale = tf.linalg.cholesky(covariance)

    @tf.function
    def step(seed):
        z = tf.random.stateless_normal((256, 2), seed=seed) @ tf.transpose(scale)
        permuted = permute_dims(z, seed + 1)
        with tf.GradientTape() as tape:
            loss, accuracy = discriminator_terms(discriminator, z, permuted, training=True)
        gradients = tape.gradient(loss, discriminator.trainable_variables)
        optimizer.apply_gradients(zip(gradients, discriminator.trainable_variables))
        return loss, accuracy

    losses = [float(step(tf.constant([i, 0]))[0]) for i in range(300)]
    z = tf.random.stateless_normal((2000, 2), seed=[999, 1]) @ tf.transpose(scale)
    loss, accuracy = discriminator_terms(discriminator, z, permute_dims(z, [5, 6]))
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.1, (losses[:5], losses[-5:])
    assert float(accuracy) > 0.6 and float(loss) < math.log(2)
    # The density-ratio TC estimate is positive on correlated codes (analytic TC = 1.16 nats).
    assert float(density_ratio_tc(discriminator, z)) > 0.2


# --------------------------------------------------------------------------- the models
def test_beta_tcvae_loss_is_the_weighted_decomposition(small_images):
    model = BetaTCVAE(dataset_size=1000, alpha=0.5, beta=6.0, gamma=2.0, **SMALL)
    terms = model.compute_terms(small_images[:16])
    expected = (terms["reconstruction"] + 0.5 * terms["mutual_information"] + 6.0 * terms["total_correlation"]
                + 2.0 * terms["dimension_kl"])
    np.testing.assert_allclose(float(terms["loss"]), float(expected), rtol=1e-6)
    assert terms["kl_per_dim"].shape == (16, 3)
    # With α = β = γ = 1 the penalty is a one-sample estimate of the KL term of the plain VAE.
    model = BetaTCVAE(dataset_size=1000, alpha=1.0, beta=1.0, gamma=1.0, **SMALL)
    x = small_images[:256]
    penalties = [float(t["loss"] - t["reconstruction"]) for t in (model.compute_terms(x) for _ in range(5))]
    analytic = float(model.compute_terms(x)["kl"])
    assert abs(np.mean(penalties) - analytic) < 0.1 + 0.1 * analytic, (penalties, analytic)


def test_factor_vae_loss_and_one_train_step_updates_both_players(small_images):
    model = FactorVAE(gamma=10.0, **SMALL, **TINY_DISCRIMINATOR)
    terms = model.compute_terms(small_images[:16])
    expected = terms["reconstruction"] + 1.0 * terms["kl"] + 10.0 * terms["total_correlation"]
    np.testing.assert_allclose(float(terms["loss"]), float(expected), rtol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    before_encoder = [v.numpy().copy() for v in model.encoder.trainable_variables]
    before_discriminator = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    logs = model.train_on_batch(small_images[:16], return_dict=True)
    assert {"loss", "reconstruction", "kl", "total_correlation", "discriminator_loss", "discriminator_accuracy"} <= set(logs)
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(before_encoder, model.encoder.trainable_variables))
    assert any(not np.allclose(a, v.numpy()) for a, v in zip(before_discriminator, model.discriminator.trainable_variables))
    assert int(model.optimizer.iterations) == 1 and int(model.discriminator_optimizer.iterations) == 1
    # The VAE optimiser holds slots for the encoder/decoder only, not for the discriminator.
    assert len(model.optimizer.variables) == 2 + 2 * len(model.vae_variables)


@pytest.mark.parametrize("kind", ["beta_tcvae", "factor_vae"])
def test_models_train_with_fit_save_reload_and_export(kind, small_images, tmp_path):
    if kind == "beta_tcvae":
        model = BetaTCVAE(dataset_size=len(small_images), **SMALL)
        extra = ("mutual_information", "total_correlation", "dimension_kl")
    else:
        model = FactorVAE(**SMALL, **TINY_DISCRIMINATOR)
        extra = ("total_correlation", "discriminator_loss", "discriminator_accuracy")
    history = train(model, small_images, steps=150, batch_size=32, steps_per_epoch=50, learning_rate=1e-3, verbose=0)
    logs = history.history
    assert {"loss", "reconstruction", "kl", *extra} <= set(logs)
    assert logs["loss"][-1] < logs["loss"][0] - 5, logs["loss"]
    assert logs["reconstruction"][-1] < logs["reconstruction"][0], logs["reconstruction"]
    assert all(np.isfinite(values).all() for values in logs.values())

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    x = small_images[:8]
    np.testing.assert_array_equal(loaded.encode(x).numpy(), model.encode(x).numpy())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 150
    # the noise is a function of (seed, step), both restored: the same loss terms
    model_terms, loaded_terms = model.compute_terms(x), loaded.compute_terms(x)
    for key in model_terms:
        np.testing.assert_allclose(loaded_terms[key].numpy(), model_terms[key].numpy(), rtol=1e-6, err_msg=key)
    if kind == "factor_vae":
        codes = model.encode(x)
        np.testing.assert_array_equal(loaded.discriminator(codes).numpy(), model.discriminator(codes).numpy())
        assert int(loaded.discriminator_optimizer.iterations) == 150
        for saved, restored in zip(model.discriminator_optimizer.variables, loaded.discriminator_optimizer.variables):
            np.testing.assert_array_equal(restored.numpy(), saved.numpy())
    # Training goes on from the reloaded state.
    loaded.fit(small_images[:64], batch_size=32, epochs=1, verbose=0)
    assert int(loaded.step_counter) == 152

    export = pytest.importorskip("tfbetavae.export")
    folder = export.export_saved_model(model, tmp_path / "exported", version=1)
    served = export.load_exported(folder)
    np.testing.assert_allclose(served.encode(x)["mean"], model.encode(x).numpy(), atol=1e-5)


def test_from_config_round_trip():
    model = BetaTCVAE(dataset_size=123, alpha=0.5, beta=3.0, gamma=2.0, **SMALL)
    clone = BetaTCVAE.from_config(model.get_config())
    assert clone.get_config() == model.get_config() and clone.dataset_size == 123 and clone.alpha == 0.5
    factor = FactorVAE(gamma=20.0, discriminator_optimizer=keras.optimizers.Adam(3e-4), **SMALL, **TINY_DISCRIMINATOR)
    clone = FactorVAE.from_config(factor.get_config())
    assert clone.get_config() == factor.get_config()
    assert clone.discriminator.units == 16 and clone.discriminator.depth == 2
    assert math.isclose(float(clone.discriminator_optimizer.learning_rate), 3e-4, rel_tol=1e-6)
    default = FactorVAE(**SMALL)
    assert len(default.discriminator.hidden) == 6 and default.discriminator.units == 1000
    optimizer = default.discriminator_optimizer
    assert isinstance(optimizer, keras.optimizers.Adam) and math.isclose(float(optimizer.learning_rate), 1e-4, rel_tol=1e-6)
    assert (optimizer.beta_1, optimizer.beta_2) == (0.5, 0.9)
    assert isinstance(default, BetaVAE) and default.gamma == 35.0 and default.beta == 1.0


def test_dataset_size_from_data(sprites):
    assert dataset_size_of(sprites) == 737_280
    model = BetaTCVAE.for_data(sprites, latent_dim=2, input_shape=(64, 64, 1))
    assert model.dataset_size == 737_280
    assert (model.alpha, model.beta, model.gamma) == (1.0, 6.0, 1.0)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: BetaTCVAE(**SMALL), "dataset_size"),
        (lambda: BetaTCVAE(dataset_size=0, **SMALL), "dataset_size"),
        (lambda: BetaTCVAE(dataset_size=10.5, **SMALL), "dataset_size"),
        (lambda: BetaTCVAE(dataset_size=True, **SMALL), "dataset_size"),
        (lambda: BetaTCVAE(dataset_size=10, alpha=-1.0, **SMALL), "alpha"),
        (lambda: BetaTCVAE(dataset_size=10, beta=-6.0, **SMALL), "beta"),
        (lambda: BetaTCVAE(dataset_size=10, gamma=float("nan"), **SMALL), "gamma"),
        (lambda: BetaTCVAE(dataset_size=10, capacity=5.0, **SMALL), "capacity"),
        (lambda: FactorVAE(gamma=-35.0, **SMALL), "gamma"),
        (lambda: FactorVAE(beta=-1.0, **SMALL), "beta"),
        (lambda: FactorVAE(discriminator_units=0, **SMALL), "discriminator_units"),
        (lambda: FactorVAE(discriminator_depth=1.5, **SMALL), "discriminator_depth"),
        (lambda: FactorVAE(discriminator_negative_slope=-0.2, **SMALL), "negative_slope"),
        (lambda: FactorVAE(capacity=5.0, **SMALL), "capacity"),
        (lambda: dataset_size_of(object()), "dataset_size"),
        (lambda: minibatch_weighted_tc(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)), -3), "dataset_size"),
    ],
)
def test_clear_errors(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()
