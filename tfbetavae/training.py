"""Training runs: a run folder with config, TensorBoard logs, atomic checkpoints and resume.

Layout of ``run_dir``::

    config.json            what was asked for (model config + training settings)
    model.keras            the final model (written atomically)
    checkpoints/last.keras the model after the latest epoch (written atomically): re-running resumes from it
    logs/                  TensorBoard event files
    history.csv            one row per epoch
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import keras

from tfbetavae import __version__
from tfbetavae.checks import positive_float, positive_int
from tfbetavae.data.pairs import pairs_dataset
from tfbetavae.data.pipeline import training_dataset
from tfbetavae.model import BetaVAE
from tfbetavae.progress import say
from tfbetavae.runs import (  # noqa: F401 - RUN_FORMAT, read_run_config, atomic_write_json: their old home, kept
    RUN_CHECKPOINT,
    RUN_CONFIG,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    RUN_MODEL,
    atomic_write,
    atomic_write_json,
    read_run_config,
    run_state_files,
)

DEFAULT_LEARNING_RATE = 1e-4  # measured: docs/defaults.md (was 5e-4, at which capacity mode can fail to learn)

logger = logging.getLogger("tfbetavae.training")


def atomic_save(model: keras.Model, path: str | os.PathLike) -> Path:
    """Saves a ``.keras`` file atomically (``tfbetavae.runs.atomic_write``): a crash never leaves half a file."""
    return atomic_write(path, model.save)


class AtomicCheckpoint(keras.callbacks.Callback):
    """Writes the model to ``path`` after every epoch, atomically (ModelCheckpoint writes in place)."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs=None):
        atomic_save(self.model, self.path)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training with an error naming the first step whose loss was NaN or infinite.

    The last good checkpoint and resume state are never overwritten by a broken model: the check runs after
    every batch callback and again when an epoch ends, and ``train()`` lists this callback before the
    checkpoint. For tfbetavae models the first non-finite step is recorded inside the training graph
    (``model.nonfinite_monitor``), so the check needs no loss from the host and stays exact when Keras calls
    batch callbacks once per ``steps_per_execution`` steps (the way to drop the per-step host round trip of
    ``fit``). Other models fall back to the loss in the batch logs.
    """

    async_safe = True  # reading the monitor is thread-safe (backends that dispatch callbacks on a thread)

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0
        self._initial_epoch = None
        self._start_step = 0

    def _monitor(self):
        return getattr(self.model, "nonfinite_monitor", None)

    def on_train_begin(self, logs=None):
        monitor = self._monitor()
        if monitor is not None:
            monitor.reset_state()  # a non-finite step of an earlier fit() is not this one's
        counter = getattr(self.model, "step_counter", None)
        self._start_step = int(counter.numpy()) if counter is not None else 0
        self._initial_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._initial_epoch is None:
            self._initial_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._monitor() is not None:
            self._check_monitor()
            return
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            step = int(self.model.step_counter.numpy()) if hasattr(self.model, "step_counter") else batch + 1
            self._stop(loss, step, self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self._monitor() is not None:
            self._check_monitor()

    def _check_monitor(self) -> None:
        monitor = self._monitor()
        step = int(monitor.step.numpy())
        if not step:
            return
        offset = step - self._start_step  # 1 for the first step of this fit()
        steps_per_epoch = (self.params or {}).get("steps")
        if steps_per_epoch and offset >= 1:
            epoch, batch = (self._initial_epoch or 0) + (offset - 1) // steps_per_epoch, (offset - 1) % steps_per_epoch + 1
        else:
            epoch, batch = self._epoch, None
        self._stop(float(monitor.loss.numpy()), step, epoch, batch)

    @staticmethod
    def _stop(loss: float, step: int, epoch: int, batch: int | None):
        where = f"epoch {epoch + 1}" + (f", batch {batch}" if batch is not None else "")
        raise FloatingPointError(
            f"training stopped: loss is {loss} at step {step} ({where}); "
            "the last checkpoint is kept. Lower the learning rate or check the data."
        )


def make_deterministic(seed: int) -> None:
    """Same seed, same weights on CPU: seeds Python, numpy and TF, and turns on TF's op determinism."""
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(name: str = "default"):
    """``default`` (one device), ``mirrored`` (all local GPUs/devices) or ``multiworker`` (TF_CONFIG cluster).

    Create it before anything else touches TensorFlow, then build and compile the model in its scope.
    """
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("strategy 'multiworker' needs the TF_CONFIG environment variable (cluster and task)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def worker_role(strategy=None) -> tuple[str, int, bool]:
    """(task type, task id, is_chief) of this process; a single process is its own chief."""
    resolver = getattr(strategy or _current_strategy(), "cluster_resolver", None)
    task_type, task_id = getattr(resolver, "task_type", None), getattr(resolver, "task_id", None)
    if task_type is None:
        return "chief", 0, True
    cluster = resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)
    return task_type, int(task_id or 0), is_chief


def _current_strategy():
    import tensorflow as tf

    return tf.distribute.get_strategy()


def compile_model(
    model: BetaVAE, learning_rate: float = DEFAULT_LEARNING_RATE, jit_compile="auto", steps_per_execution: int = 1
) -> BetaVAE:
    """Compiles with Adam; under the ``mixed_float16`` policy the Adam is wrapped in a ``LossScaleOptimizer``.

    ``steps_per_execution`` > 1 runs that many steps per call of the training function (batch-level callbacks
    then see every n-th batch only).
    """
    learning_rate = positive_float(learning_rate, "learning_rate")
    steps_per_execution = positive_int(steps_per_execution, "steps_per_execution")
    optimizer = keras.optimizers.Adam(learning_rate)
    if model.dtype_policy.name == "mixed_float16":
        # float16 gradients underflow without loss scaling; the scale adapts and non-finite steps are skipped.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    if model.built and not model.optimizer.built:
        # Adam's slots made now, eagerly, instead of inside the first traced train step: that trace is about half
        # as long, which every fresh run, study cell and trial pays once.
        model.optimizer.build(model.trainable_variables)
    return model


def new_model(objective: str = "beta-vae", *, seed: int, learning_rate: float = DEFAULT_LEARNING_RATE,
              **settings) -> BetaVAE:
    """Seeds Keras, builds the objective's model with the one factory (``tfbetavae.objectives.build_model``, which
    takes ``settings``) and compiles it with Adam: the one way studies, the tuner and the benchmark make a model."""
    from tfbetavae.objectives import build_model  # noqa: PLC0415 - the factory imports every objective

    keras.utils.set_random_seed(seed)
    return compile_model(build_model(objective, seed=seed, **settings), learning_rate)


def restore_checkpoint(model: BetaVAE, path: str | os.PathLike) -> int:
    """Loads weights, optimizer state and step counter from a ``.keras`` checkpoint; returns the step."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)  # so its state has somewhere to go
    try:
        model.load_weights(os.fspath(path))
    except Exception as error:
        raise ValueError(f"{path}: cannot resume from this checkpoint ({type(error).__name__}: {error})") from error
    return int(model.step_counter.numpy())


def _comparable(config):
    """A model config as JSON, without the layer names Keras numbers per process (``beta_vae_1``)."""
    if isinstance(config, dict):
        return {k: _comparable(v) for k, v in config.items() if k != "name"}
    if isinstance(config, list):
        return [_comparable(v) for v in config]
    return config


def _model_changes(saved: dict, model: keras.Model) -> list[str]:
    """What differs between a run's saved model config and ``model``'s (top-level keys, names ignored)."""
    saved, current = _comparable(saved), _comparable(json.loads(json.dumps(model.get_config(), default=str)))
    keys = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    return [f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in keys]


class StopAtStep(keras.callbacks.Callback):
    """Ends training exactly at ``steps`` (counted by the model's step counter) even inside an epoch.

    A run extended from a step that is not a multiple of its epoch length would otherwise overshoot.
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = int(steps)

    def on_train_batch_end(self, batch, logs=None):
        counter = getattr(self.model, "step_counter", None)
        if counter is not None and int(counter.numpy()) >= self.steps:
            self.model.stop_training = True


def restore_run(model: BetaVAE, run: str | os.PathLike) -> int:
    """Restores the furthest saved state of a run folder into ``model``; returns its step (0: nothing saved).

    The checkpoint is preferred to ``model.keras`` (``tfbetavae.runs.run_state_files`` says why); ``model.keras``
    alone is a finished run whose checkpoints were removed.
    """
    states = run_state_files(run)
    return restore_checkpoint(model, states[0]) if states else 0


CHECKPOINT_STEPS = 500  # a run checkpoints at least this often (an epoch is the checkpoint interval)


def default_steps_per_epoch(steps: int) -> int:
    """Epoch length, which is how often a run checkpoints: every 500 steps, and at least 4 times in a short run,
    so ``kill -9`` loses at most a quarter of it (a run of 500 steps or fewer used to checkpoint only at its end)."""
    return min(CHECKPOINT_STEPS, max(1, -(-int(steps) // 4)))


def train(
    model: BetaVAE,
    data,
    steps: int,
    batch_size: int = 64,
    run_dir: str | os.PathLike | None = None,
    steps_per_epoch: int | None = None,
    seed: int = 0,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    callbacks: list | None = None,
    verbose="auto",
    extra_config: dict | None = None,
) -> keras.callbacks.History:
    """Trains ``model`` for ``steps`` batches of ``data`` (any source ``training_dataset`` accepts; for a model that
    trains on pairs, any source ``tfbetavae.data.pairs.pairs_dataset`` accepts).

    With ``run_dir`` the run is logged, checkpointed and resumable: running the same call again after
    an interruption (even ``kill -9``) restores the last epoch's checkpoint — weights, optimizer state,
    step counter — and continues the data stream of a ground-truth data set where it stopped. A finished run
    is extended by asking for more ``steps``: it continues from its last state exactly as if it had been
    trained to ``steps`` in one go; asking for the same or fewer steps restores it and trains nothing. The run's
    model must be the one it was trained with (its config is compared; a difference is refused by name).
    """
    steps = positive_int(steps, "steps")
    if not model.compiled:
        compile_model(model, learning_rate)
    callbacks = [StopOnNonFiniteLoss(), *(callbacks or [])]
    start = 0
    task_type, task_id, is_chief = worker_role(model.distribute_strategy)
    if run_dir is not None and not is_chief:
        # Only the chief writes the run folder; other workers keep their own checkpoint for resume.
        run_dir = Path(run_dir) / "workers" / f"{task_type}_{task_id}"
    saved = read_run_config(run_dir) if run_dir is not None else None
    if saved is not None:
        changes = _model_changes(saved["model"], model) if isinstance(saved.get("model"), dict) else []
        if changes:
            raise ValueError(f"{run_dir} holds a run of another model ({'; '.join(changes)}); use another run folder")
        steps_per_epoch = steps_per_epoch or saved.get("steps_per_epoch")  # the run's own epochs, unless asked
    steps_per_epoch = positive_int(steps_per_epoch or default_steps_per_epoch(steps), "steps_per_epoch")
    if run_dir is not None:
        run = Path(run_dir)
        start = restore_run(model, run)
        if start >= steps:
            message = f"{run} is already trained to step {start} (asked for {steps}): nothing to do"
            say(logger, message, verbose=bool(verbose))
            history = keras.callbacks.History()
            history.history = {}
            return history
        if start:
            if (run / RUN_MODEL).exists():
                say(logger, f"extending {run} from step {start} to {steps}", verbose=bool(verbose))
            else:
                say(logger, f"resuming {run} from step {start} of {steps}", verbose=bool(verbose))
        run.mkdir(parents=True, exist_ok=True)
        config = {
            "model": model.get_config(),
            "steps": steps,
            "batch_size": int(batch_size),
            "steps_per_epoch": steps_per_epoch,
            "seed": int(seed),
            "learning_rate": float(learning_rate),
            "precision": model.dtype_policy.name,
            "tfbetavae_version": __version__,
            "run_format": RUN_FORMAT,
            **(extra_config or {}),
        }
        atomic_write_json(config, run / RUN_CONFIG)
        # The user's callbacks run first: scores they write into the epoch logs reach TensorBoard and the CSV,
        # and work they do at an epoch's end (e.g. a study scoring the model) finishes before the checkpoint
        # that would let a resumed run skip past it.
        callbacks = [
            *callbacks,
            keras.callbacks.TensorBoard(str(run / "logs"), update_freq="epoch"),
            keras.callbacks.CSVLogger(str(run / "history.csv"), append=True),
            AtomicCheckpoint(run / RUN_CHECKPOINT),
        ]
    if verbose:
        print(f"Training steps {start + 1}-{steps} in {model.dtype_policy.name} precision "
              f"(compute {model.dtype_policy.compute_dtype}, variables {model.dtype_policy.variable_dtype})")
    if getattr(model, "trains_on_pairs", False):  # Ada-GVAE, Ada-ML-VAE: batches (x1, x2), see tfbetavae.data.pairs
        dataset = pairs_dataset(data, batch_size=batch_size, seed=seed, start=start, input_shape=model.image_shape)
    else:
        dataset = training_dataset(data, batch_size=batch_size, seed=seed, start=start)
    history = model.fit(
        dataset, epochs=math.ceil(steps / steps_per_epoch), initial_epoch=start // steps_per_epoch,
        steps_per_epoch=steps_per_epoch, callbacks=[*callbacks, StopAtStep(steps)], verbose=verbose, shuffle=False,
    )
    if run_dir is not None:
        atomic_save(model, Path(run_dir) / RUN_MODEL)
    return history


def __getattr__(name: str):
    """``tfbetavae.training.load_model``, the deprecated alias of ``tfbetavae.load``, lives in ``tfbetavae.loading``
    (which sits below training: it imports no training code); this keeps the old name working until it goes."""
    if name == "load_model":
        from tfbetavae.loading import load_model  # noqa: PLC0415 - a deprecated name only

        return load_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
