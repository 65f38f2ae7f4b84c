"""``--investigate``: the experiments behind docs/performance.md (per-layer times, alternative formulations of the
convolutions and the loss, renderer fixes, prefetching, TensorFlow settings)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .children import command
from .config import BATCH_SIZE, QUICK
from .data import pipeline_rate
from .flops import layer_flops
from .measure import load, median, summary, timed
from .metric import bare_encoders, metric_rate
from .models import make_images, make_model

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
        line = command(
            "--sections",
            "training",
            "--modes",
            "tf_function",
            "--no-torch",
            "--json",
            str(out),
            *(["--quick"] if quick else []),
            *extra_args,
        )
        env = {**os.environ, **env_updates}
        done = subprocess.run(line, env=env, capture_output=True, text=True, timeout=900)
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


def run(context) -> dict:
    context.log(f"investigation, load {load()}")
    return {"investigation": run_investigation(context.cfg, context.log)}
