"""Section ``fit``: the bare tf.function train step against ``model.fit`` over ready batches, per precision, and
the library's best against PyTorch's best (float32 / bf16 autocast × NCHW / channels-last)."""

from __future__ import annotations

import time

from . import torch_model
from .config import BATCH_SIZE
from .measure import load, median, paired, summary
from .models import bare_step_runner, default_steps_per_execution, fit_runner, make_images, make_precision_model


def best(rates: dict, kind: str, precisions) -> tuple[str, list]:
    """(precision, rates) of the precision whose ``kind`` of step has the highest median."""
    precision = max(precisions, key=lambda p: median(rates[p, kind]))
    return precision, rates[precision, kind]


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
    torch_runs, torch_info = torch_model.runners(images, threads, steps) if with_torch else (
        {}, torch_model.skipped("disabled with --no-torch"))

    rates = {key: [] for key in runners}
    whole = {key: [] for key in runners if key[1] != "bare_step"}
    torch_rates = {name: [] for name in torch_runs}
    for _ in range(cfg["fit_rounds"]):
        for key, runner in runners.items():
            value = runner()
            if isinstance(value, tuple):
                rates[key].append(value[0])
                whole[key].append(value[1])
            else:
                rates[key].append(value)
        for name, runner in torch_runs.items():
            torch_rates[name].append(runner())
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

    default = resolve_precision("auto")
    result["default_precision"] = default
    if torch_rates:
        configs = {name: summary(values) for name, values in torch_rates.items()}
        fastest = max(configs, key=lambda name: configs[name]["images_per_s"])
        torch_info.update(configs=configs, best_config=fastest, **configs[fastest])
        for kind in ("bare_step", "fit"):
            precision, values = best(rates, kind, precisions)
            result[f"best_{kind}"] = {
                "precision": precision,
                "images_per_s": median(values),
                "vs_pytorch_best": paired(values, torch_rates[fastest]),
            }
        if default in precisions:
            result["fit_default_precision_vs_pytorch_best"] = paired(rates[default, "fit"], torch_rates[fastest])
    result["pytorch"] = torch_info
    return result


def run(context) -> dict:
    context.log(f"fit path and precisions ({', '.join(context.precisions)}"
                f"{', pytorch' if context.with_torch else ''}), load {load()}")
    return {"fit": bench_fit(context.cfg, context.precisions, context.with_torch, context.threads,
                             context.steps_per_execution, context.log)}
