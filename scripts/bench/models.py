"""What the benchmark trains: dSprites batches and the library's default model, compiled as users get it."""

from __future__ import annotations

import time

import numpy as np

from .config import BATCH_SIZE


def library_defaults() -> dict:
    """The default model's latent size and β and the library's learning rate, read from the library (the PyTorch
    baseline takes them from here, so the two sides train the same model)."""
    import inspect

    from tfbetavae.model import BetaVAE
    from tfbetavae.training import DEFAULT_LEARNING_RATE

    parameters = inspect.signature(BetaVAE.__init__).parameters
    return {
        "latent_dim": int(parameters["latent_dim"].default),
        "beta": float(parameters["beta"].default),
        "learning_rate": float(DEFAULT_LEARNING_RATE),
    }


def make_images(count: int, seed: int = 0) -> np.ndarray:
    from tfbetavae.data import ProceduralDSprites

    return ProceduralDSprites().sample(count, np.random.default_rng(seed))[1].astype(np.float32)


def make_model(mode: str, seed: int = 0):
    """A default BetaVAE compiled by ``compile_model`` (its default learning rate) for ``mode``: ``tf_function``
    (Keras' default graph mode; ``jit_compile="auto"`` means no XLA on CPU), ``xla`` or ``eager``."""
    import keras

    from tfbetavae.model import BetaVAE
    from tfbetavae.training import DEFAULT_LEARNING_RATE, compile_model

    keras.utils.set_random_seed(seed)
    model = BetaVAE(seed=seed)
    if mode == "eager":
        model.compile(optimizer=keras.optimizers.Adam(DEFAULT_LEARNING_RATE), run_eagerly=True)
    elif mode == "xla":
        compile_model(model, jit_compile=True)
    else:
        compile_model(model)
    return model


def default_steps_per_execution() -> int:
    """``compile_model``'s default ``steps_per_execution``: what a user's ``model.fit`` gets."""
    import inspect

    from tfbetavae.training import compile_model

    return int(inspect.signature(compile_model).parameters["steps_per_execution"].default)


def make_precision_model(precision: str, steps_per_execution: int = 1, seed: int = 0):
    """A default BetaVAE created under ``precision``'s policy, compiled like ``make_model("tf_function")``."""
    import keras

    from tfbetavae.model import BetaVAE
    from tfbetavae.precision import precision_scope
    from tfbetavae.training import compile_model

    keras.utils.set_random_seed(seed)
    with precision_scope(precision):
        model = BetaVAE(seed=seed)
        compile_model(model, steps_per_execution=steps_per_execution)
    return model


def bare_step_runner(model, images, steps: int):
    """images/s of ``steps`` calls of the model's ``train_step`` as one tf.function on a fixed batch (``images``, or
    a tuple ``(x1, x2)`` for a pair model: then pairs/s)."""
    import tensorflow as tf

    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step)
    batch = tuple(tf.constant(side) for side in images) if isinstance(images, tuple) else tf.constant(images)
    for _ in range(2):
        step(batch)  # trace and warm up

    def run():
        start = time.perf_counter()
        for _ in range(steps):
            logs = step(batch)
        float(logs["loss"])
        return steps * BATCH_SIZE / (time.perf_counter() - start)

    return run


def fit_runner(model, images, steps: int):
    """A function returning (steady images/s, whole-call images/s, steady images per CPU second) of ``model.fit``
    over ready batches.

    The dataset is one batch repeated (no rendering cost). "Steady" is timed from the first to the last
    batch-end callback, so it leaves out fit()'s set-up and the first execution (what a long training
    amortises); "whole call" is the wall time of the fit() call; the CPU rate divides the steady images by this
    process's CPU time between the same two callbacks. fit() runs with the NaN guard, as train() does.
    """
    import keras
    import tensorflow as tf

    from tfbetavae.training import StopOnNonFiniteLoss

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.marks = []

        def on_train_batch_end(self, batch, logs=None):
            self.marks.append((batch, time.perf_counter(), time.process_time()))

    dataset = tf.data.Dataset.from_tensors(images).repeat()
    model.fit(dataset, steps_per_epoch=2 * model.steps_per_execution, epochs=1, verbose=0, shuffle=False)  # warm-up

    def run():
        clock = StepClock()
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
                  callbacks=[StopOnNonFiniteLoss(), clock])
        whole = steps * BATCH_SIZE / (time.perf_counter() - start)
        (first, t_first, cpu_first), (last, t_last, cpu_last) = clock.marks[0], clock.marks[-1]
        if last <= first:
            return whole, whole, whole
        images = (last - first) * BATCH_SIZE
        return images / (t_last - t_first), whole, images / max(cpu_last - cpu_first, 1e-9)

    return run
