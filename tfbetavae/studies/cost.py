"""What a study will cost on this machine, said before anything trains: a few steps of each objective, timed.

A sweep such as ``--preset locatello2019`` is 36 settings × seeds × steps; whether that is an afternoon or a month
depends on the machine, so the plan is priced here, not guessed: one model of each objective in the grid trains a
handful of steps at the study's batch size (after two warm-up steps that trace the graph), and the seconds per step
scale to the grid. Scoring comes on top (the report's cost line measures it once cells finish).
"""

from __future__ import annotations

import time
from typing import Any

from tfbetavae.studies.plan import StudyPlan

__all__ = ["describe_cost", "seconds_per_step"]


def seconds_per_step(plan: StudyPlan, data: Any, steps: int = 8) -> dict[str, float]:
    """Objective -> seconds per training step of its first setting in the grid, on this machine now."""
    from tfbetavae.data.pairs import pairs_dataset
    from tfbetavae.data.pipeline import training_dataset
    from tfbetavae.studies.cell import cell_model, training_source

    first: dict[str, Any] = {}
    for setting in plan.settings:
        first.setdefault(setting.objective, setting)
    size = len(data) if hasattr(data, "__len__") else None
    timings = {}
    for objective, setting in first.items():
        model = cell_model(setting, data.observation_shape, seed=0, dataset_size=size)
        source = training_source(data, setting)
        batches = iter(pairs_dataset(source, batch_size=plan.batch_size, seed=0) if setting.pair_k is not None
                       else training_dataset(source, batch_size=plan.batch_size, seed=0))
        for _ in range(2):  # traces the graph
            model.train_on_batch(next(batches))
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(next(batches))
        timings[objective] = (time.perf_counter() - started) / steps
    return timings


def describe_cost(plan: StudyPlan, data: Any, workers: int = 1) -> str:
    """One line: the grid's size and its training time here (two workers on two cores: about the same total)."""
    timings = seconds_per_step(plan, data)
    per_run = {s.key: timings[s.objective] * plan.steps for s in plan.settings}
    total = sum(per_run.values()) * len(plan.seeds) * (len(plan.data_names) if plan.data_axis else 1)
    parts = ", ".join(f"{objective} {seconds * 1000:.0f} ms" for objective, seconds in timings.items())
    hours = total / 3600
    return (f"{len(plan.cells())} runs of {plan.steps:,} steps; training alone ≈ {_duration(total)} of this "
            f"machine's time ({parts} a step at batch {plan.batch_size}, measured now)"
            + (f", shared by {workers} workers" if workers > 1 else "")
            + ("; spread it over machines (docs/studies.md)" if hours > 24 else "") + "; scoring comes on top")


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


