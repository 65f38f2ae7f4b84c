"""Section ``independent``: whole training processes side by side, one process with all the threads against one
process per core with one thread each (what a study of independent runs can do with the cores)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .children import command
from .config import BATCH_SIZE
from .measure import load, paired, summary
from .models import default_steps_per_execution, make_precision_model


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
            line = command("--worker", "--threads", str(count), "--worker-steps", str(steps), "--worker-precision",
                           precision, "--worker-seed", str(index))
            errors = open(Path(folder) / f"{index}.err", "w")  # closed in the finally below
            process = subprocess.Popen(line, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
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


def run(context) -> dict:
    context.log(f"independent runs (1 x {context.threads} threads vs {context.threads} x 1), load {load()}")
    return {"independent": bench_independent(context.cfg, context.threads, context.log)}
