"""tfbetavae benchmark: training, fit path and precision, independent runs, matmul peak and FLOPs, data
pipeline, metric evaluation, SavedModel serving, SavedModel and LiteRT clients (1 and 4 at once).

    python scripts/bench.py                     # full run (several minutes on 2 cores), writes bench_results.json
    python scripts/bench.py --quick --json x.json   # smoke run (tiny repetition counts)
    python scripts/bench.py --investigate       # also the experiments behind docs/performance.md

Section ``fit`` times, for each precision (float32, bfloat16), the bare ``tf.function`` train step and
``model.fit`` over a ``tf.data`` pipeline of ready batches (once with ``steps_per_execution`` 1, once with
``--steps-per-execution``), against PyTorch's best of float32 / bf16 autocast × NCHW / channels-last. Section
``independent`` runs whole training processes side by side: one process with 2 intra-op threads against two
processes with 1 thread each (what a study of independent runs can do with two cores). Section ``tune`` times
the scoring share of a default ``tfbetavae tune`` trial (1,000 steps, β-VAE score at the tuner's sizes). Section
``networks`` times the standard 64×64 network's train step against the same step as it was before issue #19 (the
fixed 64×64 networks written out here as plain Keras layers, the likelihood before it became an object),
alternating in one process: the paired ratio shows whether free sizes and user networks cost speed.

Every throughput is the median over repetitions after a warm-up; the repetitions of the things that are
compared with each other (TF modes, PyTorch, the matmul peak) are interleaved round by round, so that a
machine shared with other work slows them alike and their ratios stay meaningful. The load average is
recorded before and after. No number here is asserted by any test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# libgomp's default spin-waiting makes PyTorch's OpenMP threads crawl on a machine shared with other
# processes (measured: 24 images/s spinning vs 253 passive at 2 threads under load 7). Passive waiting is
# the generous choice for the baseline; TensorFlow does not use OpenMP, so this only affects PyTorch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

BATCH_SIZE = 64
LEARNING_RATE = 5e-4  # tfbetavae.training.DEFAULT_LEARNING_RATE, also the PyTorch baseline's
TARGETS = {
    "training_vs_pytorch": 1.5,
    "fit_default_precision_vs_pytorch_best": 1.5,
    "training_share_of_peak": 0.40,
    "data_procedural_vs_training": 10.0,
    "data_npz_vs_training": 10.0,
    "metric_vs_bare_encoder": 0.80,
}
# Targets that are upper bounds: the value must not exceed them.
CEILINGS = {
    "study_scoring_share_3_evaluations": 0.20,
    "tune_scoring_share_default_trial": 0.20,
    "paper_study_minutes": 45.0,
}

# Repetition counts: rounds (medians are taken over these), steps or items per round.
FULL = {
    "rounds": 7,
    "train_steps": 15,
    "eager_steps": 4,
    "matmul_n": 2048,
    "data_batches": 60,
    "data_rounds": 5,
    "metric_train": 160,
    "metric_eval": 80,
    "metric_rounds": 3,
    "encode_rounds": 7,
    "latency_calls": 200,
    "serving_rounds": 5,
    "serving_batch": 256,
    "fit_steps": 48,
    "fit_rounds": 7,
    "independent_steps": 300,
    "independent_rounds": 3,
    "study_steps": 500,
    "study_grid_steps": 250,
    "study_rounds": 1,
    "tune_steps": 300,
    "networks_steps": 30,
    "networks_rounds": 9,
}
QUICK = {
    "rounds": 2,
    "train_steps": 2,
    "eager_steps": 1,
    "matmul_n": 512,
    "data_batches": 4,
    "data_rounds": 2,
    "metric_train": 4,
    "metric_eval": 2,
    "metric_rounds": 1,
    "encode_rounds": 2,
    "latency_calls": 10,
    "serving_rounds": 2,
    "serving_batch": 32,
    "fit_steps": 6,
    "fit_rounds": 2,
    "independent_steps": 3,
    "independent_rounds": 1,
    "study_steps": 4,
    "study_grid_steps": 3,
    "study_rounds": 1,
    "study_sizes": {
        "beta_vae": {"num_train": 4, "num_eval": 2}, "beta_vae_paper": {"num_train": 4, "num_eval": 2},
        "mig": {"num_train": 100}, "dci": {"num_train": 40, "num_test": 20},
    },
    "tune_steps": 4,
    "tune_sizes": {"num_train": 4, "num_eval": 2},
    "networks_steps": 2,
    "networks_rounds": 2,
}
SECTIONS = ("training", "fit", "networks", "independent", "study", "tune", "data", "metric", "serving", "clients")
PRECISIONS = ("float32", "bfloat16")
DEFAULT_STEPS_PER_EXECUTION = 16
MODES = ("eager", "tf_function", "xla")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def median(values) -> float:
    return float(statistics.median(values))


def summary(values, unit: str = "images_per_s") -> dict:
    """Median (the reported number), best and every repetition of a list of rates."""
    values = [float(v) for v in values]
    return {unit: median(values), "best": max(values), "repetitions": [round(v, 2) for v in values]}


def timed(function, count: int = 1) -> float:
    """Seconds for ``count`` calls of ``function``."""
    start = time.perf_counter()
    for _ in range(count):
        function()
    return time.perf_counter() - start


# ----------------------------------------------------------------------------------------------- FLOPs
def layer_flops(layer, input_shape) -> tuple[int, tuple]:
    """(forward FLOPs of one example, output shape) of a Keras layer, counted from the shapes.

    A multiply-add counts 2 FLOPs; bias additions and activations are not counted.
    Conv2D: out_h·out_w·filters·(kh·kw·in_channels)·2. Conv2DTranspose: in_h·in_w·in_channels·filters·kh·kw·2
    (every input pixel is scattered through the whole kernel). Dense: in·units·2. Other layers (Flatten,
    Reshape) cost nothing. ``input_shape`` is one example's shape (no batch dimension).
    """
    from keras import layers

    output_shape = tuple(layer.compute_output_shape((1, *input_shape))[1:])
    if isinstance(layer, layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        in_h, in_w, in_c = input_shape
        flops = 2 * in_h * in_w * in_c * layer.filters * kh * kw
    elif isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        out_h, out_w, _ = output_shape
        flops = 2 * out_h * out_w * layer.filters * kh * kw * input_shape[-1]
    elif isinstance(layer, layers.Dense):
        flops = 2 * int(np.prod(input_shape[:-1])) * input_shape[-1] * layer.units
    else:
        flops = 0
    return int(flops), output_shape


def network_flops(network, input_shape) -> tuple[int, list]:
    """Forward FLOPs of one example through a network whose ``layers`` are listed in call order."""
    total, rows, shape = 0, [], tuple(input_shape)
    for layer in network.layers:
        flops, shape = layer_flops(layer, shape)
        total += flops
        if flops:
            rows.append({"layer": f"{network.name}/{layer.name}", "flops": flops, "output_shape": list(shape)})
    return total, rows


def model_flops(model) -> dict:
    """Forward FLOPs of one image through a BetaVAE (encoder + decoder), and ×3 for one trained image."""
    encoder, encoder_rows = network_flops(model.encoder, model.image_shape)
    decoder, decoder_rows = network_flops(model.decoder, (model.latent_dim,))
    forward = encoder + decoder
    return {
        "encoder_forward": encoder,
        "decoder_forward": decoder,
        "forward": forward,
        "trained_image": 3 * forward,  # forward + backward (≈ 2× forward: input and weight gradients)
        "layers": encoder_rows + decoder_rows,
    }


# ----------------------------------------------------------------------------------------------- helpers
def make_images(count: int, seed: int = 0) -> np.ndarray:
    from tfbetavae.data import ProceduralDSprites

    return ProceduralDSprites().sample(count, np.random.default_rng(seed))[1].astype(np.float32)


def make_model(mode: str, seed: int = 0):
    import keras

    from tfbetavae.model import BetaVAE
    from tfbetavae.training import compile_model

    keras.utils.set_random_seed(seed)
    model = BetaVAE(seed=seed)
    if mode == "eager":
        model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), run_eagerly=True)
    elif mode == "xla":
        compile_model(model, LEARNING_RATE, jit_compile=True)
    else:
        compile_model(model, LEARNING_RATE)  # jit_compile="auto": no XLA on CPU
    return model


def matmul_peaks(n: int):
    """Functions measuring numpy's and tf.linalg.matmul's float32 GFLOP/s on [n, n] @ [n, n]."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    ta, tb = tf.constant(a), tf.constant(b)
    product = tf.function(lambda: tf.linalg.matmul(ta, tb))
    flops = 2.0 * n**3

    def numpy_rate():
        return flops / timed(lambda: a @ b) / 1e9

    def tf_rate():
        return flops / timed(lambda: product().numpy()) / 1e9

    numpy_rate(), tf_rate()  # warm-up
    return numpy_rate, tf_rate


# ----------------------------------------------------------------------------------------------- training
def bench_training(cfg: dict, modes, with_torch: bool, threads: int, log) -> dict:
    import tensorflow as tf

    images = make_images(BATCH_SIZE)
    trainers = {}
    for mode in modes:
        start = time.perf_counter()
        model = make_model(mode)
        for _ in range(2):
            model.train_on_batch(images)
        trainers[mode] = (model, cfg["eager_steps"] if mode == "eager" else cfg["train_steps"])
        log(f"  {mode}: built, compiled and warmed up in {time.perf_counter() - start:.1f} s")
    torch_info = {"status": "skipped", "reason": "disabled with --no-torch"}
    torch_steps = {}
    if with_torch:
        try:
            import torch

            sys.path.insert(0, str(ROOT / "scripts"))
            import torch_baseline

            # Both memory layouts; the faster one (by median) is the baseline, so it is the strongest PyTorch.
            torch_steps = {}
            for layout, channels_last in (("nchw", False), ("channels_last", True)):
                step, torch_threads = torch_baseline.make_trainer(threads, channels_last=channels_last)
                batch = torch_baseline.to_torch(images, channels_last)
                for _ in range(2):
                    step(batch)
                torch_steps[layout] = (step, batch)
            torch_info = {
                "status": "measured",
                "version": torch.__version__,
                "threads": torch_threads,
                "interop_threads": torch.get_num_interop_threads(),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            }
        except ImportError as error:
            torch_info = {"status": "skipped", "reason": f"torch not installed ({error}); pip install -e '.[bench]'"}
    numpy_rate, tf_rate = matmul_peaks(cfg["matmul_n"])

    rates = {mode: [] for mode in trainers}
    torch_rates = {layout: [] for layout in (torch_steps if torch_info["status"] == "measured" else ())}
    numpy_peaks, tf_peaks = [], []
    for _ in range(cfg["rounds"]):
        numpy_peaks.append(numpy_rate())
        tf_peaks.append(tf_rate())
        for mode, (model, steps) in trainers.items():
            rates[mode].append(steps * BATCH_SIZE / timed(lambda m=model: m.train_on_batch(images), steps))
        for layout, (step, batch) in torch_steps.items() if torch_rates else ():
            seconds = timed(lambda s=step, b=batch: s(b), cfg["train_steps"])
            torch_rates[layout].append(cfg["train_steps"] * BATCH_SIZE / seconds)
    result = {"batch_size": BATCH_SIZE, "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
    for mode in trainers:
        result[mode] = summary(rates[mode])
    if torch_info["status"] == "measured":
        layouts = {layout: summary(values) for layout, values in torch_rates.items()}
        fastest = max(layouts, key=lambda layout: layouts[layout]["images_per_s"])
        torch_info.update(layouts[fastest], layout=fastest, layouts=layouts)
        if "tf_function" in trainers:
            # Median of the per-round ratios: each round's TF and PyTorch numbers saw the same load.
            paired = [a / b for a, b in zip(rates["tf_function"], torch_rates[fastest])]
            result["ratio_vs_pytorch"] = median(paired)
            result["ratio_vs_pytorch_per_round"] = [round(v, 3) for v in paired]
            result["ratio_of_medians_vs_pytorch"] = result["tf_function"]["images_per_s"] / torch_info["images_per_s"]
    result["pytorch"] = torch_info

    flops = model_flops(trainers[next(iter(trainers))][0])
    numpy_peak, tf_peak = median(numpy_peaks), median(tf_peaks)
    peak = {
        "matmul_n": cfg["matmul_n"],
        "numpy_gflops": numpy_peak,
        "tf_gflops": tf_peak,
        "numpy_best_gflops": max(numpy_peaks),
        "tf_best_gflops": max(tf_peaks),
        "peak_gflops": max(numpy_peak, tf_peak),
        "flops_per_trained_image": flops["trained_image"],
        "flops_forward_per_image": flops["forward"],
        "flops_layers": flops["layers"],
    }
    if "tf_function" in trainers:
        achieved = result["tf_function"]["images_per_s"] * flops["trained_image"] / 1e9
        peak["achieved_gflops"] = achieved
        # Median of the per-round shares (training and matmul measured back to back in each round).
        shares = [
            rate * flops["trained_image"] / 1e9 / max(a, b)
            for rate, a, b in zip(rates["tf_function"], numpy_peaks, tf_peaks)
        ]
        peak["share_of_peak"] = median(shares)
        peak["share_of_peak_per_round"] = [round(v, 3) for v in shares]
        peak["share_of_median_peak"] = achieved / peak["peak_gflops"]
    return {"training": result, "peak": peak}


# ----------------------------------------------------------------------------------------------- fit path
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
        compile_model(model, LEARNING_RATE, steps_per_execution=steps_per_execution)
    return model


def bare_step_runner(model, images, steps: int):
    """images/s of ``steps`` calls of the model's ``train_step`` as one tf.function on a fixed batch."""
    import tensorflow as tf

    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step)
    batch = tf.constant(images)
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
    """A function returning (steady images/s, whole-call images/s) of ``model.fit`` over ready batches.

    The dataset is one batch repeated (no rendering cost). "Steady" is timed from the first to the last
    batch-end callback, so it leaves out fit()'s set-up and the first execution (what a long training
    amortises); "whole call" is the wall time of the fit() call. fit() runs with the NaN guard, as train() does.
    """
    import keras
    import tensorflow as tf

    from tfbetavae.training import StopOnNonFiniteLoss

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.marks = []

        def on_train_batch_end(self, batch, logs=None):
            self.marks.append((batch, time.perf_counter()))

    dataset = tf.data.Dataset.from_tensors(images).repeat()
    model.fit(dataset, steps_per_epoch=2 * model.steps_per_execution, epochs=1, verbose=0, shuffle=False)  # warm-up

    def run():
        clock = StepClock()
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
                  callbacks=[StopOnNonFiniteLoss(), clock])
        whole = steps * BATCH_SIZE / (time.perf_counter() - start)
        (first, t_first), (last, t_last) = clock.marks[0], clock.marks[-1]
        steady = (last - first) * BATCH_SIZE / (t_last - t_first) if last > first else whole
        return steady, whole

    return run


def make_torch_trainer(threads: int, channels_last: bool, autocast: bool):
    """torch_baseline's trainer; with ``autocast`` its forward pass and loss run under bf16 autocast."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import torch
    import torch_baseline

    if not autocast:
        return torch_baseline.make_trainer(threads, channels_last=channels_last)
    torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    encoder, decoder = torch_baseline.build()
    if channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        decoder = decoder.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=torch_baseline.LEARNING_RATE)

    def step(images):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _, _ = torch_baseline.loss_terms(encoder, decoder, images, generator=generator)
        loss.backward()  # outside autocast, as PyTorch recommends; weights and Adam stay float32
        optimizer.step()
        return loss

    return step, torch.get_num_threads()


def torch_runners(images, threads: int, steps: int) -> tuple[dict, dict]:
    """name -> images/s function for PyTorch float32 / bf16 autocast × NCHW / channels-last, and an info dict."""
    try:
        import torch

        sys.path.insert(0, str(ROOT / "scripts"))
        import torch_baseline
    except ImportError as error:
        return {}, {"status": "skipped", "reason": f"torch not installed ({error}); pip install -e '.[bench]'"}
    runners, used = {}, None
    for precision in ("float32", "bf16_autocast"):
        for layout, channels_last in (("nchw", False), ("channels_last", True)):
            step, used = make_torch_trainer(threads, channels_last, autocast=precision != "float32")
            batch = torch_baseline.to_torch(images, channels_last)
            for _ in range(2):
                step(batch)

            def run(step=step, batch=batch):
                start = time.perf_counter()
                for _ in range(steps):
                    step(batch)
                return steps * BATCH_SIZE / (time.perf_counter() - start)

            runners[f"{precision}_{layout}"] = run
    info = {
        "status": "measured",
        "version": torch.__version__,
        "threads": used,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    return runners, info


def paired(numerators, denominators) -> float:
    """Median of per-round ratios: each round's two numbers saw the same load."""
    return median([a / b for a, b in zip(numerators, denominators)])


def bench_fit(cfg: dict, precisions, with_torch: bool, threads: int, steps_per_execution: int, log) -> dict:
    """Bare train step vs model.fit per precision, and the library's best against PyTorch's best."""
    from tfbetavae.precision import resolve_precision

    images = make_images(BATCH_SIZE)
    steps = cfg["fit_steps"]
    user_spe = default_steps_per_execution()
    # At least three batch-end marks per fit() so the steady rate spans two executions or more.
    spe = max(1, min(int(steps_per_execution), steps // 3))
    runners = {}
    for precision in precisions:
        start = time.perf_counter()
        runners[precision, "bare_step"] = bare_step_runner(make_precision_model(precision), images, steps)
        runners[precision, "fit"] = fit_runner(make_precision_model(precision, user_spe), images, steps)
        if spe != user_spe:
            runners[precision, "fit_spe"] = fit_runner(make_precision_model(precision, spe), images, steps)
        log(f"  {precision}: models built and warmed up in {time.perf_counter() - start:.1f} s")
    torch_runs, torch_info = torch_runners(images, threads, steps) if with_torch else (
        {}, {"status": "skipped", "reason": "disabled with --no-torch"})

    rates = {key: [] for key in runners}
    whole = {key: [] for key in runners if key[1] != "bare_step"}
    torch_rates = {name: [] for name in torch_runs}
    for _ in range(cfg["fit_rounds"]):
        for key, run in runners.items():
            value = run()
            if isinstance(value, tuple):
                rates[key].append(value[0])
                whole[key].append(value[1])
            else:
                rates[key].append(value)
        for name, run in torch_runs.items():
            torch_rates[name].append(run())
    log(f"  fit path done, load {load()}")

    result = {"batch_size": BATCH_SIZE, "steps_per_round": steps, "user_steps_per_execution": user_spe,
              "steps_per_execution": spe, "precisions": list(precisions)}
    for precision in precisions:
        row = {}
        for kind in ("bare_step", "fit", "fit_spe"):
            if (precision, kind) in rates:
                row[kind] = summary(rates[precision, kind])
                if kind != "bare_step":
                    row[f"{kind}_whole_call"] = summary(whole[precision, kind])
                    row[f"{kind}_vs_bare_step"] = paired(rates[precision, kind], rates[precision, "bare_step"])
        result[precision] = row
    if "float32" in precisions:
        for precision in precisions:
            if precision != "float32":
                result[f"{precision}_vs_float32"] = {
                    kind: paired(rates[precision, kind], rates["float32", kind])
                    for kind in ("bare_step", "fit", "fit_spe") if (precision, kind) in rates
                }

    def best(kind):
        """(precision, rates) of the precision with the highest median for ``kind``."""
        precision = max(precisions, key=lambda p: median(rates[p, kind]))
        return precision, rates[precision, kind]

    default = resolve_precision("auto")
    result["default_precision"] = default
    if torch_rates:
        configs = {name: summary(values) for name, values in torch_rates.items()}
        fastest = max(configs, key=lambda name: configs[name]["images_per_s"])
        torch_info.update(configs=configs, best_config=fastest, **configs[fastest])
        for kind in ("bare_step", "fit"):
            precision, values = best(kind)
            result[f"best_{kind}"] = {
                "precision": precision,
                "images_per_s": median(values),
                "vs_pytorch_best": paired(values, torch_rates[fastest]),
            }
        if default in precisions:
            result["fit_default_precision_vs_pytorch_best"] = paired(rates[default, "fit"], torch_rates[fastest])
    result["pytorch"] = torch_info
    return result


# ----------------------------------------------------------------------------------------------- networks (#19)
def pre_change_networks(latent_dim: int = 10):
    """The standard 64×64 encoder and decoder exactly as they were before sizes became free (issue #19), written
    here as plain Keras layers: four stride-2 convolutions 32-32-64-64 (kernel 4, "same", ReLU), dense 256, one
    dense layer of 2·latent_dim for the moments; the decoder dense 256, dense 4·4·64, reshape, transposed
    convolutions 64-32-32-1 (kernel 4, stride 2, "same"). Under float32 the casts and the dtype policies of the
    old code were no-ops, so they are left out."""
    import keras
    from keras import layers

    class PreChangeEncoder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.convs = [
                layers.Conv2D(f, 4, strides=2, padding="same", activation="relu", name=f"conv_{i}")
                for i, f in enumerate((32, 32, 64, 64))
            ]
            self.flatten = layers.Flatten()
            self.hidden = layers.Dense(256, activation="relu", name="hidden")
            self.moments = layers.Dense(2 * latent_dim, name="moments")

        def call(self, images):
            h = images
            for conv in self.convs:
                h = conv(h)
            mean, log_variance = keras.ops.split(self.moments(self.hidden(self.flatten(h))), 2, axis=-1)
            return mean, log_variance

    class PreChangeDecoder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(256, activation="relu", name="hidden")
            self.expand = layers.Dense(4 * 4 * 64, activation="relu", name="expand")
            self.reshape = layers.Reshape((4, 4, 64))
            self.deconvs = [
                layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation=None if i == 3 else "relu",
                                       name=f"deconv_{i}")
                for i, f in enumerate((64, 32, 32, 1))
            ]

        def call(self, codes):
            h = self.reshape(self.expand(self.hidden(codes)))
            for deconv in self.deconvs:
                h = deconv(h)
            return h

    return PreChangeEncoder(name="encoder"), PreChangeDecoder(name="decoder")


def make_pre_change_model(seed: int = 0):
    """A BetaVAE whose networks and loss path are the pre-#19 ones: the networks above, and the model's
    ``_moments`` and Bernoulli likelihood as they were written before likelihoods became objects (a tuple unpacked,
    ``tfd.Independent(tfd.Bernoulli(logits))``, ``sigmoid`` for the mean). train_step, the metric trackers, the step
    counter and the NaN monitor did not change in #19, so they are shared. Compiled like ``make_model``."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    from tfbetavae.model import LOG_VARIANCE_RANGE, BetaVAE
    from tfbetavae.training import compile_model

    tfd = tfp.distributions

    class PreChangeVAE(BetaVAE):
        def _moments(self, images, training=False):
            mean, log_variance = self.encoder(images, training=training)
            return mean, tf.clip_by_value(log_variance, *LOG_VARIANCE_RANGE)

        def _likelihood_from_params(self, params):
            return tfd.Independent(tfd.Bernoulli(logits=params, dtype=params.dtype), reinterpreted_batch_ndims=3)

        def _mean_image(self, params):
            return tf.sigmoid(params)

    keras.utils.set_random_seed(seed)
    encoder, decoder = pre_change_networks()
    model = PreChangeVAE(seed=seed, encoder=encoder, decoder=decoder)
    compile_model(model, LEARNING_RATE)
    return model


def bench_networks(cfg: dict, log) -> dict:
    """The standard 64×64 network after #19 (sizes free, networks and likelihoods as objects) against the same step
    before it, alternating round by round in one process: the paired ratio says whether #19 cost speed.

    Both arms start from the same seed; the weights of the library's model are copied into the pre-change one and
    their reconstructions compared, which checks that the two are the same network weight for weight."""
    images = make_images(BATCH_SIZE)
    steps = cfg["networks_steps"]
    library = make_model("tf_function")
    before = make_pre_change_model()
    shapes = {name: [tuple(v.shape) for v in model.trainable_variables] for name, model in
              (("library", library), ("pre_change", before))}
    if shapes["library"] != shapes["pre_change"]:
        raise RuntimeError(f"the pre-change network differs from the standard one: {shapes}")
    before.set_weights(library.get_weights())
    difference = float(np.max(np.abs(np.asarray(library.reconstruct(images)) - np.asarray(before.reconstruct(images)))))
    runners = {"library": bare_step_runner(library, images, steps), "pre_change": bare_step_runner(before, images, steps)}
    rates = {name: [] for name in runners}
    for _ in range(cfg["networks_rounds"]):
        for name, run in runners.items():
            rates[name].append(run())
    log(f"  networks done, load {load()}")
    return {
        "steps_per_round": steps,
        "variables": len(library.variables),
        "parameters": int(sum(np.prod(v.shape) for v in library.variables)),  # the step counter included
        "trainable_parameters": int(sum(np.prod(v.shape) for v in library.trainable_variables)),
        "max_reconstruction_difference": difference,
        "library": summary(rates["library"]),
        "pre_change": summary(rates["pre_change"]),
        "library_vs_pre_change": paired(rates["library"], rates["pre_change"]),
        "library_vs_pre_change_per_round": [round(a / b, 3) for a, b in zip(rates["library"], rates["pre_change"])],
    }


# ----------------------------------------------------------------------------------------------- independent runs
def independent_worker(args) -> None:
    """One training process for the ``independent`` section: warm up, say "ready", wait for "go", time fit()."""
    from tfbetavae.data import ProceduralDSprites, training_dataset

    model = make_precision_model(args.worker_precision, default_steps_per_execution(), seed=args.worker_seed)
    dataset = training_dataset(ProceduralDSprites(), BATCH_SIZE, seed=args.worker_seed)
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)  # tracing and pipeline start-up
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    model.fit(dataset, steps_per_epoch=args.worker_steps, epochs=1, verbose=0, shuffle=False)
    end = time.time()
    print(json.dumps({"start": start, "end": end, "images": args.worker_steps * BATCH_SIZE}), flush=True)


def _run_side_by_side(thread_counts, steps: int, precision: str) -> dict:
    """Starts one worker per entry of ``thread_counts``, releases them together, returns their timings."""
    workers = []
    with tempfile.TemporaryDirectory() as folder:
        for index, count in enumerate(thread_counts):
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--threads", str(count),
                       "--worker-steps", str(steps), "--worker-precision", precision, "--worker-seed", str(index)]
            errors = open(Path(folder) / f"{index}.err", "w")  # closed in the finally below
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
            workers.append((process, errors))
        try:
            for process, _ in workers:
                for line in process.stdout:
                    if line.strip() == "ready":
                        break
                else:
                    raise RuntimeError("a benchmark worker ended before it was ready")
            for process, _ in workers:  # release them together
                process.stdin.write("go\n")
                process.stdin.flush()
            reports = []
            for process, _ in workers:
                lines = [line for line in process.stdout if line.strip().startswith("{")]
                if process.wait(timeout=3600) != 0 or not lines:
                    raise RuntimeError("a benchmark worker failed")
                reports.append(json.loads(lines[-1]))
        except Exception as error:
            details = "".join((Path(folder) / f"{i}.err").read_text()[-2000:] for i in range(len(workers)))
            for process, _ in workers:
                process.kill()
            raise RuntimeError(f"{error}: {details}") from error
        finally:
            for _, errors in workers:
                errors.close()
    seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {
        "images_per_s": sum(r["images"] for r in reports) / seconds,
        "per_process_images_per_s": [r["images"] / (r["end"] - r["start"]) for r in reports],
    }


def bench_independent(cfg: dict, cores: int, log) -> dict:
    """Throughput of independent training runs: 1 process × ``cores`` threads vs ``cores`` processes × 1 thread.

    Each process trains the default model at the default precision on procedural dSprites through model.fit
    (rendering included); the processes start their timed part together after warming up.
    """
    from tfbetavae.precision import resolve_precision

    precision = resolve_precision("auto")
    layouts = {f"1 process x {cores} threads": [cores], f"{cores} processes x 1 thread": [1] * cores}
    runs = {name: [] for name in layouts}
    for _ in range(cfg["independent_rounds"]):  # alternate the layouts, so each sees early and late load
        for name, counts in layouts.items():
            runs[name].append(_run_side_by_side(counts, cfg["independent_steps"], precision))
    log(f"  independent runs done, load {load()}")
    names = list(layouts)
    result = {"precision": precision, "steps_per_process": cfg["independent_steps"], "layouts": names}
    for name in names:
        result[name] = {
            **summary([r["images_per_s"] for r in runs[name]]),
            "per_process_images_per_s": [[round(v, 1) for v in r["per_process_images_per_s"]] for r in runs[name]],
        }
    result["processes_vs_threads"] = paired(
        [r["images_per_s"] for r in runs[names[1]]], [r["images_per_s"] for r in runs[names[0]]]
    )
    return result


# ----------------------------------------------------------------------------------------------- studies
def _timed_study(folder: Path, workers: int, threads: int, steps: int) -> float:
    """Wall seconds of a small real study (2 β × 2 seeds, fast scoring) run as ``tfbetavae study``."""
    command = [
        sys.executable, "-c", "import sys; from tfbetavae.cli import main; sys.exit(main(sys.argv[1:]))",
        "study", str(folder), "--betas", "1,4", "--seeds", "0,1", "--eval-steps", str(steps), "--fast",
        "--scores", "mig", "--workers", str(workers), "--threads", str(threads),
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if result.returncode != 0:
        raise RuntimeError(f"the benchmark study failed: {result.stderr[-2000:]}")
    return time.perf_counter() - start


def bench_study(cfg: dict, cores: int, log) -> dict:
    """What a study costs here.

    * Scoring share: one run of the default setting trains ``study_steps`` steps, then is scored once with the
      study's default scores and sizes (``STUDY_SIZES``); the share is extrapolated to a 10,000-step run scored
      once (at its end) and three times (2,500 / 5,000 / 10,000, as in the paper study).
    * Throughput: the same small study (2 β × 2 seeds × ``study_grid_steps`` steps, fast scoring) run as one
      process with ``cores`` threads and as ``cores`` local worker processes with one thread each.
    """
    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.studies.runner import DEFAULT_SCORES, Setting, build_model, make_plan, score_model
    from tfbetavae.training import train

    data = ProceduralDSprites()
    steps = cfg["study_steps"]
    plan = make_plan([Setting()], [0], [steps], DEFAULT_SCORES, metric_sizes=cfg.get("study_sizes"))
    model = build_model(plan.settings[0], data.observation_shape, 0)
    train(model, data, steps=2, verbose=0)  # tracing and pipeline start-up
    start = time.perf_counter()
    train(model, data, steps=steps, seed=1, verbose=0)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    score_model(model, data, plan)
    metric_seconds = time.perf_counter() - start
    per_10k = train_seconds / steps * 10_000
    log(f"  scoring share measured, load {load()}")
    result = {
        "scores": list(DEFAULT_SCORES),
        "seconds_per_step": round(train_seconds / steps, 5),
        "seconds_per_scoring": round(metric_seconds, 2),
        "share_scored_once_per_10k": round(metric_seconds / (metric_seconds + per_10k), 4),
        "share_scored_3x_per_10k": round(3 * metric_seconds / (3 * metric_seconds + per_10k), 4),
    }
    layouts = {f"1 process x {cores} threads": (1, cores), f"{cores} workers x 1 thread": (cores, 1)}
    walls = {name: [] for name in layouts}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(cfg["study_rounds"]):
            for name, (workers, threads) in layouts.items():
                target = Path(folder) / f"{round_index}-{workers}x{threads}"
                walls[name].append(_timed_study(target, workers, threads, cfg["study_grid_steps"]))
    log(f"  study layouts done, load {load()}")
    names = list(layouts)
    result["grid"] = f"2 beta x 2 seeds x {cfg['study_grid_steps']} steps, fast scoring"
    result["wall_seconds"] = {name: [round(w, 1) for w in walls[name]] for name in names}
    result["workers_vs_threads"] = round(median(walls[names[0]]) / median(walls[names[1]]), 3)
    # A 3-β × 3-seed × 10,000-step study scored 3 times per run, from the parts measured above, with the
    # workers' speed-up applied to the whole (scoring parallelises across workers like training).
    serial_hours = 9 * (per_10k + 3 * metric_seconds) / 3600
    result["paper_study_hours_estimate"] = round(serial_hours / result["workers_vs_threads"], 2)
    return result


# ----------------------------------------------------------------------------------------------- tuning
def bench_tune(cfg: dict, log) -> dict:
    """What scoring costs in a default ``tfbetavae tune`` trial, measured as the study section measures a study's.

    A trial of the default hypermodel (β-VAE score at the tuner's sizes, ``TUNING_SIZES``, plus the held-out
    reconstruction and KL) trains ``tune_steps`` steps, then is scored the way a trial is scored
    (``BetaVAEHyperModel.evaluate_model``); the share is extrapolated to the default trial's 1,000 steps. The share
    at the paper's sizes (10,000 + 5,000 points) is estimated from the same seconds per scored image.
    """
    import keras_tuner as kt

    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.training import train
    from tfbetavae.tuning import BetaVAEHyperModel
    from tfbetavae.tuning.sizes import scored_images, sizes_in_effect

    data = ProceduralDSprites()
    hypermodel = BetaVAEHyperModel(data, metric_kwargs=cfg.get("tune_sizes"))
    paper = BetaVAEHyperModel(data, paper_sizes=True)
    model = hypermodel.build(kt.HyperParameters())
    train(model, data, steps=2, verbose=0)  # tracing and pipeline start-up
    steps = cfg["tune_steps"]
    start = time.perf_counter()
    train(model, data, steps=steps, seed=1, verbose=0)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()  # scored once, tracing included: every trial builds (and traces) a new model
    hypermodel.evaluate_model(model, data)
    score_seconds = time.perf_counter() - start
    log(f"  tune trial scoring share measured, load {load()}")

    def images(which) -> int:
        return which.num_eval_images + scored_images(which.metric, sizes_in_effect(which.metric, which.metric_kwargs))

    per_trial = train_seconds / steps * hypermodel.steps
    paper_seconds = score_seconds / images(hypermodel) * images(paper)
    return {
        "metric": hypermodel.metric,
        "sizes": sizes_in_effect(hypermodel.metric, hypermodel.metric_kwargs),
        "trial_steps": hypermodel.steps,
        "seconds_per_step": round(train_seconds / steps, 5),
        "seconds_per_scoring": round(score_seconds, 2),
        "share_default_trial": round(score_seconds / (score_seconds + per_trial), 4),
        "paper_sizes_seconds_estimate": round(paper_seconds, 1),
        "paper_sizes_share_estimate": round(paper_seconds / (paper_seconds + per_trial), 4),
    }


# ----------------------------------------------------------------------------------------------- data
def write_real_layout_npz(folder: Path, sizes=(1, 3, 6, 8, 8, 8)) -> Path:
    """A dSprites-layout npz (imgs uint8 [N, 64, 64], latents_classes [N, 6], latents_values) on a reduced grid.

    Rows are in dSprites order (row = classes in mixed radix); images are the procedural sprites of those classes.
    """
    import itertools

    from tfbetavae.data import ProceduralDSprites

    classes = np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)
    images = ProceduralDSprites().sample_observations_from_factors(classes[:, 1:], np.random.default_rng(0))
    path = folder / "dsprites_real_layout.npz"
    np.savez(path, imgs=images[..., 0].astype(np.uint8), latents_classes=classes, latents_values=classes / 2.0)
    return path


def pipeline_rate(dataset, batches: int, rounds: int) -> list[float]:
    iterator = iter(dataset)
    for _ in range(3):
        next(iterator)
    rates = []
    for _ in range(rounds):
        count = 0

        def pull():
            nonlocal count
            count += int(next(iterator).shape[0])

        seconds = timed(pull, batches)
        rates.append(count / seconds)
    return rates


def bench_data(cfg: dict, consumption: float | None) -> dict:
    from tfbetavae.data import ProceduralDSprites, load_dsprites_npz, training_dataset

    result = {}
    with tempfile.TemporaryDirectory() as folder:
        npz = write_real_layout_npz(Path(folder), (1, 3, 2, 4, 4, 4) if cfg is QUICK else (1, 3, 6, 8, 8, 8))
        arrays = load_dsprites_npz(npz)
        sources = {"procedural": ProceduralDSprites(), "npz": arrays}
        rates = {name: [] for name in sources}
        datasets = {name: training_dataset(source, BATCH_SIZE, seed=0) for name, source in sources.items()}
        for _ in range(cfg["data_rounds"]):
            for name, dataset in datasets.items():
                rates[name] += pipeline_rate(dataset, cfg["data_batches"], 1)
        for name in sources:
            result[name] = summary(rates[name])
        result["npz"]["images_in_file"] = len(arrays)
    if consumption:
        result["training_consumption_images_per_s"] = consumption
        for name in sources:
            result[f"{name}_vs_training"] = result[name]["images_per_s"] / consumption
    return result


# ----------------------------------------------------------------------------------------------- metric
def bare_encoders(cfg: dict, model, sizes) -> dict:
    """size -> a function returning model.encode's images/s on a fixed batch of that size (about 4096 images)."""
    functions = {}
    for size in sizes:
        batch = make_images(size, seed=1)
        model.encode(batch)
        calls = 1 if cfg is QUICK else max(1, 4096 // size)
        functions[size] = lambda b=batch, n=calls: n * len(b) / timed(lambda: model.encode(b), n)
    return functions


def metric_rate(cfg: dict, model, data) -> float:
    """Encoded images/s inside beta_vae_score: 2 · batch_size · (num_train + num_eval) images over the wall time."""
    from tfbetavae.metrics import beta_vae_score

    num_train, num_eval = cfg["metric_train"], cfg["metric_eval"]
    seconds = timed(
        lambda: beta_vae_score(
            model, data, num_train=num_train, num_eval=num_eval, batch_size=BATCH_SIZE, seed=0, progress=False
        )
    )
    return 2 * BATCH_SIZE * (num_train + num_eval) / seconds


def bench_metric(cfg: dict, model) -> dict:
    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.metrics import beta_vae_score
    from tfbetavae.metrics._sampling import CHUNK_IMAGES

    data = ProceduralDSprites()
    beta_vae_score(model, data, num_train=2, num_eval=1, batch_size=BATCH_SIZE, seed=0, progress=False)  # warm-up
    bare = bare_encoders(cfg, model, (BATCH_SIZE, CHUNK_IMAGES))
    metric_rates, bare_rates = [], {size: [] for size in bare}
    for _ in range(cfg["metric_rounds"]):  # metric and bare encoder back to back in every round
        metric_rates.append(metric_rate(cfg, model, data))
        for _ in range(max(1, cfg["encode_rounds"] // cfg["metric_rounds"])):
            for size, function in bare.items():
                bare_rates[size].append(function())
    result = {
        "num_train": cfg["metric_train"],
        "num_eval": cfg["metric_eval"],
        "batch_size": BATCH_SIZE,
        "encoded_images": 2 * BATCH_SIZE * (cfg["metric_train"] + cfg["metric_eval"]),
        "beta_vae_score": summary(metric_rates),
        "bare_encoder_batch_64": summary(bare_rates[BATCH_SIZE]),
        f"bare_encoder_batch_{CHUNK_IMAGES}": summary(bare_rates[CHUNK_IMAGES]),
        "metric_encode_call_size": CHUNK_IMAGES,
    }
    rate = result["beta_vae_score"]["images_per_s"]
    result["ratio_vs_bare_encoder"] = rate / result["bare_encoder_batch_64"]["images_per_s"]
    result[f"ratio_vs_bare_encoder_batch_{CHUNK_IMAGES}"] = (
        rate / result[f"bare_encoder_batch_{CHUNK_IMAGES}"]["images_per_s"]
    )
    return result


# ----------------------------------------------------------------------------------------------- serving
def latencies_ms(function, calls: int) -> list[float]:
    values = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        values.append((time.perf_counter() - start) * 1e3)
    return values


def bench_serving(cfg: dict, model) -> dict:
    import tensorflow as tf

    from tfbetavae.export import export_saved_model

    one = make_images(1, seed=2)
    many = make_images(cfg["serving_batch"], seed=3)
    with tempfile.TemporaryDirectory() as folder:
        path = export_saved_model(model, Path(folder) / "betavae", version=1)
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["encode"]
        one_t, many_t = tf.constant(one), tf.constant(many)
        callers = {
            "saved_model": (
                lambda: signature(images=one_t)["mean"].numpy(),
                lambda: signature(images=many_t)["mean"].numpy(),
            ),
            "keras_in_process": (lambda: model.encode(one).numpy(), lambda: model.encode(many).numpy()),
        }
        result = {"batch_throughput": cfg["serving_batch"]}
        latency = {name: [] for name in callers}
        throughput = {name: [] for name in callers}
        for small, large in callers.values():
            for _ in range(5):
                small()
            large()
        calls = cfg["latency_calls"]
        for _ in range(cfg["serving_rounds"]):
            for name, (small, large) in callers.items():
                latency[name] += latencies_ms(small, max(1, calls // cfg["serving_rounds"]))
                throughput[name].append(cfg["serving_batch"] * 3 / timed(large, 3))
        for name in callers:
            result[name] = {
                "p50_ms_batch_1": float(np.percentile(latency[name], 50)),
                "p99_ms_batch_1": float(np.percentile(latency[name], 99)),
                "latency_calls": len(latency[name]),
                f"images_per_s_batch_{cfg['serving_batch']}": median(throughput[name]),
                "throughput_repetitions": [round(v, 1) for v in throughput[name]],
            }
        key = f"images_per_s_batch_{cfg['serving_batch']}"
        result["p50_ratio_saved_model_vs_keras"] = (
            result["saved_model"]["p50_ms_batch_1"] / result["keras_in_process"]["p50_ms_batch_1"]
        )
        result["throughput_ratio_saved_model_vs_keras"] = result["saved_model"][key] / result["keras_in_process"][key]
    return result


# ----------------------------------------------------------------------------------------------- clients
SERVING_CLIENTS = 4


def _in_threads(work, count: int) -> float:
    """Runs ``work(i)`` for i < count in as many threads, started together; returns the wall time."""
    import threading

    barrier = threading.Barrier(count + 1)
    errors = []

    def run(i):
        barrier.wait()
        try:
            work(i)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


def _client_numbers(clients, cfg: dict) -> dict:
    """Batch-1 latency and batch-N throughput with every client (small, large) calling in its own thread at once."""
    for small, large in clients:
        for _ in range(3):
            small()
        large()
    latency = [[] for _ in clients]
    calls = max(2, cfg["latency_calls"] // len(clients))
    _in_threads(lambda i: latency[i].extend(latencies_ms(clients[i][0], calls)), len(clients))
    rates, repeats = [], 2
    for _ in range(cfg["serving_rounds"]):
        seconds = _in_threads(lambda i: [clients[i][1]() for _ in range(repeats)], len(clients))
        rates.append(len(clients) * repeats * cfg["serving_batch"] / seconds)
    values = [v for per_client in latency for v in per_client]
    return {
        "p50_ms_batch_1": float(np.percentile(values, 50)),
        "p99_ms_batch_1": float(np.percentile(values, 99)),
        "latency_calls": len(values),
        f"images_per_s_batch_{cfg['serving_batch']}": median(rates),
    }


def bench_clients(cfg: dict, model) -> dict:
    """``encode`` through the SavedModel and LiteRT: p50/p99 latency at batch 1 and throughput at the serving
    batch, for one client and for SERVING_CLIENTS concurrent ones (threads sharing one loaded SavedModel; LiteRT
    interpreters are not thread-safe, so each LiteRT client has its own, one per batch size to avoid resizing)."""
    import tensorflow as tf

    from tfbetavae.export import export_saved_model

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = None
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    one, many = make_images(1, seed=2), make_images(cfg["serving_batch"], seed=3)
    result = {"batch_throughput": cfg["serving_batch"], "clients": SERVING_CLIENTS, "litert_threads": threads}
    with tempfile.TemporaryDirectory() as folder:
        path = export_saved_model(model, Path(folder) / "betavae", version=1, tflite=Interpreter is not None)
        signature = tf.saved_model.load(str(path)).signatures["encode"]
        one_t, many_t = tf.constant(one), tf.constant(many)

        def saved_model_client():
            return lambda: signature(images=one_t)["mean"].numpy(), lambda: signature(images=many_t)["mean"].numpy()

        def litert_client():
            small, large = (
                Interpreter(model_path=str(path / "model.tflite"), num_threads=threads).get_signature_runner("encode")
                for _ in range(2)
            )
            return lambda: small(images=one)["mean"], lambda: large(images=many)["mean"]

        makers = {"saved_model": saved_model_client}
        if Interpreter is None:
            result["litert"] = {"status": "skipped", "reason": "ai-edge-litert is not installed (pip install -e .[dev])"}
        else:
            makers["litert"] = litert_client
        for name, make in makers.items():
            result[name] = {
                "one_client": _client_numbers([make()], cfg),
                "concurrent": _client_numbers([make() for _ in range(SERVING_CLIENTS)], cfg),
            }
    return result


def client_rows(clients: dict | None) -> list[str]:
    """Table rows of the clients section: each client kind alone, then under concurrent clients."""
    if not clients:
        return []
    rows, size = [], clients["batch_throughput"]
    key = f"images_per_s_batch_{size}"
    for name, label in (("saved_model", "SavedModel"), ("litert", "LiteRT")):
        numbers = clients.get(name, {})
        if "one_client" not in numbers:
            continue
        alone, many = numbers["one_client"], numbers["concurrent"]
        rows.append(
            f"| {label} encode, batch 1, {clients['clients']} clients | p50 {many['p50_ms_batch_1']:.2f} ms, p99 "
            f"{many['p99_ms_batch_1']:.2f} ms | 1 client p50 {alone['p50_ms_batch_1']:.2f} ms, p99 "
            f"{alone['p99_ms_batch_1']:.2f} ms | {many['p50_ms_batch_1'] / alone['p50_ms_batch_1']:.2f}× (p50) |"
        )
        rows.append(
            f"| {label} encode, batch {size}, {clients['clients']} clients | {many[key]:.0f} images/s | 1 client "
            f"{alone[key]:.0f} images/s | {many[key] / alone[key]:.2f}× |"
        )
    return rows


# ----------------------------------------------------------------------------------------------- investigation
# Each experiment keeps the mathematics of the model and the data unchanged: every alternative formulation below
# is checked against the library's own output before it is timed, and the verdict is a measured ratio.


def _pad1(x):
    import tensorflow as tf

    return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])


def conv_k4s2_by_space_to_depth(layer, x):
    """Conv2D(k4, s2, "same") on an even input as a 2x2 stride-1 "valid" convolution of space_to_depth(pad(x, 1)).

    o[i] = Σ_k xp[2i + k]·w[k] (k = 0..3, xp = x padded by one) = X[i]·(w0, w1) + X[i + 1]·(w2, w3), with X the
    2-pixel blocks of xp; in 2-D the kernel is regrouped [2·dr + a, 2·dc + b] → [dr, dc, (a, b, c_in)].
    """
    import tensorflow as tf

    kernel = layer.kernel  # [4, 4, c_in, c_out]
    c_in, c_out = kernel.shape[2], kernel.shape[3]
    regrouped = tf.reshape(kernel, (2, 2, 2, 2, c_in, c_out))  # [dr, a, dc, b, c_in, c_out]
    regrouped = tf.reshape(tf.transpose(regrouped, (0, 2, 1, 3, 4, 5)), (2, 2, 4 * c_in, c_out))
    y = tf.nn.conv2d(tf.nn.space_to_depth(_pad1(x), 2), regrouped, 1, "VALID") + layer.bias
    return layer.activation(y)


# Which tap of the 3-wide window each output phase uses: [window position r, phase a, kernel index k].
# Conv2DTranspose(k4, s2, "same"): y[2j] = x[j]·w1 + x[j-1]·w3 and y[2j+1] = x[j+1]·w0 + x[j]·w2.
_PHASE_TAPS = np.zeros((3, 2, 4), np.float32)
_PHASE_TAPS[0, 0, 3] = _PHASE_TAPS[1, 0, 1] = _PHASE_TAPS[1, 1, 2] = _PHASE_TAPS[2, 1, 0] = 1.0


def conv_transpose_k4s2_by_depth_to_space(layer, x):
    """Conv2DTranspose(k4, s2, "same") as a 3x3 "valid" convolution of pad(x, 1) into 4·c_out channels + depth_to_space.

    Each of the four output phases reads a 2x2 window of the input; the 3x3 kernel holds those four 2x2
    kernels (zeros elsewhere), so it does 9/4 of the transposed convolution's multiply-adds.
    """
    import tensorflow as tf

    kernel = layer.kernel  # [4, 4, c_out, c_in]
    c_out, c_in = kernel.shape[2], kernel.shape[3]
    taps = tf.constant(_PHASE_TAPS)
    big = tf.einsum("rak,sbl,kloi->rsiabo", taps, taps, kernel)  # [3, 3, c_in, 2, 2, c_out]
    y = tf.nn.conv2d(_pad1(x), tf.reshape(big, (3, 3, c_in, 4 * c_out)), 1, "VALID")
    return layer.activation(tf.nn.depth_to_space(y, 2) + layer.bias)


# Conv2DTranspose(k4, s2, "same") rows: output phase a reads (input offset, kernel index) pairs.
_PHASE_READS = {0: ((0, 1), (-1, 3)), 1: ((1, 0), (0, 2))}


def conv_transpose_k4s2_by_matmul(layer, x):
    """Conv2DTranspose(k4, s2, "same") as one matmul x·W → [B, H, W, 4, 4, c_out], then the overlapping adds."""
    import tensorflow as tf

    kernel = layer.kernel  # [4, 4, c_out, c_in]
    c_out, c_in = kernel.shape[2], kernel.shape[3]
    height, width = x.shape[1], x.shape[2]
    weights = tf.reshape(tf.transpose(kernel, (3, 0, 1, 2)), (c_in, 16 * c_out))
    products = tf.reshape(tf.matmul(tf.reshape(x, (-1, c_in)), weights), (-1, height, width, 4, 4, c_out))
    padded = tf.pad(products, [[0, 0], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]])
    phases = [
        tf.add_n(
            [
                padded[:, 1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width, kr, kc, :]
                for dr, kr in _PHASE_READS[a]
                for dc, kc in _PHASE_READS[b]
            ]
        )
        for a in (0, 1)
        for b in (0, 1)
    ]
    return layer.activation(tf.nn.depth_to_space(tf.concat(phases, -1), 2) + layer.bias)


def conv_transpose_k4s2_fast_forward(layer, x):
    """Conv2DTranspose(k4, s2, "same"): forward by depth_to_space (as above), gradients by TF's own kernels.

    The gradients are the ones TensorFlow uses for the transposed convolution (Conv2D of the incoming gradient
    for the input, Conv2DBackpropFilter for the kernel), so only the forward pass changes.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def transposed(x, kernel):
        c_out, c_in = kernel.shape[2], kernel.shape[3]
        taps = tf.constant(_PHASE_TAPS)
        big = tf.reshape(tf.einsum("rak,sbl,kloi->rsiabo", taps, taps, kernel), (3, 3, c_in, 4 * c_out))
        y = tf.nn.depth_to_space(tf.nn.conv2d(_pad1(x), big, 1, "VALID"), 2)

        def gradient(dy):
            dx = tf.nn.conv2d(dy, kernel, 2, "SAME")
            dkernel = tf.raw_ops.Conv2DBackpropFilter(
                input=dy, filter_sizes=tf.shape(kernel), out_backprop=x, strides=[1, 2, 2, 1], padding="SAME"
            )
            return dx, dkernel

        return y, gradient

    return layer.activation(transposed(x, tf.identity(layer.kernel)) + layer.bias)


def _variant_model(
    encoder_first_by_s2d: bool = False,
    deconvs_by_d2s=(),
    closed_form_loss: bool = False,
    deconvs_by_matmul=(),
    deconvs_fast_forward=(),
):
    """A default BetaVAE (same weights as make_model) whose call or loss uses the alternative formulation."""
    import keras
    import tensorflow as tf

    from tfbetavae.model import BetaVAE
    from tfbetavae.networks import Decoder, Encoder

    class S2DEncoder(Encoder):
        def call(self, images):
            h = conv_k4s2_by_space_to_depth(self.convs[0], images)
            for conv in self.convs[1:]:
                h = conv(h)
            return keras.ops.split(self.moments(self.hidden(self.flatten(h))), 2, axis=-1)

    class D2SDecoder(Decoder):
        def call(self, codes):
            h = self.reshape(self.expand(self.hidden(codes)))
            for index, deconv in enumerate(self.deconvs):
                if index in deconvs_by_d2s:
                    h = conv_transpose_k4s2_by_depth_to_space(deconv, h)
                elif index in deconvs_by_matmul:
                    h = conv_transpose_k4s2_by_matmul(deconv, h)
                elif index in deconvs_fast_forward:
                    h = conv_transpose_k4s2_fast_forward(deconv, h)
                else:
                    h = deconv(h)
            return h

    class ClosedFormVAE(BetaVAE):
        """BetaVAE.vae_terms with the Bernoulli log-likelihood and the Gaussian KL written out."""

        def vae_terms(self, images, training=False):
            mean, log_variance = self._moments(images, training=training)
            seed = self.sampling_seed(0 if training else 1)
            codes = mean + tf.exp(0.5 * log_variance) * tf.random.stateless_normal(tf.shape(mean), seed=seed)
            logits = self.decoder(codes, training=training)
            pixels = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=logits)
            kl_per_dim = 0.5 * (tf.square(mean) + tf.exp(log_variance) - 1.0 - log_variance)
            return {
                "mean": mean,
                "log_variance": log_variance,
                "codes": codes,
                "reconstruction": tf.reduce_mean(tf.reduce_sum(pixels, axis=[1, 2, 3])),
                "kl": tf.reduce_mean(tf.reduce_sum(kl_per_dim, axis=-1)),
                "kl_per_dim": kl_per_dim,
            }

    model = make_model("tf_function")
    images = make_images(8, seed=5)
    before = model(images).numpy()
    if encoder_first_by_s2d:
        model.encoder.__class__ = S2DEncoder
    if deconvs_by_d2s or deconvs_by_matmul or deconvs_fast_forward:
        model.decoder.__class__ = D2SDecoder
    if closed_form_loss:
        model.__class__ = ClosedFormVAE
        images_tensor = tf.constant(images)
        terms = {k: float(tf.reduce_mean(v)) for k, v in BetaVAE.vae_terms(model, images_tensor).items()}
        mine = {k: float(tf.reduce_mean(v)) for k, v in model.vae_terms(images_tensor).items()}
        # The KL is noise-free; the reconstruction depends on the noise stream, so it is compared loosely.
        assert abs(terms["kl"] - mine["kl"]) <= 1e-4 * max(1.0, abs(terms["kl"])), (terms, mine)
        assert abs(terms["reconstruction"] - mine["reconstruction"]) <= 0.05 * abs(terms["reconstruction"]), (
            terms,
            mine,
        )
    after = model(images).numpy()
    difference = float(np.abs(after - before).max())
    assert difference < 1e-5, f"alternative formulation changes the output by {difference}"
    return model, difference


def investigate_training_variants(cfg: dict, log) -> dict:
    images = make_images(BATCH_SIZE)
    variants = {
        "baseline": {},
        "conv_0 via space_to_depth": {"encoder_first_by_s2d": True},
        "deconv_3 via depth_to_space": {"deconvs_by_d2s": (3,)},
        "all deconvs via depth_to_space": {"deconvs_by_d2s": (0, 1, 2, 3)},
        "deconv_3 via matmul + overlapping adds": {"deconvs_by_matmul": (3,)},
        "deconv_3: depth_to_space forward, TF's gradient kernels": {"deconvs_fast_forward": (3,)},
        "deconv_2, deconv_3: depth_to_space forward, TF's gradient kernels": {"deconvs_fast_forward": (2, 3)},
        "closed-form KL and sigmoid cross-entropy": {"closed_form_loss": True},
    }
    models, differences = {}, {}
    for name, options in variants.items():
        models[name], differences[name] = _variant_model(**options)
        for _ in range(2):
            models[name].train_on_batch(images)
    rates = {name: [] for name in models}
    steps = cfg["train_steps"]
    for _ in range(cfg["rounds"] * 2):
        for name, model in models.items():
            rates[name].append(steps * BATCH_SIZE / timed(lambda m=model: m.train_on_batch(images), steps))
    log(f"  training variants done, load {load()}")
    return {
        name: {
            **summary(rates[name]),
            "max_abs_output_difference": differences[name],
            "ratio_to_baseline": median([a / b for a, b in zip(rates[name], rates["baseline"])]),
        }
        for name in models
    }


def investigate_layers(cfg: dict) -> dict:
    """Forward and forward+backward time of every layer at batch 64 (as in training: no input gradient for conv_0)."""
    import tensorflow as tf

    model = make_model("tf_function")
    rows, shape = [], (BATCH_SIZE, *model.image_shape)
    layers = [(layer, True) for layer in model.encoder.layers] + [(layer, False) for layer in model.decoder.layers]
    shape_by_net = {True: (BATCH_SIZE, *model.image_shape), False: (BATCH_SIZE, model.latent_dim)}
    functions = []
    for layer, in_encoder in layers:
        shape = shape_by_net[in_encoder]
        flops, out = layer_flops(layer, shape[1:])
        shape_by_net[in_encoder] = (BATCH_SIZE, *out)
        if not flops:
            continue
        x = tf.random.uniform(shape)
        needs_input_gradient = layer is not model.encoder.convs[0]

        @tf.function
        def forward(x=x, layer=layer):
            return tf.reduce_sum(layer(x))

        @tf.function
        def backward(x=x, layer=layer, needs_input_gradient=needs_input_gradient):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.square(layer(x)))
            sources = ([x] if needs_input_gradient else []) + list(layer.trainable_variables)
            return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(loss, sources)])

        forward(), backward()
        functions.append((f"{'encoder' if in_encoder else 'decoder'}/{layer.name}", flops, forward, backward))
    times = {name: ([], []) for name, *_ in functions}
    for _ in range(cfg["rounds"] * 3):
        for name, _, forward, backward in functions:
            times[name][0].append(timed(lambda f=forward: f().numpy(), 3) / 3)
            times[name][1].append(timed(lambda f=backward: f().numpy(), 3) / 3)
    for name, flops, *_ in functions:
        fwd, both = min(times[name][0]), min(times[name][1])
        rows.append(
            {
                "layer": name,
                "forward_mflop_per_batch": flops * BATCH_SIZE / 1e6,
                "forward_ms_best": fwd * 1e3,
                "forward_backward_ms_best": both * 1e3,
                "forward_backward_ms_median": median(times[name][1]) * 1e3,
                "forward_backward_gflops_best": 3 * flops * BATCH_SIZE / both / 1e9,
            }
        )
    return {"note": "best (min) of interleaved repetitions: least disturbed by other load", "layers": rows}


def _settings_run(extra_args, env_updates, quick: bool) -> float | None:
    """tf_function training images/s in a fresh process with other TF settings (they apply at start-up only)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "r.json"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--sections",
            "training",
            "--modes",
            "tf_function",
            "--no-torch",
            "--json",
            str(out),
            *(["--quick"] if quick else []),
            *extra_args,
        ]
        env = {**os.environ, **env_updates}
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0 or not out.exists():
            return None
        return json.loads(out.read_text())["training"]["tf_function"]["images_per_s"]


def investigate_settings(cfg: dict, log) -> dict:
    settings = {
        "default (oneDNN on, intra-op = cores, inter-op auto)": ([], {}),
        "TF_ENABLE_ONEDNN_OPTS=0": ([], {"TF_ENABLE_ONEDNN_OPTS": "0"}),
        "intra-op threads 1": (["--threads", "1"], {}),
        "inter-op threads 1": (["--inter-threads", "1"], {}),
        "inter-op threads 2": (["--inter-threads", "2"], {}),
    }
    rates = {name: [] for name in settings}
    for _ in range(2):  # alternate the processes, so each setting sees early and late load
        for name, (extra, env) in settings.items():
            rates[name].append(_settings_run(extra, env, cfg is QUICK))
    log(f"  settings done, load {load()}")
    default = rates[next(iter(settings))]
    result = {}
    for name, values in rates.items():
        ok = [v for v in values if v]
        pairs = [a / b for a, b in zip(values, default) if a and b]
        result[name] = {
            "images_per_s_per_process": values,
            "images_per_s": median(ok) if ok else None,
            "ratio_to_default": median(pairs) if pairs else None,
        }
    return result


def _inside_heart_without_pow(u, v):
    """The renderer's heart test with r·r·r and x²·y·y·y instead of NumPy's float32 ``** 3`` (a slow powf)."""
    x = u * 1.15
    y = -v * 1.15 + 0.15
    x2 = x * x
    r = x2 + y * y - 1.0
    return r * r * r <= x2 * y * y * y


def investigate_data_and_metric(cfg: dict, log) -> dict:
    """Effect of the proposed renderer fixes on rendering, the training pipeline and the β-VAE score."""
    import importlib

    from tfbetavae.data import ProceduralDSprites, training_dataset

    dsprites_module = importlib.import_module("tfbetavae.data.dsprites")
    original = dsprites_module._inside_heart
    data = ProceduralDSprites()
    result = {}

    # 1. The fix renders the same pixels: every heart of a random sample of factor combinations.
    rng = np.random.default_rng(0)
    factors = data.sample_factors(256 if cfg is QUICK else 8192, rng)
    factors[:, 0] = 2
    reference = data.sample_observations_from_factors(factors, rng)
    dsprites_module._inside_heart = _inside_heart_without_pow
    try:
        fixed = data.sample_observations_from_factors(factors, rng)
    finally:
        dsprites_module._inside_heart = original
    result["heart_fix_differing_pixels"] = int((reference != fixed).sum())
    result["heart_fix_images_compared"] = len(factors)

    # 2. Renderer, training pipeline and metric as they are, with the heart fix, and with the fix plus
    #    rendering large requests 64 images at a time (the metric asks for 2048 at once), alternated.
    model = make_model("tf_function")
    model.train_on_batch(make_images(BATCH_SIZE))
    render_class = type(data)
    original_render = render_class._render

    def render_in_slices(self, factors, rng, size=BATCH_SIZE):
        if len(factors) <= size:
            return original_render(self, factors, rng)
        return np.concatenate([original_render(self, factors[i : i + size], rng) for i in range(0, len(factors), size)])

    variants = {"": (original, original_render), "_with_heart_fix": (_inside_heart_without_pow, original_render)}
    variants["_with_heart_fix_and_slices_of_64"] = (_inside_heart_without_pow, render_in_slices)
    rates = {(key, variant): [] for key in ("render_64", "render_2048", "pipeline", "metric") for variant in variants}
    bare = bare_encoders(cfg, model, (BATCH_SIZE, 2048))
    bare_rates = {size: [] for size in bare}
    for _ in range(cfg["metric_rounds"]):
        for variant, (heart, render) in variants.items():
            dsprites_module._inside_heart, render_class._render = heart, render
            try:
                for size in (64, 2048):
                    calls = max(1, 1280 // size)
                    seconds = timed(lambda n=size: data.sample(n, np.random.default_rng(1)), calls)
                    rates[f"render_{size}", variant].append(calls * size / seconds)
                rates["pipeline", variant] += pipeline_rate(
                    training_dataset(data, BATCH_SIZE, 0), cfg["data_batches"], 1
                )
                rates["metric", variant].append(metric_rate(cfg, model, data))
            finally:
                dsprites_module._inside_heart, render_class._render = original, original_render
            for size, function in bare.items():
                bare_rates[size].append(function())
    log(f"  data/metric fixes done, load {load()}")
    for (key, variant), values in rates.items():
        result[f"{key}{variant}"] = summary(values)
    for size, values in bare_rates.items():
        result[f"bare_encoder_batch_{size}"] = summary(values)
    for variant in variants:
        result[f"metric{variant}_vs_bare_encoder_batch_64"] = (
            result[f"metric{variant}"]["images_per_s"] / result["bare_encoder_batch_64"]["images_per_s"]
        )

    # 3. model.encode's speed per image against batch size (the metric encodes 2048 images a call).
    sizes = (64, 256, 512, 2048)
    batches = {size: make_images(size, seed=1) for size in sizes}
    encode_rates = {size: [] for size in sizes}
    for size in sizes:
        model.encode(batches[size])
    for _ in range(cfg["encode_rounds"]):
        for size in sizes:
            calls = max(1, 4096 // size) if cfg is not QUICK else 1
            encode_rates[size].append(calls * size / timed(lambda b=batches[size]: model.encode(b), calls))
    result["encode_by_batch_size"] = {str(size): summary(encode_rates[size]) for size in sizes}
    return result


def investigate_prefetch(cfg: dict, log) -> dict:
    """fit() throughput on a fixed in-memory batch, on training_dataset (parallel + prefetch) and without both."""
    import tensorflow as tf

    from tfbetavae.data import ProceduralDSprites, training_dataset

    data = ProceduralDSprites()
    height, width, channels = data.observation_shape

    def render(index):
        return data.sample(BATCH_SIZE, np.random.default_rng([0, int(index)]))[1].astype(np.float32)

    def render_tensor(index):
        images = tf.numpy_function(render, [index], tf.float32, stateful=False)
        return tf.ensure_shape(images, (BATCH_SIZE, height, width, channels))

    datasets = {
        "in-memory batch": tf.data.Dataset.from_tensors(make_images(BATCH_SIZE)).repeat(),
        "training_dataset (parallel map + prefetch)": training_dataset(data, BATCH_SIZE, 0),
        "same renderer, sequential map, no prefetch": tf.data.Dataset.counter().map(render_tensor),
    }
    model = make_model("tf_function")
    steps = max(2, cfg["train_steps"] * 4)
    rates = {name: [] for name in datasets}
    for dataset in datasets.values():
        model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    for _ in range(cfg["data_rounds"]):
        for name, dataset in datasets.items():
            seconds = timed(lambda d=dataset: model.fit(d, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False))
            rates[name].append(steps * BATCH_SIZE / seconds)
    log(f"  prefetch done, load {load()}")
    return {name: summary(values) for name, values in rates.items()}


def run_investigation(cfg: dict, log) -> dict:
    result = {"load_before": load()}
    result["layers"] = investigate_layers(cfg)
    log(f"  layers done, load {load()}")
    result["training_variants"] = investigate_training_variants(cfg, log)
    result["data_and_metric"] = investigate_data_and_metric(cfg, log)
    result["prefetch"] = investigate_prefetch(cfg, log)
    result["settings"] = investigate_settings(cfg, log)
    result["load_after"] = load()
    return result


# ----------------------------------------------------------------------------------------------- report
def targets(results: dict) -> dict:
    checks = {}

    def add(name, value):
        if value is not None:
            checks[name] = {"value": value, "target": TARGETS[name], "met": bool(value >= TARGETS[name])}

    training, peak = results.get("training", {}), results.get("peak", {})
    add("training_vs_pytorch", training.get("ratio_vs_pytorch"))
    add("fit_default_precision_vs_pytorch_best", results.get("fit", {}).get("fit_default_precision_vs_pytorch_best"))
    add("training_share_of_peak", peak.get("share_of_peak"))
    data = results.get("data", {})
    add("data_procedural_vs_training", data.get("procedural_vs_training"))
    add("data_npz_vs_training", data.get("npz_vs_training"))
    add("metric_vs_bare_encoder", results.get("metric", {}).get("ratio_vs_bare_encoder"))
    study = results.get("study", {})
    ceilings = {
        "study_scoring_share_3_evaluations": study.get("share_scored_3x_per_10k"),
        "paper_study_minutes": None if "paper_study_hours_estimate" not in study else study["paper_study_hours_estimate"] * 60,
    }
    ceilings["tune_scoring_share_default_trial"] = results.get("tune", {}).get("share_default_trial")
    for name, value in ceilings.items():
        if value is not None:
            checks[name] = {"value": value, "target": CEILINGS[name], "met": bool(value <= CEILINGS[name])}
    return checks


def table(results: dict) -> str:
    rows = []
    machine = results["machine"]
    rows.append(
        f"machine: {machine['cpu_count']} cores ({machine['processor']}), load average {machine['load_before']} → "
        f"{machine['load_after']}; TF intra-op threads {machine['tf_intra_op_threads']}, inter-op "
        f"{machine['tf_inter_op_threads']}; torch threads {machine.get('torch_threads', '-')}"
    )
    rows.append("| what | number | compared with | ratio |")
    rows.append("| --- | ---: | --- | ---: |")
    training = results.get("training")
    if training:
        torch_info = training["pytorch"]
        torch_rate = torch_info.get("images_per_s")
        for mode in MODES:
            if mode in training:
                rate = training[mode]["images_per_s"]
                ratio = f"{rate / torch_rate:.2f}×" if torch_rate else "skipped"
                if mode == "tf_function" and "ratio_vs_pytorch" in training:
                    ratio = f"{training['ratio_vs_pytorch']:.2f}× (paired)"
                compared = (
                    f"PyTorch {torch_info['version']} ({torch_info['layout']}) {torch_rate:.0f} images/s"
                    if torch_rate
                    else "PyTorch: skipped"
                )
                rows.append(f"| training, {mode} (batch 64) | {rate:.0f} images/s | {compared} | {ratio} |")
        peak = results["peak"]
        if "share_of_peak" in peak:
            rows.append(
                f"| training FLOP/s ({peak['flops_per_trained_image'] / 1e6:.1f} MFLOP/image) | "
                f"{peak['achieved_gflops']:.1f} GFLOP/s | matmul peak {peak['peak_gflops']:.1f} GFLOP/s "
                f"(numpy {peak['numpy_gflops']:.0f}, TF {peak['tf_gflops']:.0f}) | {peak['share_of_peak']:.0%} |"
            )
    rows += fit_rows(results.get("fit"))
    networks = results.get("networks")
    if networks:
        rows.append(
            f"| training, standard 64×64 network after #19 (bare step) | {networks['library']['images_per_s']:.0f} "
            f"images/s | same step before #19 (pre-change network and likelihood, same weights) "
            f"{networks['pre_change']['images_per_s']:.0f} images/s | {networks['library_vs_pre_change']:.2f}× (paired) |"
        )
    independent = results.get("independent")
    if independent:
        threads, processes = independent["layouts"]
        rows.append(
            f"| independent runs ({independent['precision']}, fit on procedural data), {processes} | "
            f"{independent[processes]['images_per_s']:.0f} images/s in all | {threads} "
            f"{independent[threads]['images_per_s']:.0f} images/s | {independent['processes_vs_threads']:.2f}× |"
        )
    study = results.get("study")
    if study:
        rows.append(
            f"| study scoring share ({', '.join(study['scores'])}, study sizes), run scored at its end | "
            f"{study['share_scored_once_per_10k'] * 100:.1f} % of a 10,000-step run | scored 3 times "
            f"{study['share_scored_3x_per_10k'] * 100:.1f} % | target < 20 % |"
        )
        one, two = list(study["wall_seconds"])
        rows.append(
            f"| study wall time ({study['grid']}), {two} | {median(study['wall_seconds'][two]):.0f} s | {one} "
            f"{median(study['wall_seconds'][one]):.0f} s | {study['workers_vs_threads']:.2f}× |"
        )
        rows.append(
            f"| 3 β × 3 seeds × 10,000 steps, scored 3 times (estimate from the parts) | "
            f"{study['paper_study_hours_estimate'] * 60:.0f} min | target | ≤ 45 min |"
        )
    tune = results.get("tune")
    if tune:
        sizes = " + ".join(str(v) for v in tune["sizes"].values())
        rows.append(
            f"| tune scoring share ({tune['metric']} on {sizes} points, the tuner's sizes), default trial | "
            f"{tune['share_default_trial'] * 100:.1f} % of a {tune['trial_steps']:,}-step trial "
            f"({tune['seconds_per_scoring']:.0f} s) | the paper's sizes (estimate) "
            f"{tune['paper_sizes_share_estimate'] * 100:.0f} % ({tune['paper_sizes_seconds_estimate']:.0f} s) | "
            f"target < 20 % |"
        )
    data = results.get("data")
    if data:
        consumption = data.get("training_consumption_images_per_s")
        for name in ("procedural", "npz"):
            rate = data[name]["images_per_s"]
            ratio = f"{rate / consumption:.1f}×" if consumption else "-"
            rows.append(
                f"| data pipeline, {name} | {rate:.0f} images/s | training {consumption or 0:.0f} images/s | {ratio} |"
            )
    metric = results.get("metric")
    if metric:
        rate = metric["beta_vae_score"]["images_per_s"]
        for key in ("bare_encoder_batch_64", f"bare_encoder_batch_{metric['metric_encode_call_size']}"):
            bare = metric[key]["images_per_s"]
            rows.append(
                f"| β-VAE score evaluation | {rate:.0f} images/s | {key.replace('_', ' ')} {bare:.0f} images/s "
                f"| {rate / bare:.0%} |"
            )
    serving = results.get("serving")
    if serving:
        size = serving["batch_throughput"]
        saved, keras_ = serving["saved_model"], serving["keras_in_process"]
        rows.append(
            f"| SavedModel encode, batch 1 | p50 {saved['p50_ms_batch_1']:.2f} ms, p99 {saved['p99_ms_batch_1']:.2f} ms "
            f"| Keras model.encode p50 {keras_['p50_ms_batch_1']:.2f} ms, p99 {keras_['p99_ms_batch_1']:.2f} ms "
            f"| {serving['p50_ratio_saved_model_vs_keras']:.2f}× (p50) |"
        )
        key = f"images_per_s_batch_{size}"
        rows.append(
            f"| SavedModel encode, batch {size} | {saved[key]:.0f} images/s | Keras model.encode {keras_[key]:.0f} "
            f"images/s | {serving['throughput_ratio_saved_model_vs_keras']:.2f}× |"
        )
    rows += client_rows(results.get("clients"))
    checks = results.get("targets", {})
    if checks:
        rows.append("")
        for name, check in checks.items():
            rows.append(
                f"target {name}: {check['value']:.2f} ({'≤' if name in CEILINGS else '≥'} {check['target']}) {'met' if check['met'] else 'NOT met'}"
            )
    return "\n".join(rows)


def fit_rows(fit: dict | None) -> list[str]:
    """Table rows of the fit section: fit vs bare step per precision, precisions, library best vs PyTorch best."""
    if not fit:
        return []
    rows = []
    spe, user_spe = fit["steps_per_execution"], fit["user_steps_per_execution"]
    for precision in fit["precisions"]:
        row = fit[precision]
        bare = row["bare_step"]["images_per_s"]
        for kind, label in (("fit", f"steps_per_execution {user_spe}"), ("fit_spe", f"steps_per_execution {spe}")):
            if kind in row:
                rows.append(
                    f"| fit path, {precision}, {label} (whole call {row[f'{kind}_whole_call']['images_per_s']:.0f}) | "
                    f"{row[kind]['images_per_s']:.0f} images/s | bare tf.function step {bare:.0f} images/s | "
                    f"{row[f'{kind}_vs_bare_step']:.2f}× |"
                )
    for precision in fit["precisions"]:
        versus = fit.get(f"{precision}_vs_float32")
        if versus:
            rows.append(
                f"| {precision} vs float32 | bare step {versus['bare_step']:.2f}×, fit {versus['fit']:.2f}× | "
                "same kind of step in float32 | (paired) |"
            )
    torch_info = fit["pytorch"]
    if torch_info.get("status") == "measured":
        configs = ", ".join(f"{name} {value['images_per_s']:.0f}" for name, value in torch_info["configs"].items())
        rows.append(f"| PyTorch {torch_info['version']}, {torch_info['threads']} threads | {configs} images/s | "
                    f"best: {torch_info['best_config']} | |")
        for kind, label in (("fit", "fit path"), ("bare_step", "bare step")):
            best = fit[f"best_{kind}"]
            rows.append(
                f"| library best, {label} ({best['precision']}) | {best['images_per_s']:.0f} images/s | PyTorch best "
                f"({torch_info['best_config']}) {torch_info['images_per_s']:.0f} images/s | {best['vs_pytorch_best']:.2f}× "
                "(paired) |"
            )
    else:
        rows.append(f"| PyTorch | skipped: {torch_info.get('reason')} | | |")
    return rows


def machine_info(threads: int | None, inter_threads: int | None) -> dict:
    import keras
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        "processor": _cpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or f"0 (auto: {os.cpu_count()})",
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "0 (auto)",
        "threads_requested": threads,
        "inter_op_threads_requested": inter_threads,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (oneDNN on)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_before": load(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="tfbetavae benchmark (see docs/performance.md)")
    parser.add_argument("--quick", action="store_true", help="tiny repetition counts (smoke test)")
    parser.add_argument("--json", default="bench_results.json", help="where to write the results")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--modes", default=",".join(MODES), help=f"training modes: comma list of {', '.join(MODES)}")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument(
        "--threads", type=int, default=None, help="intra-op threads for TF and PyTorch (default: cores)"
    )
    parser.add_argument("--inter-threads", type=int, default=None, help="TF inter-op threads (default: auto)")
    parser.add_argument("--investigate", action="store_true", help="also run the experiments (slow)")
    parser.add_argument(
        "--precisions", default=",".join(PRECISIONS), help=f"fit section: comma list of {', '.join(PRECISIONS)}"
    )
    parser.add_argument(
        "--steps-per-execution", type=int, default=DEFAULT_STEPS_PER_EXECUTION,
        help="fit section: the steps_per_execution compared with compile_model's default",
    )
    # A worker process of the "independent" section (started by the benchmark itself).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-steps", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--worker-precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--worker-seed", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = (set(sections) - set(SECTIONS)) | (set(modes) - set(MODES)) | (set(precisions) - set(PRECISIONS))
    if unknown:
        raise SystemExit(f"unknown sections, modes or precisions: {sorted(unknown)}")
    if args.steps_per_execution < 1:
        raise SystemExit(f"--steps-per-execution must be >= 1, got {args.steps_per_execution}")
    threads = args.threads or os.cpu_count()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    if args.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads)
    if args.worker:
        independent_worker(args)
        return {}

    def log(message):
        print(message, file=sys.stderr, flush=True)

    results = {"machine": machine_info(threads, args.inter_threads), "quick": bool(args.quick), "config": dict(cfg)}
    start = time.perf_counter()
    consumption = None
    if "training" in sections:
        log(f"training ({', '.join(modes)}{'' if args.no_torch else ', pytorch'}), load {load()}")
        results.update(bench_training(cfg, modes, not args.no_torch, threads, log))
        results["machine"]["torch_threads"] = results["training"]["pytorch"].get("threads", "-")
        consumption = results["training"].get("tf_function", {}).get("images_per_s")
    if "fit" in sections:
        log(f"fit path and precisions ({', '.join(precisions)}{'' if args.no_torch else ', pytorch'}), load {load()}")
        results["fit"] = bench_fit(cfg, precisions, not args.no_torch, threads, args.steps_per_execution, log)
    if "networks" in sections:
        log(f"standard 64x64 network after #19 vs before it (alternating), load {load()}")
        results["networks"] = bench_networks(cfg, log)
    if "independent" in sections:
        log(f"independent runs (1 x {threads} threads vs {threads} x 1), load {load()}")
        results["independent"] = bench_independent(cfg, threads, log)
    if "study" in sections:
        log(f"study cost (scoring share; 1 x {threads} threads vs {threads} workers x 1), load {load()}")
        results["study"] = bench_study(cfg, threads, log)
    if "tune" in sections:
        log(f"tune trial cost (scoring share at the tuner's sizes), load {load()}")
        results["tune"] = bench_tune(cfg, log)
    if "data" in sections:
        log(f"data pipeline, load {load()}")
        results["data"] = bench_data(cfg, consumption)
    model = None
    if "metric" in sections or "serving" in sections or "clients" in sections:
        model = make_model("tf_function")
        model.train_on_batch(make_images(BATCH_SIZE))
    if "metric" in sections:
        log(f"metric evaluation, load {load()}")
        results["metric"] = bench_metric(cfg, model)
    if "serving" in sections:
        log(f"SavedModel serving, load {load()}")
        results["serving"] = bench_serving(cfg, model)
    if "clients" in sections:
        log(f"SavedModel and LiteRT clients (1 and {SERVING_CLIENTS} at once), load {load()}")
        results["clients"] = bench_clients(cfg, model)
    if args.investigate:
        log(f"investigation, load {load()}")
        results["investigation"] = run_investigation(cfg, log)
    results["machine"]["load_after"] = load()
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["targets"] = targets(results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    print(f"\nwritten to {args.json} ({results['seconds']} s)")
    return results


if __name__ == "__main__":
    main()
