"""Section ``serving``: the SavedModel's ``encode`` signature against ``model.encode`` in the same process."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .measure import latencies_ms, load, median, timed
from .models import make_images


def bench_serving(cfg: dict, model) -> dict:
    import tensorflow as tf

    import tfbetavae
    from tfbetavae.export import export_saved_model

    one = make_images(1, seed=2)
    many = make_images(cfg["serving_batch"], seed=3)
    with tempfile.TemporaryDirectory() as folder:
        path = export_saved_model(model, Path(folder) / "betavae", version=1)
        loaded = tfbetavae.load(path)  # a SavedModelVAE; it keeps the SavedModel (and its variables) alive
        signature = loaded.signatures["encode"]  # the raw signature, as a serving client calls it
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


def run(context) -> dict:
    context.log(f"SavedModel serving, load {load()}")
    return {"serving": bench_serving(context.cfg, context.trained_model())}
