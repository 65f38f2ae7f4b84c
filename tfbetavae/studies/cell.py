"""One cell of a study: a setting and a seed, trained as a resumable run and scored at every evaluation step.

The model comes from the one factory (``tfbetavae.objectives.build_model``), the scores from
``tfbetavae.metrics`` under the plan's protocol and sizes; each row records how it was scored.
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from tfbetavae.metrics.catalogue import study_main_key
from tfbetavae.runs import atomic_write_json
from tfbetavae.studies.plan import (
    CLOCK_FILE,
    SCORES,
    SCORES_FILE,
    Setting,
    StudyPlan,
)
from tfbetavae.studies.udr_scores import save_codes


# --------------------------------------------------------------------------- one cell
def networks_name(factory: Callable | str | None) -> str | None:
    """``"module:function"`` of a networks factory: what a plan saves, and what worker processes import."""
    if factory is None or isinstance(factory, str):
        return factory
    if not callable(factory):
        raise TypeError(f"networks must be a function (input_shape, latent_dim) -> (encoder, decoder), got "
                        f"{type(factory).__name__}")
    return f"{factory.__module__}:{factory.__qualname__}"


def networks_factory(name: str | None, given: Callable | None = None) -> Callable | None:
    """The factory a plan names: the function given in this process, else imported from ``module:function``."""
    if name is None or given is not None:
        return given
    module, _, qualname = name.partition(":")
    try:
        target = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        raise ValueError(
            f"the study's networks factory {name!r} cannot be imported here; define it at module level in an "
            "importable module (worker processes and resumed studies import it by name)"
        ) from None
    return target


def cell_model(setting: Setting, image_shape, seed: int, dataset_size: int | None = None,
               networks: Callable | None = None):
    """The model of a setting, seeded and compiled with the setting's learning rate (``training.new_model``).

    ``networks(input_shape, latent_dim) -> (encoder, decoder)`` gives the user's networks (fresh ones per call);
    without it the standard networks are built.
    """
    from tfbetavae.training import new_model

    return new_model(setting.objective, seed=seed, learning_rate=setting.learning_rate,
                     latent_dim=setting.latent_dim, input_shape=tuple(image_shape), networks=networks,
                     **setting.model_settings(dataset_size))


build_model = cell_model  # its name before the factory's took it: "build_model" is the factory's alone


def score_model(model, data, plan: StudyPlan, say=None) -> dict[str, float]:
    """Every chosen score of a model, with flat keys (``beta_vae_eval_accuracy``, ``mig``, ...), under the plan's
    protocol and metric sizes, on the plan's representation: posterior means, or (``"sampled"``) one posterior draw
    per image, each score drawing from its own generator seeded with the eval seed, as ``evaluate`` does.

    ``say`` gets a line before each score: which, on how many points, and the time left for the rest (estimated
    from the points scored so far), since scoring at full sizes takes minutes.
    """
    from tfbetavae.metrics.evaluation import METRICS, PROTOCOLS
    from tfbetavae.metrics.held_out import held_out_terms
    from tfbetavae.metrics.representation import as_representation

    represent = as_representation(model)
    results = held_out_terms(model, data, plan.held_out_images, plan.eval_seed)
    per_model = [name for name in plan.scores if SCORES[name][0] != "udr"]  # UDR: saved codes, scored across seeds
    points = {name: sum(int(v) for v in plan.metric_sizes[name].values()) for name in per_model}
    started, scored = time.perf_counter(), 0
    for name in per_model:
        if say is not None:
            left = sum(points[n] for n in per_model[per_model.index(name):])
            rate = (time.perf_counter() - started) / scored if scored else None
            estimate = f"about {_seconds(rate * left)} left" if rate else "time left: estimating"
            say(f"scoring {name} on {points[name]:,} points ({estimate})")
        metric, fixed = SCORES[name]
        # The protocol's estimators and settings; each β-VAE score keeps its own task (both protocols' classifier
        # is the same logistic regression, see docs/metrics.md).
        settings = {**PROTOCOLS[plan.protocol].get(metric, {}), **fixed}
        codes = represent if plan.representation == "mean" else as_representation(
            represent, plan.representation, plan.eval_seed)
        values = METRICS[metric](
            codes, training_source(data), seed=plan.eval_seed, progress=False, **settings,
            **plan.metric_sizes[name],
        )
        scored += points[name]
        for key, value in values.items():
            results[name if key == name else f"{name}_{key}"] = float(value)
    return results


def training_source(data, setting: Setting | None = None):
    """What ``train`` and the metrics take for a cell's data: a ground-truth data set itself, an ``ImageSet``'s array,
    and for a setting trained on pairs (``pair_k``) the data's pairs that differ in that many factors."""
    from tfbetavae.data.image_set import ImageSet

    if setting is not None and setting.pair_k is not None:
        from tfbetavae.data.pairs import GroundTruthPairs

        return GroundTruthPairs(data, setting.pair_k)  # refuses data without factors by name
    return data.images if isinstance(data, ImageSet) else data


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 90 else f"{value / 60:.1f} min"


def read_rows(run_dir: Path) -> list[dict]:
    path = run_dir / SCORES_FILE
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text()))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: corrupt scores file ({error})") from None


def _read_clock(run_dir: Path) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads((run_dir / CLOCK_FILE).read_text()).items()}
    except (FileNotFoundError, json.JSONDecodeError, AttributeError, ValueError):
        return {"train_seconds": 0.0, "metric_seconds": 0.0}


def _cell_scorer(plan: StudyPlan, setting: Setting, seed: int, run_dir: Path, data, say, data_name: str | None = None):
    """A Keras callback that scores the model at each evaluation step and keeps the cell's clock."""
    import keras

    class CellScorer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.clock = _read_clock(run_dir)
            self.rows = read_rows(run_dir)
            self._epoch_start = time.perf_counter()
            self.label = f"cell {cell_number(plan, setting, seed, data_name)}: {plan.cell_label(setting, data_name)} seed {seed}"

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.clock["train_seconds"] += time.perf_counter() - self._epoch_start
            step = int(self.model.step_counter.numpy())
            if logs and "loss" in logs:
                say(f"{self.label}, step {step}/{plan.steps}, loss {float(logs['loss']):.1f}")
            if step in plan.eval_steps and step not in {row["step"] for row in self.rows}:
                self.score(step)
            atomic_write_json(self.clock, run_dir / CLOCK_FILE)

        def score(self, step: int) -> dict:
            started = time.perf_counter()
            scores = score_model(self.model, data, plan, say=lambda text: say(f"{self.label}, step {step}: {text}"))
            if "udr" in plan.scores:  # the codes UDR compares across seeds when the results are collected
                save_codes(self.model, data, run_dir, step, plan.metric_sizes["udr"]["num_points"], plan.eval_seed)
            self.clock["metric_seconds"] += time.perf_counter() - started
            row = {
                **cell_identity(plan, setting, seed, data_name),
                "step": step,
                "train_seconds": round(self.clock["train_seconds"], 3),
                "metric_seconds": round(self.clock["metric_seconds"], 3),
                "wall_seconds": round(self.clock["train_seconds"] + self.clock["metric_seconds"], 3),
                "fast": plan.fast,
                **score_record(plan),
                **scores,
            }
            self.rows.append(row)
            atomic_write_json(self.rows, run_dir / SCORES_FILE)
            atomic_write_json(self.clock, run_dir / CLOCK_FILE)
            shown = ", ".join(f"{k} {scores[k]:.3f}" for k in _headline_keys(plan) if k in scores)
            say(f"{self.label}, step {step}/{plan.steps}, {shown}")
            return row

    return CellScorer()


def _headline_keys(plan: StudyPlan) -> list[str]:
    return [study_main_key(name) for name in plan.scores if name != "udr"] + ["reconstruction", "kl"]


def cell_identity(plan: StudyPlan, setting: Setting, seed: int, data: str | None = None) -> dict:
    """What a result row says about its cell: name, label, seed, setting, precision and data set."""
    return {
        "cell": plan.cell_name(setting, seed, data),
        "setting": plan.cell_label(setting, data),
        "seed": seed,
        **setting.as_json(),
        "precision": plan.precision,
        "data": plan.data if data is None else data,
    }


def score_record(plan: StudyPlan) -> dict:
    """What made a row's scores, stored with them so a number found alone still says how it was measured: the
    metrics' protocol and every score's sizes (``--fast`` is the row's ``fast``), and ``"representation":
    "sampled"`` when the codes were posterior draws (as ``tfbetavae.metrics.scoring_record`` writes it: a row without
    it scored the means; UDR compares means whatever the choice)."""
    record = {
        "protocol": plan.protocol,
        "metric_sizes": {name: dict(plan.metric_sizes[name]) for name in plan.scores},
        "held_out_images": plan.held_out_images,
        "eval_seed": plan.eval_seed,
    }
    if plan.representation != "mean":
        record["representation"] = plan.representation
    return record


def cell_number(plan: StudyPlan, setting: Setting, seed: int, data: str | None = None) -> str:
    """``"3/9"``: the cell's place in the grid's own order (seeds slowest, then data sets), for progress lines."""
    cells = plan.cells()
    name = plan.data_names[0] if data is None else data
    return f"{cells.index((name, setting, seed)) + 1}/{len(cells)}"


def run_cell(plan: StudyPlan, setting: Setting, seed: int, study_dir: Path, data, say=print,
             networks: Callable | None = None, data_name: str | None = None) -> dict:
    """Trains (or resumes, extends, or skips) one cell and returns its row at the last evaluation step.

    ``data`` is the cell's ground-truth data; ``data_name`` its name in the plan's data axis (None without one).
    """
    from tfbetavae.training import restore_run, train

    run_dir = study_dir / "runs" / plan.cell_name(setting, seed, data_name)
    rows = read_rows(run_dir)
    done = {row["step"] for row in rows}
    label = f"cell {cell_number(plan, setting, seed, data_name)}: {plan.cell_label(setting, data_name)} seed {seed}"
    if all(step in done for step in plan.eval_steps):
        say(f"{label}: already scored at every step")
        return max(rows, key=lambda row: row["step"])
    size = len(data) if hasattr(data, "__len__") else None
    model = cell_model(setting, data.observation_shape, seed, dataset_size=size,
                        networks=networks_factory(plan.networks, networks))
    scorer = _cell_scorer(plan, setting, seed, run_dir, data, say, data_name)
    step = restore_run(model, run_dir)
    if step:
        say(f"{label}: {'extending' if (run_dir / 'model.keras').exists() else 'resuming'} from step {step} "
            f"to {plan.steps}")
        if step in plan.eval_steps and step not in done:  # killed between a checkpoint and its scores
            scorer.set_model(model)
            scorer.score(step)
    else:
        say(f"{label}: training {plan.steps} steps")
    log_event(study_dir, "start", run_dir.name)
    train(
        model, training_source(data, setting), steps=plan.steps, batch_size=plan.batch_size, run_dir=run_dir,
        steps_per_epoch=plan.steps_per_epoch, seed=seed, learning_rate=setting.learning_rate,
        callbacks=[scorer], verbose=0,
        extra_config={"study": study_dir.name, "setting": setting.as_json(),
                      "data": plan.data if data_name is None else data_name},
    )
    rows = read_rows(run_dir)
    missing = [step for step in plan.eval_steps if step not in {row["step"] for row in rows}]
    if missing:
        raise RuntimeError(f"{run_dir}: training ended without scores at steps {missing}")
    log_event(study_dir, "done", run_dir.name)
    return max(rows, key=lambda row: row["step"])


EVENTS_FILE = "events.log"


def log_event(study_dir: Path, event: str, cell: str) -> None:
    """One line per cell start/finish in ``events.log`` (time, event, cell, process): what ran where, and when."""
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {event} {cell} {socket.gethostname()}:{os.getpid()}\n"
    with open(study_dir / EVENTS_FILE, "a", encoding="utf-8") as handle:  # O_APPEND: whole lines, any process
        handle.write(line)


