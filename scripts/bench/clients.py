"""Section ``clients``: ``encode`` through the SavedModel and LiteRT, one client and several at once."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .measure import latencies_ms, load, median
from .models import make_images

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

    import tfbetavae
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
        loaded = tfbetavae.load(path)  # keeps the SavedModel (and its variables) alive while its signature runs
        signature = loaded.signatures["encode"]
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


def run(context) -> dict:
    context.log(f"SavedModel and LiteRT clients (1 and {SERVING_CLIENTS} at once), load {load()}")
    return {"clients": bench_clients(context.cfg, context.trained_model())}
