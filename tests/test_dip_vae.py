"""DIP-VAE-I and -II: the covariance penalty's known answers, training, the factory, saving, export, the CLI."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbetavae import BetaVAE, train
from tfbetavae.cli import main
from tfbetavae.export import export_saved_model
from tfbetavae.objectives import DIPVAE, build_model, dip_covariance, dip_penalty, objective_name

SMALL = {"latent_dim": 4, "input_shape": (32, 32, 1), "seed": 1}

# Six posterior means and log-variances of a 3-D code, written out so the values below can be recomputed anywhere.
MEANS = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -1.0], [-0.5, 2.0, 0.5],
                  [0.0, 1.0, 1.0], [2.0, -0.5, 0.0], [-1.5, 0.5, -2.5]], np.float32)
LOG_VARIANCES = np.array([[-1.0, 0.0, -2.0], [0.5, -0.5, -1.0], [0.0, 0.0, 0.0],
                          [-3.0, 1.0, -0.5], [-1.5, -1.0, 0.25], [0.0, -2.0, -1.0]], np.float32)
# disentanglement_lib's regulariser on MEANS/LOG_VARIANCES (its DIPVAE.regularizer without the KL term):
# compute_covariance_z_mean and regularize_diag_off_diag_dip of disentanglement_lib/methods/unsupervised/vae.py at
# commit 86a644d4ed35c771560dc3360756363d35477357, re-typed in numpy in a throwaway script outside this repository
# and run in float64 on the arrays above. Keys: (dip_type, lambda_od, lambda_d_factor); lambda_d = factor * lambda_od.
DISENTANGLEMENT_LIB = {
    ("i", 1.0, 1.0): 2.7646604938271606,
    ("i", 10.0, 10.0): 146.95216049382717,
    ("ii", 10.0, 1.0): 64.72782874137019,
    ("ii", 2.0, 3.0): 33.08052440531595,
}


def by_hand(means, log_variances, dip_type, lambda_od, lambda_d):
    """The penalty straight from its definition, in float64 numpy (np.cov with bias=True divides by M)."""
    covariance = np.cov(np.asarray(means, np.float64), rowvar=False, bias=True)
    if dip_type == "ii":
        covariance = covariance + np.diag(np.exp(np.asarray(log_variances, np.float64)).mean(axis=0))
    off = covariance - np.diag(np.diag(covariance))
    return lambda_od * np.sum(off**2) + lambda_d * np.sum((np.diag(covariance) - 1) ** 2)


def with_covariance(target, count, seed):
    """``count`` points whose population covariance is exactly ``target`` (whitened, then coloured)."""
    rng = np.random.default_rng(seed)
    points = rng.standard_normal((count, len(target)))
    points -= points.mean(axis=0)
    whiten = np.linalg.inv(np.linalg.cholesky(points.T @ points / count))
    return points @ whiten.T @ np.linalg.cholesky(target).T


@pytest.fixture(scope="module")
def small_images(sprites):
    """dSprites downsampled to 32x32 (2x2 average), so the tiny models train in seconds."""
    images = sprites.sample(256, np.random.default_rng(7))[1]
    return images.reshape(256, 32, 2, 32, 2, 1).mean(axis=(2, 4))


# --------------------------------------------------------------------------- the penalty
@pytest.mark.parametrize(("dip_type", "lambda_od", "factor"), list(DISENTANGLEMENT_LIB))
def test_penalty_equals_disentanglement_libs_and_the_definition(dip_type, lambda_od, factor):
    lambda_d = factor * lambda_od
    ours = float(dip_penalty(dip_covariance(MEANS, LOG_VARIANCES, dip_type), lambda_od, lambda_d)["penalty"])
    expected = by_hand(MEANS, LOG_VARIANCES, dip_type, lambda_od, lambda_d)
    assert expected == pytest.approx(DISENTANGLEMENT_LIB[dip_type, lambda_od, factor], rel=1e-12)
    assert ours == pytest.approx(expected, rel=1e-5)


def test_penalty_of_known_covariances():
    # Identity covariance of the means: no penalty for DIP-VAE-I, whatever the weights.
    identity = with_covariance(np.eye(4), 64, seed=0)
    parts = dip_penalty(dip_covariance(identity, np.zeros_like(identity), "i"), 7.0, 70.0)
    assert all(abs(float(value)) < 1e-4 for value in parts.values()), parts
    # C = [[2, .5, 0], [.5, 1, -.3], [0, -.3, .5]]: off-diagonal squares 2·(.25 + .09) = .68, diagonal (1 + 0 + .25).
    target = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, -0.3], [0.0, -0.3, 0.5]])
    means = with_covariance(target, 50, seed=1)
    parts = {k: float(v) for k, v in dip_penalty(dip_covariance(means, np.zeros_like(means), "i"), 3.0, 5.0).items()}
    assert parts["off_diagonal"] == pytest.approx(0.68, abs=1e-5)
    assert parts["diagonal"] == pytest.approx(1.25, abs=1e-5)
    assert parts["penalty"] == pytest.approx(3.0 * 0.68 + 5.0 * 1.25, abs=1e-4)
    # DIP-VAE-II adds E[σ²] to the diagonal: means of covariance I − diag(v) with variances v give C = I, penalty 0.
    variances = np.array([0.5, 0.25, 0.75])
    means = with_covariance(np.eye(3) - np.diag(variances), 40, seed=2)
    log_variances = np.log(np.tile(variances, (40, 1)))
    assert abs(float(dip_penalty(dip_covariance(means, log_variances, "ii"), 10.0, 10.0)["penalty"])) < 1e-4
    # ... which DIP-VAE-I, blind to the variances, penalises by exactly λ_d·Σ v².
    penalty_i = float(dip_penalty(dip_covariance(means, log_variances, "i"), 10.0, 10.0)["penalty"])
    assert penalty_i == pytest.approx(10.0 * np.sum(variances**2), abs=1e-4)


def test_the_loss_is_the_vae_loss_plus_the_penalty(small_images):
    x = small_images[:16]
    for dip_type in ("i", "ii"):
        model = DIPVAE(dip_type=dip_type, lambda_od=3.0, lambda_d=4.0, **SMALL)
        terms = model.compute_terms(x)
        mean, log_variance = model.encode(x, return_log_variance=True)
        expected = by_hand(mean.numpy(), log_variance.numpy(), dip_type, 3.0, 4.0)
        assert float(terms["dip_penalty"]) == pytest.approx(expected, rel=1e-4)
        assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"] + terms["kl"] + expected), rel=1e-5)


def test_defaults_follow_disentanglement_libs_sweep():
    one, two = DIPVAE(input_shape=(8,)), DIPVAE(dip_type="ii", input_shape=(8,))
    assert (one.dip_type, one.lambda_od, one.lambda_d) == ("i", 10.0, 100.0)  # lambda_d_factor 10 for DIP-VAE-I
    assert (two.dip_type, two.lambda_od, two.lambda_d) == ("ii", 10.0, 10.0)  # lambda_d_factor 1 for DIP-VAE-II
    assert DIPVAE(dip_type="ii", lambda_od=2.0, input_shape=(8,)).lambda_d == 2.0
    assert one.beta == 1.0 and isinstance(one, BetaVAE)


# --------------------------------------------------------------------------- training
@pytest.mark.parametrize(("dip_type", "policy"), [("i", "float32"), ("ii", "mixed_bfloat16")])
def test_both_types_train_with_fit(dip_type, policy, small_images):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = DIPVAE(dip_type=dip_type, **SMALL)
        history = train(model, small_images, steps=60, batch_size=32, steps_per_epoch=20, learning_rate=1e-3, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    logs = history.history
    assert {"loss", "reconstruction", "kl", "dip_penalty", "dip_off_diagonal", "dip_diagonal"} <= set(logs)
    assert all(np.isfinite(values).all() for values in logs.values())
    assert logs["loss"][-1] < logs["loss"][0] - 50, logs["loss"]
    # Measured (seed 1): DIP-VAE-I's penalty 242 -> 87 as the means spread towards unit variance; DIP-VAE-II's
    # 3.4 -> 0.0, its posteriors collapsing onto the prior (C = I exactly, KL 0) this early in training.
    assert logs["dip_penalty"][-1] < 0.5 * logs["dip_penalty"][0], logs["dip_penalty"]
    assert model.encoder.convs[0].compute_dtype == ("bfloat16" if policy == "mixed_bfloat16" else "float32")
    assert model.compute_terms(small_images[:8])["dip_penalty"].dtype == tf.float32


# --------------------------------------------------------------------------- factory
def test_the_factory_builds_both_types_and_names_them():
    for objective, dip_type in (("dip-vae-i", "i"), ("dip-vae-ii", "ii")):
        model = build_model(objective, input_shape=(8,), latent_dim=3, lambda_od=5.0)
        expected = DIPVAE(dip_type=dip_type, lambda_od=5.0, input_shape=(8,), latent_dim=3)
        config, hand = model.get_config(), expected.get_config()
        config.pop("name"), hand.pop("name")
        assert type(model) is DIPVAE and config == hand
        assert objective_name(model) == objective
    assert build_model("dip-vae-ii", input_shape=(8,), lambda_od=2.0, lambda_d=7.0).lambda_d == 7.0


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: build_model("dip-vae-i", input_shape=(8,), lambda_od=-1.0), "lambda_od must be a finite number >= 0"),
        (lambda: build_model("dip-vae-ii", input_shape=(8,), lambda_d=-0.5), "lambda_d must be a finite number >= 0"),
        (lambda: build_model("dip-vae-iii", input_shape=(8,)), "unknown objective 'dip-vae-iii'"),
        (lambda: build_model("dip-vae-i", input_shape=(8,), dip_type="ii"), "dip_type comes from the objective"),
        (lambda: build_model("beta-vae", input_shape=(8,), lambda_od=1.0),
         "lambda_od belongs to objectives dip-vae-i and dip-vae-ii, not 'beta-vae'"),
        (lambda: build_model("dip-vae-i", input_shape=(8,), beta=4.0), "DIPVAE takes no beta"),
        (lambda: build_model("dip-vae-i", input_shape=(8,), capacity=5.0), "capacity belongs to objective 'capacity'"),
        (lambda: DIPVAE(dip_type="iii", input_shape=(8,)), "dip_type must be 'i' .* or 'ii' .*, got 'iii'"),
        (lambda: DIPVAE(lambda_od="10", input_shape=(8,)), "lambda_od must be a finite number >= 0, got str '10'"),
    ],
)
def test_bad_settings_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# --------------------------------------------------------------------------- saving, export, command line
def test_keras_round_trip_and_export(small_images, tmp_path):
    model = DIPVAE(dip_type="ii", lambda_od=3.0, lambda_d=6.0, **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(small_images[:32], batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is DIPVAE and loaded.get_config() == model.get_config()
    assert (loaded.dip_type, loaded.lambda_od, loaded.lambda_d) == ("ii", 3.0, 6.0)
    x = small_images[:8]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model_terms, loaded_terms = model.compute_terms(x), loaded.compute_terms(x)
    for key in model_terms:
        np.testing.assert_allclose(loaded_terms[key].numpy(), model_terms[key].numpy(), rtol=1e-6, err_msg=key)

    folder = export_saved_model(model, tmp_path / "exported", version=1)
    served = tf.saved_model.load(str(folder)).signatures["encode"](images=tf.constant(x))
    np.testing.assert_allclose(served["mean"].numpy(), model.encode(x).numpy(), atol=1e-5)
    card = json.loads((folder / "model_card.json").read_text())
    assert card["model"]["objective"] == "dip-vae-ii" and card["model"]["config"]["lambda_d"] == 6.0


def test_the_command_line_trains_and_resumes(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--objective", "dip-vae-ii", "--lambda-od", "5", "--batch-size", "8", "--latent-dim", "2",
            "--steps-per-epoch", "2", "--out", str(run)]
    assert main([*args, "--steps", "2"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["objective"] == "dip-vae-ii"
    assert {k: config["model"][k] for k in ("dip_type", "lambda_od", "lambda_d")} == {
        "dip_type": "ii", "lambda_od": 5.0, "lambda_d": 5.0
    }
    assert main([*args, "--steps", "4"]) == 0  # the same flags extend the run from step 2
    resumed = keras.models.load_model(run / "model.keras")
    assert type(resumed) is DIPVAE and int(resumed.step_counter) == 4 and resumed.lambda_od == 5.0
    assert "dip_penalty" in capsys.readouterr().out  # the training summary shows it
    # Other weights are another model: refused by name, before any training.
    assert main([*args[:4], "6", *args[5:], "--steps", "6"]) == 2
    assert "lambda_od: 5.0 -> 6.0" in capsys.readouterr().err
    assert main(["train", "--lambda-od", "5", "--steps", "1", "--out", str(tmp_path / "other")]) == 2
    assert "lambda_od belongs to objectives dip-vae-i and dip-vae-ii, not 'beta-vae'" in capsys.readouterr().err
