"""Studies: what a setting (β, objective, learning rate, ...) buys, measured over seeds.

``study(...)`` runs a grid of settings × seeds, each a resumable training run scored at several steps, on
KerasTuner's grid oracle (so chief/worker processes share it), and writes ``results.json``/``results.csv``, a
Markdown summary and pictures into the study folder. ``report(folder)`` redraws them from a finished or partial
study, or from its ``results.json`` alone when the run folders are absent. See docs/studies.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tfbetavae import _lazy_attributes
from tfbetavae.studies.runner import (
    DEFAULT_SCORES,
    FAST_SIZES,
    OBJECTIVES,
    PLAN_FILE,
    SCORES,
    STUDY_SIZES,
    Setting,
    StudyData,
    StudyPlan,
    check_data_axis,
    check_or_write_plan,
    collect_results,
    load_plan,
    make_plan,
    make_settings,
    networks_factory,
    networks_name,
    preset_settings,
    run_grid,
    run_local_workers,
    set_threads,
    use_plan_precision,
    write_results,
)
from tfbetavae.training import DEFAULT_LEARNING_RATE

__all__ = [
    "DEFAULT_SCORES",
    "FAST_SIZES",
    "OBJECTIVES",
    "SCORES",
    "STUDY_SIZES",
    "Setting",
    "StudyPlan",
    "collect_results",
    "load_plan",
    "make_settings",
    "report",
    "study",
]
__getattr__, __dir__ = _lazy_attributes(__name__)  # tfbetavae.studies.reporting etc. on first use


def _steps(steps: int | None, eval_steps: Sequence[int] | int | None) -> list[int]:
    """The evaluation steps, ending at ``steps`` (given or implied); errors name a bad value."""
    if isinstance(eval_steps, int) and not isinstance(eval_steps, bool):
        eval_steps = [eval_steps]
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if eval_steps is None:
        if steps is None:
            raise ValueError("give steps (train this many) or eval_steps (score at these steps)")
        return [steps]
    listed = list(eval_steps)
    for value in listed:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"eval_steps must be positive integers, got {value!r}")
    if steps is not None:
        beyond = [v for v in listed if v > steps]
        if beyond:
            raise ValueError(f"eval_steps {beyond} lie beyond steps={steps}")
        if steps not in listed:
            listed.append(steps)
    return listed


def study(
    directory: str | os.PathLike,
    betas: Sequence[float] | float = (1.0, 4.0),
    seeds: Sequence[int] = (0, 1, 2),
    steps: int | None = None,
    eval_steps: Sequence[int] | int | None = None,
    *,
    objectives: Sequence[str] | str | None = None,
    capacities: Sequence[float] | float = (25.0,),
    gammas: Sequence[float] | float | None = None,
    capacity_steps: int | None = None,
    learning_rates: Sequence[float] | float = DEFAULT_LEARNING_RATE,
    latent_dims: Sequence[int] | int = 10,
    lambdas_od: Sequence[float] | float = (10.0,),
    pair_k: int | str = "random",
    settings: Sequence[Setting] | None = None,
    preset: str | None = None,
    plan_only: bool = False,
    scores: Sequence[str] | None = None,
    metric_sizes: Mapping[str, Mapping[str, int]] | None = None,
    fast: bool = False,
    data: Any = "dsprites",
    protocol: str = "library",
    representation: str = "mean",
    batch_size: int = 64,
    precision: str = "float32",
    workers: int = 1,
    threads: int | None = None,
    eval_seed: int = 12345,
    level: float = 0.05,
    num_workers: int | None = None,
    chief_timeout: float | None = None,
    verbose: bool = True,
    keras_tuner_output: bool = False,
    networks: Callable | str | None = None,
) -> list[dict]:
    """Runs (or resumes) a study in ``directory`` and returns its result rows (one per run × evaluated step).

    The grid is ``settings`` if given, or a named sweep (``preset="locatello2019"``, of which ``objectives`` keeps
    those models), else ``make_settings(objectives, betas, capacities, gammas, ...)`` (``objectives`` default
    ``"beta-vae"``); every
    setting is trained once per seed for ``steps`` (= the last of ``eval_steps``) and scored at each of
    ``eval_steps`` with ``scores`` (see ``SCORES``) at ``STUDY_SIZES`` (``FAST_SIZES`` with ``fast=True``, which
    every output then says), overridden per score by ``metric_sizes={"mig": {"num_train": 20000}}``, under the
    metrics' ``protocol`` (``"library"`` or ``"disentanglement_lib"``, see docs/metrics.md); every result row
    records the protocol and sizes that made it. ``representation="sampled"`` scores one posterior draw per image
    instead of the posterior mean (see docs/metrics.md); the plan and every row record it, and UDR stays on the means.

    ``data`` is one data set (a name such as ``"dsprites"`` or ``"shapes3d:PATH"``, or a ``GroundTruthData``) or a
    list of names, which makes data a grid axis: every setting × seed is trained and scored on each data set,
    in run folders named ``data=<name>_<setting>_seed=<n>``, and the report compares the data sets like settings.

    ``workers=N`` (N > 1) trains N cells at a time in local worker processes with ``threads`` intra-op threads
    each (default: the cores split between them). With the ``KERASTUNER_*`` variables set, this process is a
    chief (serving the grid to ``num_workers`` workers) or a worker, exactly as in ``tfbetavae.tuning.search``.
    Re-running with the same folder resumes; a folder that holds a study of another grid is refused, except a
    longer one: new ``eval_steps`` past the last (or a larger ``steps`` alone, keeping the folder's evaluation
    steps) extend every cell from its saved state, in the same folder. Progress is the study's own lines
    ("cell 3/9: beta=4 seed 1, step 5000/10000, ..."); KerasTuner's trial tables only with
    ``keras_tuner_output=True``.

    ``networks(input_shape, latent_dim) -> (encoder, decoder)`` trains every cell on your own networks (see
    docs/own-model-and-data.md); the plan records it as ``"module:function"``, which local workers and a resumed
    study import, so it must be a module-level function of an importable module (or pass that name).
    """
    from tfbetavae.cluster import is_chief, is_worker
    from tfbetavae.data.ground_truth import GroundTruthData
    from tfbetavae.metrics.evaluation import PROTOCOLS

    say = print if verbose else (lambda text: None)
    local_workers = isinstance(workers, int) and workers > 1 and not (is_chief() or is_worker())
    if not local_workers:
        set_threads(threads)  # before any TensorFlow work (the data may run some), else TF refuses the change
    if scores is None:  # data without factors is scored by UDR across seeds (plus reconstruction and KL)
        scores = DEFAULT_SCORES if _has_factors(data) else UNLABELLED_SCORES
    if preset is not None:
        if settings is not None:
            raise ValueError("give settings or a preset, not both")
        settings = preset_settings(preset, objectives=objectives,
                                   **_preset_options(learning_rates, latent_dims, capacity_steps))
    elif settings is not None and objectives is not None:
        raise ValueError("give settings or objectives (with their values), not both")
    grid = list(settings) if settings is not None else make_settings(
        ("beta-vae",) if objectives is None else objectives, betas, capacities, gammas, capacity_steps, learning_rates,
        latent_dims, lambdas_od, pair_k
    )
    if any(setting.pair_k is not None for setting in grid) and not _has_factors(data):
        raise ValueError("a study draws the pairs of ada-gvae and ada-ml-vae from data with known factors; for pairs "
                         "of your own, train with `tfbetavae train --objective ada-gvae --pairs-from A,B`")
    if isinstance(data, GroundTruthData):
        source, spec = data, f"{type(data).__module__}.{type(data).__name__}"
    else:
        source, spec = None, check_data_axis(data)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if workers > 1 and source is not None:
        raise ValueError("local workers load the data by name: give data as a name or path (e.g. 'dsprites')")
    precision = _resolved_precision(precision)
    study_dir = Path(directory)
    if eval_steps is None and steps is not None and (study_dir / PLAN_FILE).is_file():
        saved = load_plan(study_dir).eval_steps  # steps alone resumes (or extends) the study at its own steps
        eval_steps = [s for s in saved if s < steps] if steps >= max(saved) else None
    plan = make_plan(grid, seeds, _steps(steps, eval_steps), scores, metric_sizes, fast, batch_size=batch_size,
                     data=spec, eval_seed=eval_seed, precision=precision, protocol=protocol,
                     representation=representation)
    sources = StudyData(plan, given=source)
    sources.check()  # every data set opens (an unknown name, a missing file) before anything is written
    plan.networks = networks_name(networks)
    factory = networks_factory(plan.networks, None if isinstance(networks, str) else networks)
    if plan_only or preset is not None:
        from tfbetavae.studies.cost import describe_cost

        say(f"Plan: {len(plan.settings)} settings × {len(plan.seeds)} seeds"
            + (f" × {len(plan.data_names)} data sets" if plan.data_axis else "")
            + f"; {describe_cost(plan, sources.get(None if not plan.data_axis else plan.data_names[0]), workers)}")
    if plan_only:
        return []
    if is_worker():
        plan = check_or_write_plan(study_dir, plan, write=False)
    else:
        check_or_write_plan(study_dir, plan)
    use_plan_precision(plan)
    cells = len(plan.cells())
    if plan.fast:
        say("FAST PRESET: small metric sizes for a quick look; the numbers are rough")
    axis = f"{len(plan.data_names)} data sets × " if plan.data_axis else ""
    drawn = "" if plan.representation == "mean" else f" on {plan.representation} codes (posterior draws)"
    say(f"Study {study_dir}: {axis}{len(plan.settings)} settings × {len(plan.seeds)} seeds = {cells} runs of "
        f"{plan.steps} steps, scored at {plan.eval_steps}{drawn}")
    if local_workers:
        run_local_workers(study_dir, workers, threads, say=say, keras_tuner_output=keras_tuner_output)
    else:
        run_grid(plan, study_dir, sources, say=say, num_workers=num_workers, chief_timeout=chief_timeout,
                 keras_tuner_output=keras_tuner_output, networks=factory)
    if is_worker():
        say("worker: no cells left; the results are with the chief")
        return []
    return report(study_dir, level=level, verbose=verbose)


UNLABELLED_SCORES = ("udr",)


def _preset_options(learning_rates: Any, latent_dims: Any, capacity_steps: int | None) -> dict[str, Any]:
    """A preset's overridable options: one learning rate, one latent size, AnnealedVAE's capacity steps."""
    options: dict[str, Any] = {}
    for name, value, key in (("learning_rates", learning_rates, "learning_rate"), ("latent_dims", latent_dims, "latent_dim")):
        values = [value] if not isinstance(value, Sequence) else list(value)
        if len(values) != 1:
            raise ValueError(f"a preset takes one value of {name}, got {values}")
        options[key] = values[0]
    if capacity_steps is not None:
        options["capacity_steps"] = capacity_steps
    return options


def _has_factors(data: Any) -> bool:
    """Whether the study's data (a GroundTruthData, a name or path, or a data axis of them) has known factors,
    judged without opening it: image folders and ``.npy`` arrays have none."""
    from tfbetavae.data.ground_truth import GroundTruthData

    if isinstance(data, GroundTruthData):
        return True
    specs = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    return not any(Path(spec).is_dir() or os.fspath(spec).endswith(".npy") for spec in specs)


def _resolved_precision(name: str) -> str:
    if name == "float32":
        return name
    from tfbetavae.precision import resolve_precision

    return resolve_precision(name)


def report(directory: str | os.PathLike, level: float = 0.05, verbose: bool = True) -> list[dict]:
    """Writes ``results.json``/``.csv``, ``summary.md`` and the pictures of a finished or partial study, prints the
    summary, and returns the rows. A study folder without its run folders (``runs/``), as committed or shared,
    is redrawn from its ``results.json``, which is left as it is; a line says so."""
    from tfbetavae.studies.reporting import format_summary, load_results, summarize, write_report

    study_dir = Path(directory)
    if not (study_dir / "runs").is_dir() and (study_dir / "results.json").is_file():
        rows = load_results(study_dir / "results.json")
        if verbose:
            print(f"{study_dir}: no run folders; redrawing the report from results.json ({len(rows)} result rows)")
        written = []
    else:
        rows = collect_results(study_dir)
        if not rows:
            raise ValueError(f"{study_dir}: no results yet (no run has reached its first evaluation step)")
        written = list(write_results(study_dir, rows))
    paths = write_report(rows, study_dir, level=level)
    if verbose:
        print(format_summary(summarize(rows)))
        print("Written: " + ", ".join(str(p) for p in [*written, *paths.values()]))
    return rows
