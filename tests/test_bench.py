"""scripts/bench.py: a smoke run of the whole benchmark, the FLOP counter, and the formulations it times.

No timing is asserted anywhere: the numbers depend on the machine and on whatever else runs on it.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench.py"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench")


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_quick_run_writes_every_section(tmp_path):
    out = tmp_path / "x.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| training, tf_function" in done.stdout
    results = json.loads(out.read_text())
    for section in ("machine", "training", "peak", "data", "metric", "serving", "targets"):
        assert section in results, section
    assert results["quick"] is True
    assert results["machine"]["cpu_count"] >= 1 and "load_before" in results["machine"]

    training = results["training"]
    for mode in ("eager", "tf_function", "xla"):
        assert _positive(training[mode]["images_per_s"]), mode
    torch_info = training["pytorch"]
    assert torch_info["status"] in ("measured", "skipped")
    if torch_info["status"] == "measured":
        assert _positive(torch_info["images_per_s"]) and torch_info["threads"] >= 1
        assert _positive(training["ratio_vs_pytorch"])
    else:
        assert torch_info["reason"]

    peak = results["peak"]
    for key in ("numpy_gflops", "tf_gflops", "peak_gflops", "achieved_gflops", "share_of_peak"):
        assert _positive(peak[key]), key
    assert peak["flops_per_trained_image"] == 3 * peak["flops_forward_per_image"] > 0

    data = results["data"]
    for name in ("procedural", "npz"):
        assert _positive(data[name]["images_per_s"]) and _positive(data[f"{name}_vs_training"]), name
    metric = results["metric"]
    assert _positive(metric["beta_vae_score"]["images_per_s"])
    assert _positive(metric["bare_encoder_batch_64"]["images_per_s"])
    assert _positive(metric["ratio_vs_bare_encoder"])
    serving = results["serving"]
    for caller in ("saved_model", "keras_in_process"):
        assert _positive(serving[caller]["p50_ms_batch_1"]) and _positive(serving[caller]["p99_ms_batch_1"])
        assert serving[caller]["p99_ms_batch_1"] >= serving[caller]["p50_ms_batch_1"]
        assert _positive(serving[caller][f"images_per_s_batch_{serving['batch_throughput']}"])
    for name, check in results["targets"].items():
        assert set(check) == {"value", "target", "met"}, name


def test_flops_of_known_layers(bench):
    from keras import layers

    # 32x32 outputs × 32 filters × (4·4·1) multiply-adds, 2 FLOPs each.
    conv = layers.Conv2D(32, 4, strides=2, padding="same")
    assert bench.layer_flops(conv, (64, 64, 1)) == (2 * 32 * 32 * 32 * 16, (32, 32, 32))
    assert bench.layer_flops(conv, (64, 64, 1))[0] == 1_048_576
    # Every one of the 32x32x32 input values is scattered through a 4x4x1 kernel.
    deconv = layers.Conv2DTranspose(1, 4, strides=2, padding="same")
    assert bench.layer_flops(deconv, (32, 32, 32)) == (1_048_576, (64, 64, 1))
    assert bench.layer_flops(layers.Dense(256), (1024,)) == (2 * 1024 * 256, (256,))
    assert bench.layer_flops(layers.Flatten(), (4, 4, 64)) == (0, (1024,))


def test_flops_of_the_default_model(bench):
    from tfbetavae.model import BetaVAE

    flops = bench.model_flops(BetaVAE())
    # Encoder: convs 1,048,576 + 8,388,608 + 4,194,304 + 2,097,152; dense 524,288 + 10,240.
    assert flops["encoder_forward"] == 16_263_168
    # Decoder: dense 5,120 + 524,288; transposed convs 2,097,152 + 4,194,304 + 8,388,608 + 1,048,576.
    assert flops["decoder_forward"] == 16_258_048
    assert flops["trained_image"] == 3 * 32_521_216
    assert len(flops["layers"]) == 12


def test_flop_count_agrees_with_tensorflows_profiler(bench):
    """TF's own count adds the bias additions (one FLOP per output value), which ours leaves out."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from tfbetavae.model import BetaVAE

    model = BetaVAE()
    function = tf.function(lambda images: model.decoder(model.encoder(images)[0])).get_concrete_function(
        tf.TensorSpec([1, 64, 64, 1])
    )
    graph = convert_variables_to_constants_v2(function).graph
    options = (
        tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
        .with_empty_output()
        .build()
    )
    profiled = tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops
    ours = bench.model_flops(model)["forward"]
    assert ours <= profiled <= ours * 1.01


def test_alternative_formulations_compute_the_same_layers(bench):
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(8, 4, strides=2, padding="same", activation="relu", bias_initializer="random_normal")
    x = tf.constant(rng.random((2, 16, 16, 3)), tf.float32)
    expected = conv(x)  # builds the layer
    np.testing.assert_allclose(bench.conv_k4s2_by_space_to_depth(conv, x), expected, atol=1e-5)
    deconv = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same", bias_initializer="random_normal")
    y = tf.constant(rng.random((2, 6, 6, 7)), tf.float32)
    expected = deconv(y)
    np.testing.assert_allclose(bench.conv_transpose_k4s2_by_depth_to_space(deconv, y), expected, atol=1e-5)
    np.testing.assert_allclose(bench.conv_transpose_k4s2_by_matmul(deconv, y), expected, atol=1e-5)
    # The custom-gradient version: same output and the same gradients as the layer.
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(y)
        native = tf.reduce_sum(tf.square(deconv(y)))
        fast = tf.reduce_sum(tf.square(bench.conv_transpose_k4s2_fast_forward(deconv, y)))
    np.testing.assert_allclose(fast, native, rtol=1e-5)
    sources = [y, deconv.kernel, deconv.bias]
    for mine, theirs in zip(tape.gradient(fast, sources), tape.gradient(native, sources)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_heart_test_without_pow_matches_the_renderer(bench):
    import importlib

    dsprites = importlib.import_module("tfbetavae.data.dsprites")
    rng = np.random.default_rng(0)
    u, v = (rng.uniform(-1.6, 1.6, (64, 64, 64)).astype(np.float32) for _ in range(2))
    np.testing.assert_array_equal(bench._inside_heart_without_pow(u, v), dsprites._inside_heart(u, v))
