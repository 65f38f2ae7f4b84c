"""The benchmark (scripts/bench/, run as scripts/bench.py): a smoke run of the whole benchmark, the FLOP counter,
the formulations it times, the instruction-set comparison and the op-by-op profile.

No timing is asserted anywhere: the numbers depend on the machine and on whatever else runs on it.
"""

import importlib
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench.py"
PACKAGE = ROOT / "scripts" / "bench"
MODULES = ("config", "measure", "flops", "models", "machine", "children", "report", "fit", "networks", "tune",
           "investigate", "op_profile")


def load_bench() -> SimpleNamespace:
    """The package scripts/bench/ and its modules, by name (scripts/ is not put on sys.path)."""
    if "bench" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench", PACKAGE / "__init__.py",
                                                      submodule_search_locations=[str(PACKAGE)])
        package = importlib.util.module_from_spec(spec)
        sys.modules["bench"] = package
        spec.loader.exec_module(package)
    return SimpleNamespace(**{name: importlib.import_module(f"bench.{name}") for name in MODULES})


@pytest.fixture(scope="module")
def bench():
    return load_bench()


MACHINE = {"cpu_count": 2, "processor": "x", "load_before": 1, "load_after": 1, "tf_intra_op_threads": 2,
           "tf_inter_op_threads": 2}


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
    for section in ("machine", "training", "fit", "networks", "independent", "study", "tune", "peak", "data", "metric", "serving",
                    "udr", "pairs", "isa", "targets"):
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

    fit = results["fit"]
    assert fit["precisions"] == ["float32", "bfloat16"] and fit["steps_per_execution"] > fit["user_steps_per_execution"]
    for precision in fit["precisions"]:
        for kind in ("bare_step", "fit", "fit_spe", "fit_whole_call", "fit_spe_whole_call"):
            assert _positive(fit[precision][kind]["images_per_s"]), (precision, kind)
        assert _positive(fit[precision]["fit_vs_bare_step"]) and _positive(fit[precision]["fit_spe_vs_bare_step"])
    assert _positive(fit["bfloat16_vs_float32"]["bare_step"]) and _positive(fit["bfloat16_vs_float32"]["fit"])
    assert fit["default_precision"] in ("float32", "bfloat16")
    if fit["pytorch"]["status"] == "measured":
        assert set(fit["pytorch"]["configs"]) == {
            "float32_nchw", "float32_channels_last", "bf16_autocast_nchw", "bf16_autocast_channels_last"
        }
        assert fit["pytorch"]["best_config"] in fit["pytorch"]["configs"]
        for kind in ("fit", "bare_step"):
            assert fit[f"best_{kind}"]["precision"] in fit["precisions"]
            assert _positive(fit[f"best_{kind}"]["vs_pytorch_best"])
        assert "fit_default_precision_vs_pytorch_best" in results["targets"]
        assert "| library best, fit path" in done.stdout
    assert "| fit path, bfloat16, steps_per_execution" in done.stdout
    independent = results["independent"]
    threads, processes = independent["layouts"]
    assert _positive(independent[threads]["images_per_s"]) and _positive(independent[processes]["images_per_s"])
    assert len(independent[processes]["per_process_images_per_s"][0]) == results["machine"]["cpu_count"]
    assert _positive(independent["processes_vs_threads"])
    assert "| independent runs" in done.stdout
    study = results["study"]
    assert 0 < study["share_scored_once_per_10k"] < study["share_scored_3x_per_10k"] < 1
    assert _positive(study["workers_vs_threads"]) and _positive(study["paper_study_hours_estimate"])
    assert all(len(walls) == 1 and _positive(walls[0]) for walls in study["wall_seconds"].values())
    assert "| study scoring share" in done.stdout and "| study wall time" in done.stdout
    assert 0 < results["tune"]["share_default_trial"] < 1 and "| tune scoring share" in done.stdout
    udr = results["udr"]
    assert _positive(udr["seconds_per_pair"]["seconds"]) and udr["seconds_per_model_encoded"] >= 0
    assert udr["paper_study_seconds"] >= 15 * 14 * udr["seconds_per_pair"]["seconds"] - 0.1
    assert "| UDR, per model pair" in done.stdout
    pairs = results["pairs"]
    assert _positive(pairs["pair_step"]["pairs_per_s"]) and _positive(pairs["pair_step_vs_image_step"])
    assert "| pair step (ada-gvae" in done.stdout

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

    isa = results["isa"]  # the training comparison under the machine's ISA and capped at AVX2
    assert isa["cpu"]["model"] == results["machine"]["processor"] and isa["isas"] == ["native", "AVX2"]
    assert isinstance(isa["cpu"]["vector_units"]["avx2"], bool) and isa["cpu"]["vector_units"]["summary"]
    if isa["status"] == "skipped":  # CI: no PyTorch
        assert "torch" in isa["reason"] and f"skipped: {isa['reason']}" in done.stdout
    else:
        for name, cap in (("native", None), ("AVX2", "AVX2")):
            numbers = isa["by_isa"][name]
            assert numbers["caps"]["ONEDNN_MAX_CPU_ISA"] == cap, name
            assert _positive(numbers["library_best"]["images_per_s"]) and _positive(numbers["pytorch"]["images_per_s"])
            assert _positive(numbers["library_vs_pytorch"]) and _positive(numbers["library_vs_pytorch_per_cpu_second"])
            assert f"| model.fit, {'native ISA' if cap is None else 'ONEDNN_MAX_CPU_ISA=AVX2'} (" in done.stdout
        # The cap reached the child: PyTorch's own kernels (ATen) say so.
        assert isa["by_isa"]["AVX2"]["pytorch"]["cpu_capability"] == "AVX2"
        assert set(isa["by_isa"]["AVX2"]["vs_native"]) == {"library", "pytorch"}


def test_tune_section_measures_a_default_trials_scoring_share(bench):
    """The tune row: a default trial's scoring (β-VAE score at the tuner's sizes) against its 1,000 steps."""
    from tfbetavae.metrics import catalogue

    tune = bench.tune.bench_tune(bench.config.QUICK, lambda message: None)
    assert tune["metric"] == "beta_vae" and tune["trial_steps"] == 1000
    assert tune["sizes"] == {**catalogue.sizes("beta_vae", "tune"), **bench.config.QUICK["tune_sizes"]}
    assert _positive(tune["seconds_per_step"]) and _positive(tune["seconds_per_scoring"])
    assert 0 < tune["share_default_trial"] < tune["paper_sizes_share_estimate"] < 1
    results = {"machine": MACHINE, "tune": tune}
    results["targets"] = bench.report.targets(results)
    check = results["targets"]["tune_scoring_share_default_trial"]
    assert check["value"] == tune["share_default_trial"] and check["target"] == 0.20
    text = bench.report.table(results)
    assert "| tune scoring share (beta_vae on 4 + 2 points, the tuner's sizes), default trial |" in text
    assert "target tune_scoring_share_default_trial" in text and "≤ 0.2" in text


def test_fit_rows_and_paired_ratios(bench):
    """The fit section's table rows from a hand-made result: ratios are medians of per-round ratios."""
    assert bench.measure.paired([2.0, 3.0, 10.0], [1.0, 1.0, 1.0]) == 3.0
    assert bench.measure.paired([2.0, 4.0], [4.0, 2.0]) == pytest.approx(1.25)

    def stats(value):
        return {"images_per_s": value, "best": value, "repetitions": [value]}

    row = {"bare_step": stats(1000.0), "fit": stats(800.0), "fit_whole_call": stats(700.0), "fit_vs_bare_step": 0.8}
    fit = {
        "steps_per_execution": 16, "user_steps_per_execution": 1, "precisions": ["float32"], "float32": row,
        "pytorch": {"status": "skipped", "reason": "torch not installed"},
    }
    rows = bench.report.fit_rows(fit)
    assert rows[0] == (
        "| fit path, float32, steps_per_execution 1 (whole call 700) | 800 images/s | bare tf.function step "
        "1000 images/s | 0.80× |"
    )
    assert rows[-1] == "| PyTorch | skipped: torch not installed | | |"
    assert bench.report.fit_rows(None) == []


def test_the_benchmark_times_what_users_get(bench):
    from tfbetavae.training import compile_model

    models = bench.models
    model = models.make_precision_model("bfloat16", models.default_steps_per_execution())
    assert model.steps_per_execution == compile_model(models.make_precision_model("float32")).steps_per_execution
    assert model.encoder.convs[0].compute_dtype == "bfloat16"


def test_flops_of_known_layers(bench):
    from keras import layers

    # 32x32 outputs × 32 filters × (4·4·1) multiply-adds, 2 FLOPs each.
    conv = layers.Conv2D(32, 4, strides=2, padding="same")
    assert bench.flops.layer_flops(conv, (64, 64, 1)) == (2 * 32 * 32 * 32 * 16, (32, 32, 32))
    assert bench.flops.layer_flops(conv, (64, 64, 1))[0] == 1_048_576
    # Every one of the 32x32x32 input values is scattered through a 4x4x1 kernel.
    deconv = layers.Conv2DTranspose(1, 4, strides=2, padding="same")
    assert bench.flops.layer_flops(deconv, (32, 32, 32)) == (1_048_576, (64, 64, 1))
    assert bench.flops.layer_flops(layers.Dense(256), (1024,)) == (2 * 1024 * 256, (256,))
    assert bench.flops.layer_flops(layers.Flatten(), (4, 4, 64)) == (0, (1024,))


def test_flops_of_the_default_model(bench):
    from tfbetavae.model import BetaVAE

    flops = bench.flops.model_flops(BetaVAE())
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
    ours = bench.flops.model_flops(model)["forward"]
    assert ours <= profiled <= ours * 1.01


def test_alternative_formulations_compute_the_same_layers(bench):
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(8, 4, strides=2, padding="same", activation="relu", bias_initializer="random_normal")
    x = tf.constant(rng.random((2, 16, 16, 3)), tf.float32)
    expected = conv(x)  # builds the layer
    np.testing.assert_allclose(bench.investigate.conv_k4s2_by_space_to_depth(conv, x), expected, atol=1e-5)
    deconv = keras.layers.Conv2DTranspose(5, 4, strides=2, padding="same", bias_initializer="random_normal")
    y = tf.constant(rng.random((2, 6, 6, 7)), tf.float32)
    expected = deconv(y)
    np.testing.assert_allclose(bench.investigate.conv_transpose_k4s2_by_depth_to_space(deconv, y), expected, atol=1e-5)
    np.testing.assert_allclose(bench.investigate.conv_transpose_k4s2_by_matmul(deconv, y), expected, atol=1e-5)
    # The custom-gradient version: same output and the same gradients as the layer.
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(y)
        native = tf.reduce_sum(tf.square(deconv(y)))
        fast = tf.reduce_sum(tf.square(bench.investigate.conv_transpose_k4s2_fast_forward(deconv, y)))
    np.testing.assert_allclose(fast, native, rtol=1e-5)
    sources = [y, deconv.kernel, deconv.bias]
    for mine, theirs in zip(tape.gradient(fast, sources), tape.gradient(native, sources)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_heart_test_without_pow_matches_the_renderer(bench):
    import importlib

    dsprites = importlib.import_module("tfbetavae.data.dsprites")
    rng = np.random.default_rng(0)
    u, v = (rng.uniform(-1.6, 1.6, (64, 64, 64)).astype(np.float32) for _ in range(2))
    np.testing.assert_array_equal(bench.investigate._inside_heart_without_pow(u, v), dsprites._inside_heart(u, v))


def test_networks_section_compares_the_standard_network_with_the_one_before_issue_19(bench):
    """The networks row: the pre-#19 64×64 network is the same network (25 variables, 764,246 parameters, equal
    reconstructions on the same weights), timed against the library's in alternating rounds."""
    networks = bench.networks.bench_networks(bench.config.QUICK, lambda message: None)
    assert networks["variables"] == 25 and networks["parameters"] == 764_246
    assert networks["max_reconstruction_difference"] == 0.0
    assert _positive(networks["library"]["images_per_s"]) and _positive(networks["pre_change"]["images_per_s"])
    assert _positive(networks["library_vs_pre_change"])
    assert len(networks["library_vs_pre_change_per_round"]) == bench.config.QUICK["networks_rounds"]
    text = bench.report.table({"machine": MACHINE, "networks": networks})
    assert "| training, standard 64×64 network after #19 (bare step) |" in text and "(paired)" in text


def test_summary_takes_the_smallest_time_and_the_largest_rate_as_best(bench):
    assert bench.measure.summary([3.0, 1.0, 2.0]) == {"images_per_s": 2.0, "best": 3.0, "repetitions": [3.0, 1.0, 2.0]}
    assert bench.measure.summary([3.0, 1.0, 2.0], "ms")["best"] == 1.0


def test_instruction_set_caps_reach_onednn_aten_and_mkl(bench):
    children = bench.children
    assert children.isa_environment("native") == {}
    assert children.isa_environment("avx2") == {
        "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"
    }
    assert children.isa_environment("AVX512_CORE_BF16")["ATEN_CPU_CAPABILITY"] == "avx512"
    assert children.isa_environment("AVX2_VNNI")["MKL_ENABLE_INSTRUCTIONS"] == "AVX2"
    with pytest.raises(ValueError, match="unknown instruction set 'neon'"):
        children.isa_environment("neon")


def test_vector_units_are_read_from_the_cpu_flags(bench, tmp_path):
    machine = bench.machine
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx fma avx2 avx512f avx512_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu sse avx fma avx2 avx512f avx512_bf16\n")
    units = machine.vector_units(machine.cpu_flags(str(cpuinfo)))
    assert units["avx2"] and units["avx512f"] and units["avx512_bf16"] and not units["amx_tile"]
    assert units["summary"] == "AVX2 + AVX-512 + AVX512-BF16"
    assert machine.vector_units({"fma", "avx2"})["summary"] == "AVX2"
    assert machine.vector_units({"avx2", "avx512f", "avx512_bf16", "amx_tile"})["summary"].endswith("+ AMX")
    assert machine.vector_units(set())["summary"] == "no AVX2"


def test_isa_rows_say_why_the_row_is_skipped_and_compare_each_isa(bench):
    cpu = {"model": "AMD EPYC", "vector_units": {"summary": "AVX2 + AVX-512"}}
    skipped = {"cpu": cpu, "status": "skipped", "reason": "torch not installed; pip install -e '.[bench]'"}
    assert bench.report.isa_rows(skipped) == [
        "| training under each ISA (AMD EPYC, AVX2 + AVX-512) | skipped: torch not installed; pip install -e "
        "'.[bench]' | | |"
    ]

    def side(rate, precision="float32"):
        return {"library_best": {"precision": precision, "images_per_s": rate}, "library_failed": {},
                "pytorch": {"best_config": "float32_channels_last", "images_per_s": 500.0}}

    native, capped = side(1000.0, "bfloat16"), side(400.0)
    capped.update(library_failed={"bfloat16": "no bf16 convolution"}, vs_native={"library": 0.4, "pytorch": 1.0})
    native["library_vs_pytorch"], capped["library_vs_pytorch"] = 2.0, 0.8
    native["library_vs_pytorch_per_cpu_second"], capped["library_vs_pytorch_per_cpu_second"] = 1.5, 0.9
    rows = bench.report.isa_rows({"cpu": cpu, "status": "measured", "by_isa": {"native": native, "AVX2": capped}})
    assert rows[0] == ("| model.fit, native ISA (AMD EPYC, AVX2 + AVX-512) | 1000 images/s (bfloat16) | PyTorch best "
                       "(float32_channels_last) 500 images/s | 2.00× (paired; per CPU second 1.50×) |")
    assert rows[1] == ("| model.fit, ONEDNN_MAX_CPU_ISA=AVX2 (AMD EPYC, AVX2 + AVX-512) | 400 images/s (float32; "
                       "bfloat16 failed) | PyTorch best (float32_channels_last) 500 images/s; vs native: library 0.40×, "
                       "PyTorch 1.00× | 0.80× (paired; per CPU second 0.90×) |")


# Lines as oneDNN 3.7 and 3.12 write them with ONEDNN_VERBOSE=1 (taken from this machine, shortened where the
# parser does not look), between the markers the verbose child writes.
VERBOSE = """\
#bench-profile library setup
onednn_verbose,v1,info,oneDNN v3.7.3 (commit N/A)
onednn_verbose,v1,info,cpu,runtime:threadpool,nthr:2
onednn_verbose,v1,info,cpu,isa:Intel AVX2
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,src:f32::blocked:acdb::f0,,alg:convolution_direct,mb64_ic1oc32_ih64oh32kh4sh2dh0ph1_iw64ow32kw4sw2dw0pw1,9.5
#bench-profile library steps
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:acdb::f0,,alg:convolution_direct,mb64_ic32oc32_ih32oh16kh4sh2dh0ph1_iw32ow16kw4sw2dw0pw1,30
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:acdb::f0,,alg:convolution_direct,mb64_ic32oc32_ih32oh16kh4sh2dh0ph1_iw32ow16kw4sw2dw0pw1,34
onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 dst:f32::blocked:Acdb32a::f0,,,32x1x4x4,0.5
onednn_verbose,v1,graph,exec,cpu,100002,sdp,,,,,,,1.0
#bench-profile pytorch_nchw setup
onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71049cd69a3df32adcccb623b12cd7baa22)
onednn_verbose,v1,info,cpu,isa:Intel AVX2
#bench-profile pytorch_nchw steps
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:abcd::f0,,alg:convolution_direct,mb64_ic32oc32_ih32oh16kh4sh2dh0ph1_iw32ow16kw4sw2dw0pw1,16
#bench-profile pytorch_channels_last setup
#bench-profile pytorch_channels_last steps
onednn_verbose,v1,primitive,exec,cpu,deconvolution,brg_deconv:avx2+brgconv_strided:avx2,forward_training,src:f32::blocked:acdb::f0,,alg:deconvolution_direct,mb64_ic32oc32_ih16oh32kh4sh2dh0ph1_iw16ow32kw4sw2dw0pw1,7
#bench-profile end -
onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32::blocked:abcd::f0,,,mb1,99
"""


def test_onednn_verbose_log_is_read_side_by_side(bench):
    """Each side's instruction set and oneDNN version, and the kernels of its marked steps only (2 steps here)."""
    found = bench.op_profile.parse_onednn_verbose(VERBOSE, steps=2)
    assert list(found) == ["library", "pytorch_nchw", "pytorch_channels_last"]
    library = found["library"]
    assert (library["isa"], library["version"]) == ("Intel AVX2", "v3.7.3")
    assert library["kernels_per_step"] == 1.5 and library["ms_per_step"] == pytest.approx(32.25)  # (30 + 34 + 0.5) / 2
    assert library["kernels"][0] == {
        "kind": "convolution", "implementation": "jit:avx2", "prop_kind": "backward_weights",
        "problem": "mb64_ic32oc32_ih32oh16kh4sh2dh0ph1_iw32ow16kw4sw2dw0pw1", "calls_per_step": 1.0, "ms_per_step": 32.0,
    }
    assert library["by_implementation"] == {"convolution jit:avx2 backward_weights": 32.0, "reorder jit:uni undef": 0.25}
    # PyTorch's oneDNN says its ISA once; both layouts share it.
    assert found["pytorch_channels_last"]["isa"] == "Intel AVX2" and found["pytorch_channels_last"]["version"] == "v3.12.0"
    assert found["pytorch_channels_last"]["ms_per_step"] == 3.5 and found["library"]["reference_kernels"] == []
    same = bench.op_profile.same_kernels(library, found["pytorch_nchw"])
    assert len(same) == 1 and same[0]["library_ms_per_call"] == 32.0 and same[0]["pytorch_ms_per_call"] == 16.0


@pytest.mark.slow
def test_profile_section_runs_under_the_avx2_cap(tmp_path):
    """The profile's two children under ONEDNN_MAX_CPU_ISA=AVX2 (library only, tiny counts): TensorFlow's oneDNN
    reports AVX2 and runs AVX2 kernels only, every piece is timed, and the loss piece is the library's loss."""
    out = tmp_path / "profile.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--sections", "profile", "--isas", "AVX2", "--no-torch", "--quick", "--json",
         str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    profile = json.loads(out.read_text())["profile"]
    numbers = profile["by_isa"]["AVX2"]
    assert numbers["caps"]["ONEDNN_MAX_CPU_ISA"] == "AVX2" and numbers["pytorch"]["status"] == "skipped"
    onednn = numbers["onednn"]["library"]
    assert onednn["isa"] == "Intel AVX2" and onednn["kernels_per_step"] > 20
    convolutions = [k["implementation"] for k in onednn["kernels"] if k["kind"] == "convolution"]
    assert convolutions and all("avx2" in name and "avx512" not in name for name in convolutions)
    assert numbers["loss_check"]["loss_piece"] == pytest.approx(numbers["loss_check"]["library_loss"], rel=1e-5)
    library = numbers["sides"]["library"]
    for piece in ("encoder_forward", "decoder_forward", "loss", "forward_and_loss", "forward_loss_backward", "adam",
                  "train_step"):
        assert _positive(library[piece]["best"]), piece
    ops = {op["op"]: op for op in numbers["tf_ops"]["top"]}
    assert ops["_MklNativeConv2DBackpropInput"]["kernel"] == "oneDNN"  # the transposed convolutions' forward
    assert 0 < numbers["tf_ops"]["onednn_share"] < 1
    assert "| encoder_forward |" in done.stdout and "AVX2: oneDNN reported: library Intel AVX2" in done.stdout
