"""Mixed precision: every policy trains, saves, loads across policies and exports float32 signatures."""

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfbetavae.precision as precision_module
from tfbetavae.cli import build_parser, main
from tfbetavae.export import export_saved_model
from tfbetavae.model import BetaVAE
from tfbetavae.objectives import BetaTCVAE, FactorVAE
from tfbetavae.precision import (
    PRECISIONS,
    cpu_has_native_bfloat16,
    current_precision,
    precision_scope,
    resolve_precision,
    use_precision,
)
from tfbetavae.training import compile_model

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
SHAPE = (16, 16, 1)


@pytest.fixture(autouse=True)
def _restore_policy():
    previous = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(previous)


@pytest.fixture(scope="module")
def squares():
    """Binary 16x16 images, each a 5x5 square at a random place: easy to learn in a few steps."""
    rng = np.random.default_rng(0)
    images = np.zeros((64, *SHAPE), np.float32)
    for image, (row, col) in zip(images, rng.integers(0, 12, size=(64, 2))):
        image[row : row + 5, col : col + 5] = 1.0
    return images


def _model(cls, **kwargs):
    extra = {
        BetaVAE: {},
        BetaTCVAE: {"dataset_size": 64},
        FactorVAE: {"discriminator_units": 16, "discriminator_depth": 2},
    }[cls]
    return cls(latent_dim=3, input_shape=SHAPE, seed=0, **extra, **kwargs)


def _fit(model, images, epochs=4, steps=8):
    dataset = tf.data.Dataset.from_tensor_slices(images).repeat().batch(16)
    return model.fit(dataset, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False).history


# ------------------------------------------------------------------------------------------------ names
def test_precision_names_are_checked():
    with pytest.raises(ValueError, match=r"unknown precision 'fp8'; choose one of float32, bfloat16, float16, auto"):
        resolve_precision("fp8")
    with pytest.raises(ValueError, match="'bf16'"):
        use_precision("bf16")
    assert resolve_precision("float32") == "float32" and resolve_precision("bfloat16") == "bfloat16"
    assert PRECISIONS == ("float32", "bfloat16", "float16", "auto")


def test_float16_without_a_gpu_warns_that_it_is_emulated(monkeypatch):
    monkeypatch.setattr(precision_module, "_has_gpu", lambda: False)
    with pytest.warns(UserWarning, match="float16 without a GPU.*slow"):
        assert resolve_precision("float16") == "float16"
    monkeypatch.setattr(precision_module, "_has_gpu", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("float16") == "float16"


def test_auto_reads_the_cpu_flags(tmp_path, monkeypatch):
    with_bf16 = tmp_path / "bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16\n\nprocessor\t: 1\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    amx = tmp_path / "amx"
    amx.write_text("flags : fpu amx_tile amx_bf16\n")
    assert cpu_has_native_bfloat16(with_bf16) and cpu_has_native_bfloat16(amx)
    assert not cpu_has_native_bfloat16(without) and not cpu_has_native_bfloat16(tmp_path / "missing")

    monkeypatch.setattr(precision_module, "_has_gpu", lambda: False)
    monkeypatch.setattr(precision_module, "AUTO_USES_BFLOAT16", True)
    monkeypatch.setattr(precision_module, "cpu_has_native_bfloat16", lambda: True)
    assert resolve_precision("auto") == "bfloat16"
    monkeypatch.setattr(precision_module, "cpu_has_native_bfloat16", lambda: False)
    assert resolve_precision("auto") == "float32"
    monkeypatch.setattr(precision_module, "cpu_has_native_bfloat16", lambda: True)
    monkeypatch.setattr(precision_module, "AUTO_USES_BFLOAT16", False)  # parity failed: never bf16
    assert resolve_precision("auto") == "float32"
    monkeypatch.setattr(precision_module, "AUTO_USES_BFLOAT16", True)
    monkeypatch.setattr(precision_module, "_has_gpu", lambda: True)  # the GPU computes: CPU flags do not count
    assert resolve_precision("auto") == "float32"


def test_use_precision_sets_the_policy_and_the_scope_restores_it():
    assert use_precision("bfloat16") == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16" and current_precision() == "bfloat16"
    with precision_scope("float32") as chosen:
        assert chosen == "float32" and keras.mixed_precision.global_policy().name == "float32"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    with pytest.raises(ValueError, match="unknown precision"), precision_scope("half"):
        pass
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"


# ------------------------------------------------------------------------------------------------ training
# float32 objectives: tests/test_objectives.py. BetaTCVAE shares BetaVAE's train_step, FactorVAE has its own.
TRAINING_CASES = [(BetaVAE, policy) for policy in POLICIES] + [
    (BetaTCVAE, "mixed_bfloat16"), (FactorVAE, "mixed_bfloat16"), (FactorVAE, "mixed_float16")
]


@pytest.mark.parametrize("cls, policy", TRAINING_CASES, ids=lambda c: getattr(c, "__name__", c))
def test_every_policy_trains_in_low_precision_with_float32_state(policy, cls, squares):
    keras.mixed_precision.set_global_policy(policy)
    model = compile_model(_model(cls), learning_rate=2e-3)
    low = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[policy]
    assert model.encoder.convs[0].compute_dtype == low and model.decoder.deconvs[0].compute_dtype == low
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    mean, log_variance = model.encoder(squares[:2])
    assert mean.dtype == log_variance.dtype == model.decoder(mean).dtype == tf.float32
    assert (policy == "mixed_float16") == isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)

    history = _fit(model, squares)
    assert all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    assert all(v.dtype == "float32" for v in model.optimizer.variables if v.dtype.startswith("float"))
    assert model.loss_tracker.total.dtype == "float32"
    evaluated = model.evaluate(squares[:32], batch_size=16, verbose=0, return_dict=True)
    assert np.isfinite(evaluated["loss"]) and evaluated["loss"] < history["loss"][0]
    if cls is FactorVAE:
        assert model.discriminator.hidden[0].compute_dtype == low
        assert model.discriminator(mean).dtype == tf.float32
        assert (policy == "mixed_float16") == isinstance(
            model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer
        )


def test_capacity_schedule_stays_float32_under_bfloat16(squares):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = compile_model(BetaVAE(latent_dim=3, input_shape=SHAPE, capacity=5.0, capacity_steps=8, seed=0), 2e-3)
    history = _fit(model, squares, epochs=2, steps=4)
    assert model.capacity_target().dtype == tf.float32
    assert history["capacity"][-1] == pytest.approx(5.0)


def test_a_pinned_dtype_is_saved_and_the_global_policy_is_not(tmp_path):
    pinned = BetaVAE(latent_dim=2, input_shape=SHAPE, dtype="mixed_bfloat16")
    assert pinned.encoder.convs[0].compute_dtype == "bfloat16"
    pinned.save(tmp_path / "pinned.keras")
    assert keras.models.load_model(tmp_path / "pinned.keras").encoder.convs[0].compute_dtype == "bfloat16"
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    follower = BetaVAE(latent_dim=2, input_shape=SHAPE)
    assert "dtype" not in follower.get_config()
    follower.save(tmp_path / "follower.keras")
    keras.mixed_precision.set_global_policy("float32")
    assert keras.models.load_model(tmp_path / "follower.keras").encoder.convs[0].compute_dtype == "float32"


# ------------------------------------------------------------------------------------------------ saving
# Every (saved, loaded) pair of policies, FactorVAE (two optimizers) for the files saved under bfloat16.
SAVING_CASES = [(BetaVAE, "float32"), (BetaVAE, "mixed_float16"), (FactorVAE, "mixed_bfloat16")]


@pytest.mark.parametrize("cls, saved_under", SAVING_CASES, ids=lambda c: getattr(c, "__name__", c))
def test_keras_file_saved_under_one_policy_loads_under_every_other(tmp_path, squares, saved_under, cls):
    keras.mixed_precision.set_global_policy(saved_under)
    model = compile_model(_model(cls), learning_rate=1e-3)
    _fit(model, squares, epochs=1, steps=3)
    path = tmp_path / "m.keras"
    model.save(path)
    weights = [w.numpy() for w in model.trainable_weights]
    for loaded_under in POLICIES:
        keras.mixed_precision.set_global_policy(loaded_under)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns when a loss-scale wrapper changes the optimizer's layout
            loaded = keras.models.load_model(path)
        assert loaded.dtype_policy.name == loaded_under
        assert int(loaded.step_counter.numpy()) == 3
        for mine, theirs in zip(weights, loaded.trainable_weights):
            np.testing.assert_array_equal(mine, theirs.numpy())
        if (loaded_under == "mixed_float16") == (saved_under == "mixed_float16"):
            assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy())
        # The same weights compute the same code, up to the rounding of the coarser of the two precisions.
        tolerance = 1e-5 if saved_under == loaded_under == "float32" else 0.1
        np.testing.assert_allclose(loaded.encode(squares[:4]), model.encode(squares[:4]), atol=tolerance)
        if loaded_under == POLICIES[(POLICIES.index(saved_under) + 1) % len(POLICIES)]:
            history = _fit(loaded, squares, epochs=1, steps=2)  # and it keeps training under the new policy
            assert all(np.isfinite(history["loss"]))


# ------------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_export_under_a_low_precision_policy_has_float32_signatures(tmp_path, squares, policy):
    keras.mixed_precision.set_global_policy(policy)
    model = compile_model(_model(BetaVAE), learning_rate=1e-3)
    _fit(model, squares, epochs=1, steps=2)
    version = export_saved_model(model, tmp_path / "betavae", version=1)  # checks the graph reproduces the model
    card = json.loads((version / "model_card.json").read_text())
    assert card["model"]["dtype_policy"] == policy
    keras.mixed_precision.set_global_policy("float32")
    loaded = tf.saved_model.load(str(version))
    for name, signature in loaded.signatures.items():
        specs = [*signature.structured_input_signature[1].values(), *signature.structured_outputs.values()]
        assert all(spec.dtype in (tf.float32, tf.int32) for spec in specs), name
        assert all(spec.dtype == tf.float32 for spec in signature.structured_outputs.values()), name
    encoded = loaded.signatures["encode"](images=tf.constant(squares[:4]))
    np.testing.assert_allclose(encoded["mean"], model.encode(squares[:4]), atol=0.05)


# ------------------------------------------------------------------------------------------------ CLI
def test_train_command_precision_flag(tmp_path, capsys):
    keras.mixed_precision.set_global_policy("float32")
    out = tmp_path / "bf16"
    assert main(["train", "--precision", "bfloat16", "--steps", "2", "--batch-size", "8", "--latent-dim", "2",
                 "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["precision"] == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"  # the caller's policy is back
    assert keras.models.load_model(out / "model.keras").dtype_policy.name == "float32"  # it follows the loader
    assert build_parser().parse_args(["train", "--out", "x"]).precision == "auto"
    with pytest.raises(SystemExit):
        main(["train", "--precision", "half", "--out", str(tmp_path / "x")])
    assert "invalid choice: 'half'" in capsys.readouterr().err
