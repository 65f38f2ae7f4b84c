"""Section ``study``: what a study costs here (its scoring share, and workers against threads)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .measure import load, median


def _timed_study(folder: Path, workers: int, threads: int, steps: int, betas: str) -> float:
    """Wall seconds of a small real study (``betas`` × 2 seeds, fast scoring) run as ``tfbetavae study``."""
    command = [
        sys.executable, "-c", "import sys; from tfbetavae.cli import main; sys.exit(main(sys.argv[1:]))",
        "study", str(folder), "--betas", betas, "--seeds", "0,1", "--eval-steps", str(steps), "--fast",
        "--scores", "mig", "--workers", str(workers), "--threads", str(threads),
    ]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=7200)
    if result.returncode != 0:
        raise RuntimeError(f"the benchmark study failed: {result.stderr[-2000:]}")
    return time.perf_counter() - start


def bench_study(cfg: dict, cores: int, log) -> dict:
    """What a study costs here.

    * Scoring share: one run of the default setting trains ``study_steps`` steps, then is scored once with the
      study's default scores and sizes (the metric catalogue's ``study`` preset); the share is extrapolated to a 10,000-step run scored
      once (at its end) and three times (2,500 / 5,000 / 10,000, as in the paper study).
    * Throughput: the same small study (``study_grid_betas`` × 2 seeds × ``study_grid_steps`` steps, fast scoring) run as one
      process with ``cores`` threads and as ``cores`` local worker processes with one thread each.
    """
    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.studies.cell import cell_model, score_model
    from tfbetavae.studies.plan import DEFAULT_SCORES, Setting, make_plan
    from tfbetavae.training import train

    data = ProceduralDSprites()
    steps = cfg["study_steps"]
    plan = make_plan([Setting()], [0], [steps], DEFAULT_SCORES, metric_sizes=cfg.get("study_sizes"))
    model = cell_model(plan.settings[0], data.observation_shape, 0)
    train(model, data, steps=2, verbose=0)  # tracing and pipeline start-up
    start = time.perf_counter()
    train(model, data, steps=steps, seed=1, verbose=0)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    score_model(model, data, plan)
    metric_seconds = time.perf_counter() - start
    per_10k = train_seconds / steps * 10_000
    log(f"  scoring share measured, load {load()}")
    result = {
        "scores": list(DEFAULT_SCORES),
        "seconds_per_step": round(train_seconds / steps, 5),
        "seconds_per_scoring": round(metric_seconds, 2),
        "share_scored_once_per_10k": round(metric_seconds / (metric_seconds + per_10k), 4),
        "share_scored_3x_per_10k": round(3 * metric_seconds / (3 * metric_seconds + per_10k), 4),
    }
    layouts = {f"1 process x {cores} threads": (1, cores), f"{cores} workers x 1 thread": (cores, 1)}
    walls = {name: [] for name in layouts}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(cfg["study_rounds"]):
            for name, (workers, threads) in layouts.items():
                target = Path(folder) / f"{round_index}-{workers}x{threads}"
                walls[name].append(_timed_study(target, workers, threads, cfg["study_grid_steps"], cfg["study_grid_betas"]))
    log(f"  study layouts done, load {load()}")
    names = list(layouts)
    betas = len(cfg["study_grid_betas"].split(","))
    result["grid"] = f"{betas} beta x 2 seeds x {cfg['study_grid_steps']} steps, fast scoring"
    result["wall_seconds"] = {name: [round(w, 1) for w in walls[name]] for name in names}
    result["workers_vs_threads"] = round(median(walls[names[0]]) / median(walls[names[1]]), 3)
    # A 3-β × 3-seed × 10,000-step study scored 3 times per run, from the parts measured above, with the
    # workers' speed-up applied to the whole (scoring parallelises across workers like training).
    serial_hours = 9 * (per_10k + 3 * metric_seconds) / 3600
    result["paper_study_hours_estimate"] = round(serial_hours / result["workers_vs_threads"], 2)
    return result


def run(context) -> dict:
    context.log(f"study cost (scoring share; 1 x {context.threads} threads vs {context.threads} workers x 1), "
                f"load {load()}")
    return {"study": bench_study(context.cfg, context.threads, context.log)}
