"""Training runs and the `tfbetavae train` command: run folder, atomic checkpoints, resume."""

import json

import keras
import numpy as np
import pytest

from tfbetavae import BetaVAE, train
from tfbetavae.cli import main
from tfbetavae.training import StopOnNonFiniteLoss


class _CrashAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_interrupted_run_resumes_from_last_epoch(tmp_path, sprites):
    run = tmp_path / "run"
    model = BetaVAE(latent_dim=4, capacity=10.0, capacity_steps=40, seed=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(model, sprites, steps=40, batch_size=8, steps_per_epoch=10, run_dir=run,
              callbacks=[_CrashAfterEpoch(1)], verbose=0)
    assert (run / "checkpoints" / "last.keras").exists() and not (run / "model.keras").exists()
    resumed = BetaVAE(latent_dim=4, capacity=10.0, capacity_steps=40, seed=0)
    history = train(resumed, sprites, steps=40, batch_size=8, steps_per_epoch=10, run_dir=run, verbose=0)
    # The crash came from a user callback at the end of epoch 2, and user callbacks run before the checkpoint:
    # epoch 2 was never checkpointed, so the run resumes after epoch 1 and trains epochs 2-4.
    assert len(history.history["loss"]) == 3
    assert int(resumed.step_counter.numpy()) == 40
    assert int(resumed.optimizer.iterations.numpy()) == 40
    assert float(resumed.capacity_target()) == pytest.approx(10.0)
    assert (run / "model.keras").exists()
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 4


def test_finished_run_is_never_overwritten(tmp_path, sprites, capsys):
    run = tmp_path / "run"
    train(BetaVAE(latent_dim=2, seed=0), sprites, steps=2, batch_size=4, run_dir=run, verbose=0)
    before = (run / "model.keras").read_bytes()
    for asked in (2, 1):  # the same or fewer steps: done, nothing trained
        history = train(BetaVAE(latent_dim=2, seed=0), sprites, steps=asked, batch_size=4, run_dir=run, verbose=1)
        assert history.history == {}
        said = capsys.readouterr()  # printed, or logged where a handler shows the library's lines: once either way
        assert (said.out + said.err).count("already trained to step 2") == 1
    with pytest.raises(ValueError, match="another model.*seed: 0 -> 1"):
        train(BetaVAE(latent_dim=2, seed=1), sprites, steps=4, batch_size=4, run_dir=run, verbose=0)
    assert (run / "model.keras").read_bytes() == before


def _trained_weights(run_dir, sprites, steps_per_call, **kwargs):
    """Weights after training to each total in ``steps_per_call`` in turn, in one run folder."""
    from tfbetavae.training import make_deterministic

    for steps in steps_per_call:
        make_deterministic(0)
        model = BetaVAE(latent_dim=3, capacity=8.0, capacity_steps=16, input_shape=(64, 64, 1), seed=0)
        train(model, sprites, steps=steps, batch_size=8, run_dir=run_dir, verbose=0, **kwargs)
    return model


def test_extended_run_equals_uninterrupted(tmp_path, sprites):
    """8 steps, then extended to 20 (not a multiple of the 8-step epochs), equals 20 in one go."""
    one_go = _trained_weights(tmp_path / "one_go", sprites, [20], steps_per_epoch=8)
    _trained_weights(tmp_path / "extended", sprites, [8], steps_per_epoch=8)
    extended = _trained_weights(tmp_path / "extended", sprites, [20])  # the run's own 8-step epochs
    assert int(extended.step_counter.numpy()) == int(extended.optimizer.iterations.numpy()) == 20
    assert float(extended.capacity_target()) == pytest.approx(float(one_go.capacity_target()))
    for a, b in zip(one_go.weights, extended.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)
    rows = (tmp_path / "extended" / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # one epoch of 8, then epochs 2 and 3 (the last stopped at step 20)
    assert json.loads((tmp_path / "extended" / "config.json").read_text())["steps"] == 20


def test_atomic_save_leaves_old_file_on_failure(tmp_path, monkeypatch):
    from tfbetavae.training import atomic_save

    model = BetaVAE(latent_dim=2, input_shape=(16, 16, 1))
    path = atomic_save(model, tmp_path / "m.keras")
    before = path.read_bytes()

    def broken_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_bad_training_arguments(sprites):
    with pytest.raises(ValueError, match="steps"):
        train(BetaVAE(latent_dim=2), sprites, steps=0)
    with pytest.raises(ValueError, match="learning_rate"):
        train(BetaVAE(latent_dim=2), sprites, steps=1, learning_rate=-1.0)


def test_train_command_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "cli_run"
    common = ["train", "--batch-size", "8", "--latent-dim", "3", "--beta", "2", "--precision", "float32"]
    assert main([*common, "--steps", "6", "--steps-per-epoch", "3", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["beta"] == 2.0 and config["steps"] == 6 and config["data"] == "dsprites"
    loaded = keras.models.load_model(out / "model.keras")
    assert loaded.latent_dim == 3 and int(loaded.step_counter.numpy()) == 6
    assert any((out / "logs").rglob("*tfevents*"))
    first = capsys.readouterr().out
    assert "Training summary, whole run (2 epochs to step 6, float32 precision)" in first
    assert "Training steps 1-6 in float32 precision" in first

    assert main([*common, "--steps", "9", "--out", str(out)]) == 0  # a larger --steps extends the finished run
    extended = capsys.readouterr().out
    assert "Training steps 7-9" in extended and "whole run (3 epochs to step 9" in extended
    assert int(keras.models.load_model(out / "model.keras").step_counter.numpy()) == 9
    before = (out / "model.keras").read_bytes()
    assert main([*common, "--steps", "9", "--out", str(out)]) == 0  # the same steps: done, exit 0
    said = capsys.readouterr()  # once: on stderr, where the command line shows the library's progress lines
    assert (said.out + said.err).count("already trained to step 9 (asked for 9): nothing to do") == 1
    assert (out / "model.keras").read_bytes() == before


def test_train_command_on_an_image_folder(tmp_path):
    from PIL import Image

    for i in range(8):
        Image.fromarray((np.random.default_rng(i).random((20, 20)) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path), "--image-size", "16,16", "--steps", "2", "--batch-size", "4",
                 "--latent-dim", "2", "--out", str(out)]) == 0
    assert keras.models.load_model(out / "model.keras").image_shape == (16, 16, 1)


def test_train_command_errors_are_clear(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["train", "--beta", "-2", "--out", str(tmp_path / "r2")]) == 2
    assert "beta" in capsys.readouterr().err


def test_nan_loss_stops_with_the_step_and_keeps_the_checkpoint(tmp_path, sprites):
    run = tmp_path / "run"

    class PoisonAtStep5(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if int(self.model.step_counter.numpy()) == 4:
                kernel = self.model.encoder.moments.kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    with pytest.raises(FloatingPointError, match="loss is nan at step 5 .epoch 3, batch 1"):
        train(BetaVAE(latent_dim=2, seed=0), sprites, steps=8, batch_size=4, steps_per_epoch=2, run_dir=run,
              callbacks=[PoisonAtStep5()], verbose=0)
    checkpoint = keras.models.load_model(run / "checkpoints" / "last.keras")
    assert int(checkpoint.step_counter.numpy()) == 4
    assert all(np.isfinite(w.numpy()).all() for w in checkpoint.weights)
    assert not (run / "model.keras").exists()
    resumed = BetaVAE(latent_dim=2, seed=0)
    train(resumed, sprites, steps=8, batch_size=4, steps_per_epoch=2, run_dir=run, verbose=0)
    assert int(resumed.step_counter.numpy()) == 8
    assert all(np.isfinite(w.numpy()).all() for w in resumed.weights)


def _squares(count=64, nan_batches=(), batch_size=8):
    """Binary 16x16 images (a 5x5 square each); the batches listed in ``nan_batches`` are all NaN."""
    rng = np.random.default_rng(0)
    images = np.zeros((count, 16, 16, 1), np.float32)
    for image, (row, col) in zip(images, rng.integers(0, 12, size=(count, 2))):
        image[row : row + 5, col : col + 5] = 1.0
    for index in nan_batches:
        images[index * batch_size : (index + 1) * batch_size] = np.nan
    return images


def test_nan_guard_names_the_step_inside_a_multi_step_execution(tmp_path):
    """steps_per_execution=4: callbacks see every 4th step only, yet the guard names the first NaN step (6)."""
    import tensorflow as tf

    from tfbetavae.training import AtomicCheckpoint, compile_model

    model = compile_model(BetaVAE(latent_dim=2, input_shape=(16, 16, 1), seed=0), steps_per_execution=4)
    dataset = tf.data.Dataset.from_tensor_slices(_squares(nan_batches=(5,))).batch(8).repeat()
    checkpoint = tmp_path / "last.keras"
    guard = StopOnNonFiniteLoss()
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 6 \(epoch 2, batch 2\)"):
        model.fit(dataset, epochs=3, steps_per_epoch=4, callbacks=[guard, AtomicCheckpoint(checkpoint)],
                  verbose=0, shuffle=False)
    assert int(keras.models.load_model(checkpoint).step_counter.numpy()) == 4  # epoch 2 never checkpointed

    # The same model object, restored, trains on: the monitor starts afresh with each fit().
    model.load_weights(checkpoint)
    clean = tf.data.Dataset.from_tensor_slices(_squares()).batch(8).repeat()
    history = model.fit(clean, epochs=1, steps_per_epoch=4, callbacks=[StopOnNonFiniteLoss()], verbose=0,
                        shuffle=False)
    assert np.isfinite(history.history["loss"]).all() and "first_nonfinite_step" not in history.history


def test_nan_guard_on_a_model_without_the_monitor():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((12, 3), np.float32)
    y = np.ones((12, 1), np.float32)
    y[8:] = np.nan
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 3 \(epoch 1, batch 3\)"):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[StopOnNonFiniteLoss()])


def test_same_seed_gives_same_weights():
    import subprocess
    import sys

    code = """
import numpy as np
from tfbetavae import BetaVAE, dsprites
from tfbetavae.training import make_deterministic, train
weights = []
for _ in range(2):
    make_deterministic(7)
    model = BetaVAE(latent_dim=3, seed=7)
    train(model, dsprites(), steps=5, batch_size=8, seed=7, verbose=0)
    weights.append(np.concatenate([w.numpy().ravel() for w in model.trainable_weights]))
print('SAME' if np.array_equal(*weights) else 'DIFFERENT', np.abs(weights[0] - weights[1]).max())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SAME" in out.stdout, out.stdout


def test_strategy_names_are_checked(monkeypatch):
    from tfbetavae.training import make_strategy, worker_role

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multiworker")
    with pytest.raises(ValueError, match="unknown strategy 'tpu'"):
        make_strategy("tpu")
    assert worker_role(make_strategy("default")) == ("chief", 0, True)


@pytest.mark.parametrize("objective, cls, weight", [("beta-tcvae", "BetaTCVAE", "beta"), ("factor-vae", "FactorVAE", "gamma")])
def test_train_command_objectives(tmp_path, objective, cls, weight):
    from tfbetavae.training import load_model

    out = tmp_path / objective
    assert main(["train", "--objective", objective, "--tc-weight", "3", "--steps", "2", "--batch-size", "8",
                 "--latent-dim", "3", "--out", str(out)]) == 0
    model = load_model(out)
    assert type(model).__name__ == cls and getattr(model, weight) == 3.0
    assert json.loads((out / "config.json").read_text())["objective"] == objective
    if cls == "BetaTCVAE":
        assert model.dataset_size == 737_280  # len(dsprites): one example per factor combination


def test_beta_tcvae_on_images_needs_a_dataset_size(tmp_path, capsys):
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / f"{i}.png")
    assert main(["train", "--objective", "beta-tcvae", "--data", str(tmp_path), "--image-size", "16,16",
                 "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "--dataset-size" in capsys.readouterr().err


def test_one_reader_of_run_configs_tolerant_for_resume_strict_for_opening(tmp_path):
    """train() resuming reads a damaged config.json as no run; tfbetavae.load (strict) refuses it by name."""
    from tfbetavae.training import read_run_config

    assert read_run_config(tmp_path) is None and read_run_config(tmp_path, strict=True) is None
    config = tmp_path / "config.json"
    for text, problem in (("{not json", "corrupt run config"), ("[1]", "a JSON list, not an object")):
        config.write_text(text)
        assert read_run_config(tmp_path) is None
        with pytest.raises(ValueError, match=problem):
            read_run_config(tmp_path, strict=True)
    config.write_text('{"run_format": 2}')
    assert read_run_config(tmp_path) == {"run_format": 2}
    with pytest.raises(ValueError, match=r"another tfbetavae run format \(2, this is 1\)"):
        read_run_config(tmp_path, strict=True)
    config.write_text('{"tfbetavae_version": "0.1", "steps": 3}')  # written before run_format: the same format
    assert read_run_config(tmp_path, strict=True)["steps"] == 3


def test_training_imports_nothing_downstream():
    """training.py sits above loading.py: the only reference to it is the deprecated load_model name."""
    import ast
    import inspect

    import tfbetavae.training

    tree = ast.parse(inspect.getsource(tfbetavae.training))
    downstream = ("tfbetavae.loading", "tfbetavae.metrics", "tfbetavae.export", "tfbetavae.viz", "tfbetavae.tuning",
                  "tfbetavae.studies", "tfbetavae.cli")
    found = []
    for function in [tree, *(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef))]:
        if function is not tree and function.name == "__getattr__":
            continue
        body = function.body if function is not tree else [n for n in tree.body if not isinstance(n, ast.FunctionDef)]
        for node in (n for statement in body for n in ast.walk(statement)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(downstream):
                found.append((getattr(function, "name", "<module>"), node.module))
    assert not found


def test_a_short_run_checkpoints_before_it_ends_and_resumes_there(sprites, tmp_path):
    """A run of 500 steps or fewer used to checkpoint only at its end: now every quarter (here 20 steps: every 5)."""
    import keras

    from tfbetavae import BetaVAE, compile_model, train
    from tfbetavae.training import default_steps_per_epoch, restore_run

    assert [default_steps_per_epoch(n) for n in (20, 200, 2000, 30000)] == [5, 50, 500, 500]

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.step_counter.numpy()) == 12:
                raise KeyboardInterrupt("killed at step 12")

    run = tmp_path / "short"
    with pytest.raises(KeyboardInterrupt):
        train(BetaVAE(latent_dim=2, seed=0), sprites, steps=20, batch_size=8, run_dir=run, callbacks=[Crash()],
              verbose=0)
    assert (run / "checkpoints" / "last.keras").is_file() and not (run / "model.keras").exists()
    model = compile_model(BetaVAE(latent_dim=2, seed=0))
    assert restore_run(model, run) == 10  # the last quarter boundary before the crash
    train(model, sprites, steps=20, batch_size=8, run_dir=run, verbose=0)
    assert int(model.step_counter.numpy()) == 20 and (run / "model.keras").is_file()

