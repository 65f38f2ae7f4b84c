"""The report: targets, the Markdown table printed after a run, and the JSON file of every number."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .config import MODES
from .measure import median

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
    udr = results.get("udr")
    if udr:
        rows.append(
            f"| UDR, per model pair (Lasso, {udr['latent_dim']} dims, {udr['points']:,} points) | "
            f"{udr['seconds_per_pair']['seconds']:.3f} s | per model encoded {udr['seconds_per_model_encoded']:.2f} s | "
            f"15 models (3 settings × 5 seeds) ≈ {udr['paper_study_seconds']:.0f} s |"
        )
    pairs = results.get("pairs")
    if pairs:
        rows.append(
            f"| pair step (ada-gvae, {pairs['batch_size']} pairs) | {pairs['pair_step']['pairs_per_s']:.0f} pairs/s | "
            f"image step {pairs['image_step']['images_per_s']:.0f} images/s | one pair step = "
            f"{pairs['pair_step_vs_image_step']:.2f} image steps |"
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
    rows += isa_rows(results.get("isa"))
    checks = results.get("targets", {})
    if checks:
        rows.append("")
        for name, check in checks.items():
            rows.append(
                f"target {name}: {check['value']:.2f} ({'≤' if name in CEILINGS else '≥'} {check['target']}) {'met' if check['met'] else 'NOT met'}"
            )
    rows += profile_rows(results.get("profile"))
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


def _cpu_text(cpu: dict) -> str:
    return f"{cpu['model']}, {cpu['vector_units']['summary']}"


def _isa_text(isa: str) -> str:
    return "native ISA" if isa == "native" else f"ONEDNN_MAX_CPU_ISA={isa}"


def isa_rows(isa: dict | None) -> list[str]:
    """Table rows of the isa section: per instruction set, the library's best fit path against PyTorch's best."""
    if not isa:
        return []
    label = f"training under each ISA ({_cpu_text(isa['cpu'])})"
    if isa["status"] != "measured":
        return [f"| {label} | skipped: {isa['reason']} | | |"]
    rows = []
    for name, numbers in isa["by_isa"].items():
        best, torch_info = numbers["library_best"], numbers["pytorch"]
        change = numbers.get("vs_native", {})
        against_native = (f"; vs native: library {change['library']:.2f}×, PyTorch {change['pytorch']:.2f}×"
                          if "pytorch" in change else "")
        failed = "".join(f"; {precision} failed" for precision in numbers.get("library_failed", {}))
        rows.append(
            f"| model.fit, {_isa_text(name)} ({_cpu_text(isa['cpu'])}) | {best['images_per_s']:.0f} images/s "
            f"({best['precision']}{failed}) | PyTorch best ({torch_info['best_config']}) {torch_info['images_per_s']:.0f} "
            f"images/s{against_native} | {numbers['library_vs_pytorch']:.2f}× (paired; per CPU second "
            f"{numbers['library_vs_pytorch_per_cpu_second']:.2f}×) |"
        )
    return rows


def profile_rows(profile: dict | None) -> list[str]:
    """The profile section as its own table: ms per call of each piece, per side and instruction set, then the
    top TensorFlow ops and the instruction set oneDNN reported."""
    if not profile:
        return []
    isas = list(profile["by_isa"])
    columns = []  # (isa, side, heading)
    for name in isas:
        numbers = profile["by_isa"][name]
        columns.append((name, "library", f"library, {name}"))
        if numbers.get("pytorch_baseline"):
            side = numbers["pytorch_baseline"]
            columns.append((name, side, f"PyTorch ({side.removeprefix('pytorch_')}), {name}"))
    rows = ["", f"profile: ms per call, best of {profile['by_isa'][isas[0]]['rounds']} rounds, {profile['precision']}, "
                f"batch {profile['batch_size']} ({_cpu_text(profile['cpu'])})"]
    rows.append("| piece | " + " | ".join(heading for *_, heading in columns) + " |")
    rows.append("| --- |" + " ---: |" * len(columns))
    for piece in ("encoder_forward", "decoder_forward", "loss", "forward_and_loss", "backward", "adam", "train_step"):
        values = [profile["by_isa"][name]["sides"][side][piece]["best"] for name, side, _ in columns]
        rows.append(f"| {piece} | " + " | ".join(f"{value:.2f}" for value in values) + " |")
    for name in isas:
        numbers = profile["by_isa"][name]
        for suffix, what in (("", "ms"), ("_cpu", "CPU ms")):
            if f"pytorch_vs_library{suffix}" in numbers:
                rows.append(f"{name}: PyTorch {what} / library {what}: " + _ratios(numbers[f"pytorch_vs_library{suffix}"]))
            for side, change in numbers.get(f"vs_native{suffix}", {}).items():
                rows.append(f"{name} {what} / native {what}, {side}: " + _ratios(change))
        ops = numbers["tf_ops"].get("top", [])[:6]
        rows.append(f"{name}: TF ops per step (oneDNN {numbers['tf_ops'].get('onednn_share', 0):.0%} of op time): "
                    + ", ".join(f"{op['op']} {op['ms_per_step']:.1f} ms" for op in ops))
        isa_seen = ", ".join(f"{side} {found['isa']} ({found['version']})" for side, found in numbers["onednn"].items())
        rows.append(f"{name}: oneDNN reported: {isa_seen}")
        if numbers.get("same_kernels"):
            rows.append(f"{name}: same oneDNN kernel on the same problem, library ms / PyTorch ms per call: " + ", ".join(
                f"{kernel['prop_kind']} {_problem_text(kernel['problem'])} "
                f"{kernel['library_ms_per_call'] / kernel['pytorch_ms_per_call']:.2f}×"
                for kernel in numbers["same_kernels"]
            ))
    return rows


def _ratios(values: dict) -> str:
    return ", ".join(f"{piece} {value:.2f}×" for piece, value in values.items())


def _problem_text(problem: str) -> str:
    """``mb64_ic32oc64_ih16oh8…`` -> ``32→64 @16``: a convolution's channels and input size."""
    match = re.search(r"ic(\d+)oc(\d+)_ih(\d+)", problem)
    return f"{match[1]}→{match[2]} @{match[3]}" if match else problem


def write(results: dict, path) -> None:
    """Writes the results as JSON (the folder is made when missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str))
