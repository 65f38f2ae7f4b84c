"""Section ``isa`` (issue #33): the training comparison under each instruction set, in one run.

The comparison is the one users feel: the library's ``model.fit`` over ready batches against the PyTorch baseline
(same network, loss, Adam and batch), alternating round by round, the best of float32 and bfloat16 on each side
(PyTorch: bf16 autocast, NCHW or channels-last). It runs in one child process per instruction set: the machine's
own (``native``), and each cap given by ``--isas`` (default ``AVX2``, what an AVX2-only CPU such as the AMD EPYC
of issue #33 offers) set through ``ONEDNN_MAX_CPU_ISA`` before the child starts (see ``children.CAPS``).
"""

from __future__ import annotations

import os
import time

from . import torch_model
from .children import CAPS, NATIVE, isa_environment, run_child
from .config import BATCH_SIZE
from .machine import cpu
from .measure import load, median, paired, summary
from .models import default_steps_per_execution, fit_runner, make_images, make_precision_model


def compare(cfg: dict, precisions, threads: int, with_torch: bool, log) -> dict:
    """In this process: library ``model.fit`` per precision against PyTorch per precision × layout, alternating."""
    images = make_images(BATCH_SIZE)
    steps, spe = cfg["isa_steps"], default_steps_per_execution()
    library, failed = {}, {}
    for precision in precisions:
        try:
            library[precision] = fit_runner(make_precision_model(precision, spe), images, steps)
        except Exception as error:  # noqa: BLE001 - e.g. no bfloat16 convolution under a cap: say so, measure the rest
            failed[precision] = " ".join(str(error).split())[:300]
    if not library:
        raise RuntimeError(f"no precision could train here: {failed}")
    torch_precisions = ["float32", *(["bf16_autocast"] if "bfloat16" in precisions else [])]
    torch_runs, torch_info = (torch_model.runners(images, threads, steps, torch_precisions) if with_torch
                              else ({}, torch_model.skipped("disabled with --no-torch")))
    log(f"  models built and warmed up, load {load()}")
    rates = {precision: [] for precision in library}
    torch_rates = {name: [] for name in torch_runs}
    # Images per second of this process's CPU time too: on a shared machine the wall time stretches with the other
    # work, the CPU time much less.
    cpu_rates = {key: [] for key in (*rates, *torch_rates)}
    for _ in range(cfg["isa_rounds"]):
        for precision, runner in library.items():
            steady, _, steady_cpu = runner()  # fit's steady rates, as the fit section reports them
            rates[precision].append(steady)
            cpu_rates[precision].append(steady_cpu)
        for name, runner in torch_runs.items():
            start = time.process_time()
            torch_rates[name].append(runner())
            cpu_rates[name].append(steps * BATCH_SIZE / max(time.process_time() - start, 1e-9))
    best = max(library, key=lambda precision: median(rates[precision]))
    result = {
        "caps": {name: os.environ.get(name) for name in CAPS},
        "steps_per_round": steps,
        "steps_per_execution": spe,
        "rounds": cfg["isa_rounds"],
        "library": {precision: summary(values) for precision, values in rates.items()},
        "library_per_cpu_second": {precision: summary(cpu_rates[precision], "images_per_cpu_s") for precision in rates},
        "library_failed": failed,
        "library_best": {"precision": best, "images_per_s": median(rates[best])},
    }
    if torch_rates:
        import torch

        configs = {name: summary(values) for name, values in torch_rates.items()}
        fastest = max(configs, key=lambda name: configs[name]["images_per_s"])
        torch_info.update(configs=configs, best_config=fastest, images_per_s=configs[fastest]["images_per_s"],
                          per_cpu_second={name: summary(cpu_rates[name], "images_per_cpu_s") for name in configs},
                          cpu_capability=torch.backends.cpu.get_cpu_capability())
        result["library_vs_pytorch"] = paired(rates[best], torch_rates[fastest])
        result["library_vs_pytorch_per_cpu_second"] = paired(cpu_rates[best], cpu_rates[fastest])
        result["library_vs_pytorch_per_round"] = [round(a / b, 3) for a, b in zip(rates[best], torch_rates[fastest])]
    result["pytorch"] = torch_info
    return result


def child(context) -> dict:
    return compare(context.cfg, context.precisions, context.threads, context.with_torch, context.log)


def bench_isa(cfg: dict, isas, precisions, with_torch: bool, threads: int, quick: bool, log) -> dict:
    """One child per instruction set, one after the other; skipped (with the reason) without PyTorch."""
    result = {"cpu": cpu(), "isas": list(isas), "batch_size": BATCH_SIZE}
    reason = torch_model.missing() if with_torch else "disabled with --no-torch"
    if reason:
        return {**result, "status": "skipped", "reason": reason}
    result.update(status="measured", by_isa={})
    args = ["--threads", str(threads), "--precisions", ",".join(precisions)]
    for isa in isas:
        caps = isa_environment(isa)
        log(f"  {isa}: a child process{' with ' + ', '.join(f'{k}={v}' for k, v in caps.items()) if caps else ''}, "
            f"load {load()}")
        result["by_isa"][isa] = run_child("isa", caps, quick, args)[0]
    if NATIVE in result["by_isa"]:
        native = result["by_isa"][NATIVE]
        for isa, numbers in result["by_isa"].items():
            if isa != NATIVE:
                numbers["vs_native"] = {
                    side: numbers[key]["images_per_s"] / native[key]["images_per_s"]
                    for side, key in (("library", "library_best"), ("pytorch", "pytorch"))
                    if "images_per_s" in numbers[key] and "images_per_s" in native[key]
                }
    return result


def run(context) -> dict:
    context.log(f"training under each instruction set ({', '.join(context.isas)}; child processes), load {load()}")
    return {"isa": bench_isa(context.cfg, context.isas, context.precisions, context.with_torch, context.threads,
                             context.quick, context.log)}
