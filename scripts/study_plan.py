"""The ``--plan`` mode of the study drivers (paper_study.py, data_study.py): what a study would run, trained never.

``print_plan(directory, **kwargs)`` takes exactly the arguments the driver passes to ``tfbetavae.studies.study``
and checks them with the library's own planner (``make_settings``, ``make_plan``: an unknown score or a bad size
fails here as it would in the study), then prints the study folder, settings, seeds, steps, scores and metric
sizes. It writes nothing, so it is safe to point at a study that is running.
"""

from __future__ import annotations

import inspect
from pathlib import Path


def print_plan(directory: str | Path, **kwargs) -> None:
    """Prints what ``study(directory, **kwargs)`` would train and score; trains and writes nothing."""
    from tfbetavae.studies import DEFAULT_SCORES, make_settings, study
    from tfbetavae.studies.runner import PLAN_FILE, make_plan

    bound = inspect.signature(study).bind(directory, **kwargs)
    bound.apply_defaults()
    a = bound.arguments
    if a["scores"] is None:  # study()'s choice for data with known factors, which both drivers' data sets have
        a["scores"] = DEFAULT_SCORES
    if a.get("objectives") is None:  # study()'s default grid: the β-VAE
        a["objectives"] = ("beta-vae",)
    grid = a["settings"] if a["settings"] is not None else make_settings(**_taken_by(make_settings, a))
    eval_steps = a["eval_steps"] if a["eval_steps"] is not None else [a["steps"]]
    options = {k: v for k, v in _taken_by(make_plan, a).items() if k not in ("settings", "seeds", "eval_steps")}
    plan = make_plan(grid, a["seeds"], eval_steps, **options)
    folder = Path(directory)
    state = "holds a study: running it resumes or extends it" if (folder / PLAN_FILE).is_file() else "new"
    data = " × ".join(plan.data_names)
    print(f"Study folder {folder} ({state})")
    print(f"  {len(plan.cells())} runs: {len(plan.settings)} settings × {len(plan.seeds)} seeds "
          f"{plan.seeds}{f' × {len(plan.data_names)} data sets' if plan.data_axis else ''}, each {plan.steps:,} steps "
          f"of batch {plan.batch_size} on {data}, {plan.precision}")
    for setting in plan.settings:
        print(f"  setting {plan.labels.get(setting.key, setting.key)}: {setting.key}")
    print(f"  scored at steps {plan.eval_steps} with {', '.join(plan.scores)} ({plan.protocol} protocol"
          f"{', FAST sizes' if plan.fast else ''}; evaluation seed {plan.eval_seed}, {plan.held_out_images} "
          "held-out images)")
    for name, sizes in plan.metric_sizes.items():
        print(f"    {name}: {', '.join(f'{key} {value}' for key, value in sizes.items())}")
    workers, threads = a["workers"], a["threads"]
    print(f"  {workers} local worker(s){f', {threads} thread(s) each' if threads else ''}")


def _taken_by(function, arguments: dict) -> dict:
    """The study arguments that ``function`` takes under the same name (its grid axes, its plan options)."""
    return {name: arguments[name] for name in inspect.signature(function).parameters if name in arguments}
