"""Section ``training``: ``train_on_batch`` eager, tf.function and XLA against PyTorch in the same rounds, and the
share of the matmul peak the tf.function step reaches."""

from __future__ import annotations

import time

from . import torch_model
from .config import BATCH_SIZE
from .flops import matmul_peaks, model_flops
from .measure import load, median, summary, timed
from .models import make_images, make_model


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
    torch_steps = {}
    if not with_torch:
        torch_info = torch_model.skipped("disabled with --no-torch")
    elif torch_model.missing():
        torch_info = torch_model.skipped(torch_model.missing())
    else:
        import torch

        # Both memory layouts; the faster one (by median) is the baseline, so it is the strongest PyTorch.
        for layout, channels_last in torch_model.LAYOUTS.items():
            trainer = torch_model.make_trainer(threads, channels_last)
            batch = trainer.batch(images)
            for _ in range(2):
                trainer.step(batch)
            torch_steps[layout] = (trainer.step, batch)
        torch_info = {**torch_model.info(), "interop_threads": torch.get_num_interop_threads()}
    numpy_rate, tf_rate = matmul_peaks(cfg["matmul_n"])

    rates = {mode: [] for mode in trainers}
    torch_rates = {layout: [] for layout in torch_steps}
    numpy_peaks, tf_peaks = [], []
    for _ in range(cfg["rounds"]):
        numpy_peaks.append(numpy_rate())
        tf_peaks.append(tf_rate())
        for mode, (model, steps) in trainers.items():
            rates[mode].append(steps * BATCH_SIZE / timed(lambda m=model: m.train_on_batch(images), steps))
        for layout, (step, batch) in torch_steps.items():
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


def run(context) -> dict:
    context.log(f"training ({', '.join(context.modes)}{', pytorch' if context.with_torch else ''}), "
                f"load {load()}")
    results = bench_training(context.cfg, context.modes, context.with_torch, context.threads, context.log)
    context.results["machine"]["torch_threads"] = results["training"]["pytorch"].get("threads", "-")
    return results
