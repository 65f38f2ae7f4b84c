"""Studies: a grid of model settings crossed with seeds, each cell a resumable training run scored on a curve.

One cell is one ``tfbetavae.training.train`` run in ``<study>/runs/<cell>/``, scored at every step of
``eval_steps`` (its rows go to ``<cell>/study_scores.json``). KerasTuner's ``GridSearchOracle`` walks the
(seed, setting) grid and keeps the books: which cells finished, which one a killed process left running. So
``--chief``/``--worker`` processes (or ``workers=N`` local processes) share a study exactly as they share a
``tune`` search, and a study started again in the same folder runs every missing cell once, resuming a
half-trained cell from its checkpoint.

Layout of a study folder::

    study.json            the plan (grid, seeds, steps, scores, metric sizes); another plan is refused
    runs/<cell>/          a training run folder, plus study_scores.json (one row per evaluated step)
    oracle/               KerasTuner's bookkeeping (oracle.json, trial_*/trial.json)
    results.json, .csv    every row of every run (written by the process that reports)
    summary.md, *.png     the report (``tfbetavae.studies.reporting``)
"""

from __future__ import annotations

import csv
import importlib
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfbetavae.metrics.catalogue import STUDY_SCORES, study_main_key, study_sizes
from tfbetavae.objective_names import OBJECTIVES
from tfbetavae.training import DEFAULT_LEARNING_RATE, atomic_write_json
from tfbetavae.tuning._checks import choices, non_negative_int, positive_float, positive_int

logger = logging.getLogger("tfbetavae.studies")

# The study's scores and their sizes come from the metric catalogue (tfbetavae.metrics.catalogue): one table.
SCORES: dict[str, tuple[str, dict[str, Any]]] = STUDY_SCORES
DEFAULT_SCORES = ("beta_vae", "beta_vae_paper", "mig", "dci")
STUDY_SIZES: dict[str, dict[str, int]] = {name: study_sizes(name, "study") for name in STUDY_SCORES}
FAST_SIZES: dict[str, dict[str, int]] = {name: study_sizes(name, "fast") for name in STUDY_SCORES}
HELD_OUT_IMAGES = 512
FAST_HELD_OUT_IMAGES = 128
PLAN_FILE = "study.json"
SCORES_FILE = "study_scores.json"
CLOCK_FILE = "study_clock.json"
PLAN_FORMAT = 1


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Setting:
    """One model configuration of the grid (a cell is a setting and a seed)."""

    objective: str = "beta-vae"
    beta: float | None = 4.0  # β of beta-vae; the total-correlation weight of beta-tcvae
    capacity: float | None = None  # C_max (nats) of the capacity objective
    gamma: float | None = None  # weight of |KL - C| (capacity) or of the TC term (factor-vae)
    capacity_steps: int | None = None
    learning_rate: float = DEFAULT_LEARNING_RATE
    latent_dim: int = 10

    @property
    def key(self) -> str:
        """A stable, folder-safe identity (the grid's hyperparameter value)."""
        parts = [self.objective]
        for name in ("beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
        return "_".join(parts)


@dataclass
class StudyPlan:
    """Everything that makes two studies the same study (saved as ``study.json``)."""

    settings: list[Setting]
    seeds: list[int]
    eval_steps: list[int]
    scores: list[str]
    metric_sizes: dict[str, dict[str, int]]
    held_out_images: int
    fast: bool = False
    batch_size: int = 64
    data: str | list[str] = "dsprites"  # one name (every study before the data axis), or the data axis (2 or more)
    eval_seed: int = 12345
    precision: str = "float32"
    format: int = PLAN_FORMAT
    labels: dict[str, str] = field(default_factory=dict)
    networks: str | None = None  # "module:function" of the user's networks factory; None: the standard networks
    protocol: str = "library"  # the metrics' protocol (tfbetavae.metrics.evaluation.PROTOCOLS)

    @property
    def steps(self) -> int:
        return self.eval_steps[-1]

    @property
    def steps_per_epoch(self) -> int:
        """The largest divisor of every evaluation step that is at most 500: each one ends an epoch."""
        common = math.gcd(*self.eval_steps)
        return max(d for d in range(1, min(common, 500) + 1) if common % d == 0)

    @property
    def data_axis(self) -> bool:
        """Whether data is a grid axis (several data sets), which then names every cell and label."""
        return not isinstance(self.data, str)

    @property
    def data_names(self) -> list[str]:
        """The data sets of the grid, in the plan's order (one for a study without a data axis)."""
        return list(self.data) if self.data_axis else [self.data]

    def cells(self) -> list[tuple[str, Setting, int]]:
        """Every (data, setting, seed) cell in the grid's order: seeds slowest, then data sets, then settings."""
        return [(name, setting, seed) for seed in self.seeds for name in self.data_names for setting in self.settings]

    def to_json(self) -> dict:
        saved = {**asdict(self), "settings": [asdict(s) for s in self.settings]}
        if saved["networks"] is None:  # plans written before networks existed stay the same plan
            del saved["networks"]
        if saved["protocol"] == "library":  # likewise plans written before studies took a protocol
            del saved["protocol"]
        return saved

    @classmethod
    def from_json(cls, data: Mapping) -> StudyPlan:
        values = dict(data)
        values["settings"] = [Setting(**s) for s in values["settings"]]
        return cls(**values)

    def setting(self, key: str) -> Setting:
        for candidate in self.settings:
            if candidate.key == key:
                return candidate
        raise KeyError(key)

    def data_key(self, data: str | None) -> str:
        """The folder-safe short name of one of the plan's data sets (``color-dsprites``)."""
        keys = data_keys(self.data_names)
        if data is None:
            if self.data_axis:
                raise ValueError(f"this study's grid has a data axis {self.data_names}: name the cell's data set")
            return keys[self.data]
        if data not in keys:
            raise KeyError(f"data {data!r} is not among the study's data sets {self.data_names}")
        return keys[data]

    def cell_name(self, setting: Setting, seed: int, data: str | None = None) -> str:
        """The cell's run folder name; with a data axis it leads with the data set (``data=color-dsprites_...``)."""
        if not self.data_axis:
            return f"{setting.key}_seed={seed}"
        return f"data={self.data_key(data)}_{setting.key}_seed={seed}"

    def cell_label(self, setting: Setting, data: str | None = None) -> str:
        """The setting's label in rows and reports (``beta=4``; ``data=color-dsprites beta=4`` with a data axis)."""
        label = self.labels.get(setting.key, setting.key)
        return f"data={self.data_key(data)} {label}" if self.data_axis else label


def data_keys(names: Sequence[str]) -> dict[str, str]:
    """Folder-safe short names of a data axis: the registry name (``noisy-dsprites``) or a file's stem, or the whole
    spec made folder-safe when the short names would collide (``dsprites`` and ``dsprites:/data/file.hdf5``)."""
    from tfbetavae.data.registry import is_data_set_name, split_spec

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "data"

    short = [safe(split_spec(name)[0] if is_data_set_name(name) else Path(name).stem) for name in names]
    if len(set(short)) == len(short):
        return dict(zip(names, short))
    full = [safe(name) for name in names]
    if len(set(full)) != len(full):
        raise ValueError(f"the data sets {list(names)} cannot be told apart in folder names; rename a file")
    return dict(zip(names, full))


def check_data_axis(data: Any) -> str | list[str]:
    """``data`` as a plan holds it: one name, or a list of two or more distinct names (the data axis)."""
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    if not isinstance(data, Sequence) or isinstance(data, bytes):
        raise TypeError(f"data must be a data set name such as 'dsprites', a GroundTruthData, or a list of names "
                        f"(the data axis), got {type(data).__name__}")
    names = list(data)
    if not names:
        raise ValueError("data is empty: name at least one data set, e.g. ['dsprites', 'color-dsprites']")
    for name in names:
        if not isinstance(name, (str, os.PathLike)) or not os.fspath(name).strip():
            raise TypeError(f"a data axis is a list of data set names (e.g. 'color-dsprites', 'shapes3d:PATH'), "
                            f"got the entry {name!r}")
    names = [os.fspath(name).strip() for name in names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"data repeats {repeated}: each data set must appear once")
    data_keys(names)  # names that would share a run folder are refused now
    return names[0] if len(names) == 1 else names


def _values(values: Any, name: str, convert) -> list:
    """A non-empty list of checked values, in which a repeat is an error (a repeated seed would be a duplicate run)."""
    items = [values] if isinstance(values, (int, float, np.number)) and not isinstance(values, bool) else values
    if isinstance(items, (Sequence, np.ndarray)) and not isinstance(items, (str, bytes)) and len(items) > 0:
        checked = [convert(item, f"{name} entry") for item in items]
        repeated = sorted({v for v in checked if checked.count(v) > 1})
        if repeated:
            raise ValueError(f"{name} repeats {repeated}: each value must appear once")
    return choices(values, name, convert)


def make_settings(
    objectives: Sequence[str] = ("beta-vae",),
    betas: Sequence[float] | float = (1.0, 4.0),
    capacities: Sequence[float] | float = (25.0,),
    gammas: Sequence[float] | float | None = None,
    capacity_steps: int | None = None,
    learning_rates: Sequence[float] | float = DEFAULT_LEARNING_RATE,
    latent_dims: Sequence[int] | int = 10,
) -> list[Setting]:
    """The grid: every objective × its own axes × learning rate × latent size.

    beta-vae and beta-tcvae take ``betas``; capacity takes ``capacities`` × ``gammas`` (default 1000);
    factor-vae takes ``gammas`` (default 35) as its total-correlation weight.
    """
    if isinstance(objectives, str):
        objectives = [objectives]
    objectives = list(objectives)
    if not objectives:
        raise ValueError(f"objectives is empty: choose from {OBJECTIVES}")
    for objective in objectives:
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES}")
    rates = _values(learning_rates, "learning_rates", positive_float)
    sizes = _values(latent_dims, "latent_dims", positive_int)
    steps = None if capacity_steps is None else positive_int(capacity_steps, "capacity_steps")
    settings = []
    for objective in dict.fromkeys(objectives):
        if objective in ("beta-vae", "beta-tcvae"):
            axes = [{"beta": b} for b in _values(betas, "betas", positive_float)]
        elif objective == "capacity":
            gamma_values = _values(1000.0 if gammas is None else gammas, "gammas", positive_float)
            axes = [
                {"beta": None, "capacity": c, "gamma": g, "capacity_steps": steps}
                for c, g in itertools.product(_values(capacities, "capacities", positive_float), gamma_values)
            ]
        else:
            axes = [{"beta": None, "gamma": g} for g in _values(35.0 if gammas is None else gammas, "gammas", positive_float)]
        for axis, rate, size in itertools.product(axes, rates, sizes):
            settings.append(Setting(objective=objective, learning_rate=rate, latent_dim=size, **axis))
    return settings


def _labels(settings: Sequence[Setting]) -> dict[str, str]:
    """Short labels naming only what varies between settings (``beta=4``, ``capacity=25 lr=1e-4``)."""
    names = {"learning_rate": "lr", "latent_dim": "z", "capacity_steps": "C steps"}
    varying = [
        name
        for name in ("objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim")
        if len({getattr(s, name) for s in settings}) > 1
    ] or ["beta"]
    labels = {}
    for setting in settings:
        parts = []
        for name in varying:
            value = getattr(setting, name)
            if value is None:
                continue
            text = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(text if name == "objective" else f"{names.get(name, name)}={text}")
        labels[setting.key] = " ".join(parts) or setting.key
    return labels


def make_plan(
    settings: Sequence[Setting],
    seeds: Sequence[int],
    eval_steps: Sequence[int],
    scores: Sequence[str] = DEFAULT_SCORES,
    metric_sizes: Mapping[str, Mapping[str, int]] | None = None,
    fast: bool = False,
    held_out_images: int | None = None,
    batch_size: int = 64,
    data: str | Sequence[str] = "dsprites",
    eval_seed: int = 12345,
    precision: str = "float32",
    protocol: str = "library",
) -> StudyPlan:
    """Checks every part of a study before anything is written; errors name the problem."""
    from tfbetavae.metrics.evaluation import PROTOCOLS

    settings = list(settings)
    if not settings:
        raise ValueError("the study grid is empty: give at least one setting (e.g. betas=[1, 4])")
    keys = [s.key for s in settings]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the grid repeats a setting: {sorted({k for k in keys if keys.count(k) > 1})}")
    seeds = _values(seeds, "seeds", non_negative_int)
    eval_steps = _values(eval_steps, "eval_steps", positive_int)
    if eval_steps != sorted(eval_steps):
        eval_steps = sorted(eval_steps)
    scores = list(dict.fromkeys([scores] if isinstance(scores, str) else scores))
    if not scores:
        raise ValueError(f"no scores chosen; choose from {list(SCORES)}")
    for name in scores:
        if name not in SCORES:
            raise ValueError(f"unknown score {name!r}; choose from {list(SCORES)}")
    sizes = {name: dict((FAST_SIZES if fast else STUDY_SIZES)[name]) for name in scores}
    for name, given in (metric_sizes or {}).items():
        if name not in sizes:
            raise ValueError(f"metric sizes given for {name!r}, which is not among the chosen scores {scores}")
        for key, value in given.items():
            if key not in sizes[name]:
                raise ValueError(f"score {name!r} has no size {key!r}; it has {sorted(sizes[name])}")
            sizes[name][key] = positive_int(value, f"{name}.{key}")
    held_out = held_out_images or (FAST_HELD_OUT_IMAGES if fast else HELD_OUT_IMAGES)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    from tfbetavae.model import BetaVAE  # noqa: F401  (checks settings the way the model will)

    return StudyPlan(
        settings=settings,
        seeds=seeds,
        eval_steps=eval_steps,
        scores=scores,
        metric_sizes=sizes,
        held_out_images=positive_int(held_out, "held_out_images"),
        fast=bool(fast),
        batch_size=positive_int(batch_size, "batch_size"),
        data=check_data_axis(data),
        eval_seed=non_negative_int(eval_seed, "eval_seed"),
        precision=str(precision),
        labels=_labels(settings),
        protocol=protocol,
    )


def check_or_write_plan(study_dir: Path, plan: StudyPlan, write: bool = True) -> StudyPlan:
    """A folder that already holds a study must hold this one; nothing of it is overwritten otherwise."""
    path = study_dir / PLAN_FILE
    current = json.loads(json.dumps(plan.to_json()))
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: corrupt study plan ({error}); move the folder aside") from None
        different = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        if different and _extends_plan(saved, current, different):
            if write:
                extend_plan(study_dir, saved, current)
            return plan
        if different:
            details = "; ".join(f"{k}: {_brief(saved.get(k))} -> {_brief(current.get(k))}" for k in different)
            raise ValueError(
                f"{study_dir} holds a study of another grid ({details}); use another folder, or the same settings"
            )
        return plan
    if study_dir.exists() and any(study_dir.iterdir()):
        raise ValueError(f"{study_dir} is not empty and holds no study ({PLAN_FILE} missing); use another folder")
    if write:
        atomic_write_json(current, path)
    return plan


def _extends_plan(saved: dict, current: dict, different: Sequence[str]) -> bool:
    """Whether ``current`` only grows ``saved``: later evaluation steps, more seeds, or both."""
    if not set(different) <= {"eval_steps", "seeds"}:
        return False
    if "eval_steps" in different and not _extends(saved["eval_steps"], current["eval_steps"]):
        return False
    return "seeds" not in different or _adds_seeds(saved["seeds"], current["seeds"])


def _adds_seeds(saved: Sequence[int], asked: Sequence[int]) -> bool:
    """Whether ``asked`` keeps the saved seeds, in their order, and appends new ones after them.

    The grid runs seeds slowest, so appended seeds are new cells; the finished ones are skipped.
    """
    return len(asked) > len(saved) and list(asked[: len(saved)]) == list(saved)


def _extends(saved: Sequence[int], asked: Sequence[int]) -> bool:
    """Whether ``asked`` evaluation steps continue ``saved`` ones: all of them kept, every new one past the last.

    A new step before the last saved one would need a state no finished cell kept.
    """
    new = set(asked) - set(saved)
    return bool(new) and set(saved) <= set(asked) and min(new) > max(saved)


def extend_plan(study_dir: Path, saved: dict, plan_json: dict) -> None:
    """Writes the longer (or wider: more seeds) plan; KerasTuner's books of the old one are set aside (kept,
    renamed), because its grid oracle would count the finished cells as done, or know only the old seeds. Every
    cell resumes from its own run folder, and a finished one is skipped."""
    books = study_dir / "oracle"
    if books.exists():
        aside = study_dir / f"oracle.until-{max(saved['eval_steps'])}"
        if saved["seeds"] != plan_json["seeds"]:
            aside = aside.with_name(f"{aside.name}-seeds-{len(saved['seeds'])}")
        if aside.exists():  # an earlier extension of the same length was interrupted here
            shutil.rmtree(books)
        else:
            os.replace(books, aside)
    atomic_write_json(plan_json, study_dir / PLAN_FILE)


def _brief(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:117] + "..."


def load_plan(study_dir: str | os.PathLike) -> StudyPlan:
    path = Path(study_dir) / PLAN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no study in {study_dir} ({PLAN_FILE} missing)")
    try:
        return StudyPlan.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, KeyError) as error:
        raise ValueError(f"{path}: corrupt study plan ({type(error).__name__}: {error})") from None


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


def build_model(setting: Setting, image_shape, seed: int, dataset_size: int | None = None,
                networks: Callable | None = None):
    """The model of a setting, seeded; compiled with the setting's learning rate.

    ``networks(input_shape, latent_dim) -> (encoder, decoder)`` gives the user's networks (fresh ones per call);
    without it the standard networks are built.
    """
    import keras

    from tfbetavae.objectives import build_model as build
    from tfbetavae.training import compile_model

    keras.utils.set_random_seed(seed)
    common = {"latent_dim": setting.latent_dim, "input_shape": tuple(image_shape), "seed": seed, "networks": networks}
    # A setting's beta is the TC weight of beta-tcvae and its gamma that of factor-vae; capacity runs record β 1.
    settings = {
        "beta-vae": {"beta": setting.beta},
        "capacity": {"beta": 1.0, "capacity": setting.capacity, "gamma": setting.gamma,
                     "capacity_steps": setting.capacity_steps or None},
        "beta-tcvae": {"tc_weight": setting.beta, "dataset_size": dataset_size},
        "factor-vae": {"tc_weight": setting.gamma},
    }
    model = build(setting.objective, **settings.get(setting.objective, {}), **common)  # the factory names an unknown one
    return compile_model(model, setting.learning_rate)


def score_model(model, data, plan: StudyPlan, say=None) -> dict[str, float]:
    """Every chosen score of a model, with flat keys (``beta_vae_eval_accuracy``, ``mig``, ...), under the plan's
    protocol and metric sizes.

    ``say`` gets a line before each score: which, on how many points, and the time left for the rest (estimated
    from the points scored so far), since scoring at full sizes takes minutes.
    """
    from tfbetavae.metrics.evaluation import METRICS, PROTOCOLS
    from tfbetavae.metrics.held_out import held_out_terms
    from tfbetavae.metrics.representation import as_representation

    represent = as_representation(model)
    results = held_out_terms(model, data, plan.held_out_images, plan.eval_seed)
    points = {name: sum(int(v) for v in plan.metric_sizes[name].values()) for name in plan.scores}
    started, scored = time.perf_counter(), 0
    for name in plan.scores:
        if say is not None:
            left = sum(points[n] for n in plan.scores[plan.scores.index(name):])
            rate = (time.perf_counter() - started) / scored if scored else None
            estimate = f"about {_seconds(rate * left)} left" if rate else "time left: estimating"
            say(f"scoring {name} on {points[name]:,} points ({estimate})")
        metric, fixed = SCORES[name]
        # The protocol's estimators and settings; each β-VAE score keeps its own task (both protocols' classifier
        # is the same logistic regression, see docs/metrics.md).
        settings = {**PROTOCOLS[plan.protocol].get(metric, {}), **fixed}
        values = METRICS[metric](
            represent, data, seed=plan.eval_seed, progress=False, **settings, **plan.metric_sizes[name]
        )
        scored += points[name]
        for key, value in values.items():
            results[name if key == name else f"{name}_{key}"] = float(value)
    return results


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
    return [study_main_key(name) for name in plan.scores] + ["reconstruction", "kl"]


def cell_identity(plan: StudyPlan, setting: Setting, seed: int, data: str | None = None) -> dict:
    """What a result row says about its cell: name, label, seed, setting, precision and data set."""
    return {
        "cell": plan.cell_name(setting, seed, data),
        "setting": plan.cell_label(setting, data),
        "seed": seed,
        **asdict(setting),
        "precision": plan.precision,
        "data": plan.data if data is None else data,
    }


def score_record(plan: StudyPlan) -> dict:
    """What made a row's scores, stored with them so a number found alone still says how it was measured: the
    metrics' protocol and every score's sizes (``--fast`` is the row's ``fast``)."""
    return {
        "protocol": plan.protocol,
        "metric_sizes": {name: dict(plan.metric_sizes[name]) for name in plan.scores},
        "held_out_images": plan.held_out_images,
        "eval_seed": plan.eval_seed,
    }


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
    model = build_model(setting, data.observation_shape, seed, dataset_size=size,
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
        model, data, steps=plan.steps, batch_size=plan.batch_size, run_dir=run_dir,
        steps_per_epoch=plan.steps_per_epoch, seed=seed, learning_rate=setting.learning_rate,
        callbacks=[scorer], verbose=0,
        extra_config={"study": study_dir.name, "setting": asdict(setting),
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


# --------------------------------------------------------------------------- the grid on KerasTuner
OBJECTIVE_KEY = "study_score"


def _grid_oracle_class():
    import keras_tuner as kt

    class ResumableGridOracle(kt.oracles.GridSearchOracle):
        """KerasTuner's grid oracle, walking the grid eagerly and able to resume.

        KerasTuner 1.4.8's ``GridSearchOracle`` makes the next combination only from a trial that has ended
        (the first one excepted), so a second worker waits idle until the first finishes its cell; and it keeps
        its walk in memory only, so a reloaded oracle fails with a ``KeyError``. Here the next trial is the first
        combination of the grid, in the grid's own order, that no trial has taken yet — derived from the trials
        KerasTuner saved, so every worker gets work at once and a resumed study neither loses nor repeats a cell.
        An interrupted trial is retried by KerasTuner's own retry queue, as before.
        """

        def populate_space(self, trial_id):
            taken = {self._values_key(trial.hyperparameters.values) for trial in self.trials.values()}
            space = self.get_space()
            values = {hp.name: hp.default for hp in space.space if space.is_active(hp)}
            while values is not None:
                if self._values_key(values) not in taken:
                    return {"status": "RUNNING", "values": values}
                values = self._get_next_combination(values)
            return {"status": "STOPPED", "values": None}

        @staticmethod
        def _values_key(values) -> tuple:
            return tuple(sorted((name, str(value)) for name, value in values.items()))

    return ResumableGridOracle


def _make_tuner(plan: StudyPlan, study_dir: Path, data, say, networks: Callable | None = None):
    import keras_tuner as kt

    ResumableGridOracle = _grid_oracle_class()  # noqa: N806 - a class
    hyperparameters = kt.HyperParameters()
    hyperparameters.Choice("seed", plan.seeds)  # declared first: it varies slowest, so every setting gets seed 1
    if plan.data_axis:  # then the data sets: every data set gets seed 0 before any gets seed 1
        hyperparameters.Choice("data", plan.data_names)
    hyperparameters.Choice("setting", [s.key for s in plan.settings])

    class StudyTuner(kt.engine.base_tuner.BaseTuner):
        """Runs one study cell per trial; the trial's metrics are the cell's scores at its last step."""

        def run_trial(self, trial, *args, **kwargs):
            values = trial.hyperparameters.values
            name = values.get("data")
            row = run_cell(plan, plan.setting(values["setting"]), int(values["seed"]), study_dir, data.get(name), say,
                           networks, data_name=name)
            metrics = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and k not in ("seed", "step") and v is not None and math.isfinite(float(v))}
            metrics[OBJECTIVE_KEY] = metrics.get(_headline_keys(plan)[0], 0.0)
            return metrics

        def save_model(self, trial_id, model, step=0):  # the cell's run folder holds its model
            pass

        def load_model(self, trial):
            from tfbetavae.loading import load as load_model

            values = trial.hyperparameters.values
            cell = plan.cell_name(plan.setting(values["setting"]), int(values["seed"]), values.get("data"))
            return load_model(study_dir / "runs" / cell)

    oracle = ResumableGridOracle(
        objective=kt.Objective(OBJECTIVE_KEY, "max"),
        max_trials=len(plan.cells()),
        hyperparameters=hyperparameters,
        allow_new_entries=False,
        tune_new_entries=False,
        max_consecutive_failed_trials=1,
    )
    return StudyTuner(oracle=oracle, directory=os.fspath(study_dir), project_name="oracle", overwrite=False)


def _failed_trials(tuner) -> list[str]:
    oracle = tuner.oracle
    trials = getattr(oracle, "trials", {})
    return [f"trial {tid}: {(t.message or '').strip().splitlines()[-1:] }" for tid, t in trials.items()
            if str(t.status) == "FAILED"]


def run_grid(plan: StudyPlan, study_dir: Path, data, say=print, num_workers: int | None = None,
             chief_timeout: float | None = None, keras_tuner_output: bool = False,
             networks: Callable | None = None) -> None:
    """This process's part of the study: all of it, a worker's share, or (chief) serving the grid.

    ``data``: the study's ``StudyData``, or (a study without a data axis) its ground-truth data itself.

    The progress lines are the study's own; KerasTuner's per-trial tables ("Best Value So Far", which mean
    nothing over a grid of seeds) only with ``keras_tuner_output``.
    """
    from tfbetavae.tuning.search import forget_finished_retries, is_chief, serve_oracle

    if not isinstance(data, StudyData):
        data = StudyData(plan, given=data)
    tuner = _make_tuner(plan, study_dir, data, say, networks)
    tuner.oracle.verbose = int(keras_tuner_output)
    if not _is_worker():
        forget_finished_retries(tuner.oracle)
    if is_chief():
        tuner.save()
        serve_oracle(tuner.oracle, num_workers=num_workers, timeout=chief_timeout)
        return
    tuner.search(verbose=int(keras_tuner_output))
    if not _is_worker():
        failed = _failed_trials(tuner)
        if failed:
            raise RuntimeError(f"study cells failed: {failed}")


def _is_worker() -> bool:
    from tfbetavae.tuning.search import is_worker

    return is_worker()


# --------------------------------------------------------------------------- local workers
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_local_workers(study_dir: Path, workers: int, threads: int | None, say=print,
                      keras_tuner_output: bool = False) -> None:
    """Serves the grid from this process to ``workers`` local worker processes (KerasTuner chief/worker on
    127.0.0.1), each with ``threads`` intra-op threads (default: the cores split between them)."""
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    port = _free_port()
    children = []
    log_dir = study_dir / "workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    for index in range(workers):
        env = {
            **os.environ,
            "KERASTUNER_TUNER_ID": f"worker{index}",
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
            "TFBETAVAE_THREADS": str(threads),
        }
        log = open(log_dir / f"worker{index}.log", "a", encoding="utf-8")  # noqa: SIM115 - owned by the child
        command = [sys.executable, "-m", "tfbetavae.studies.worker", os.fspath(study_dir)]
        children.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          preexec_fn=_die_with_parent), log))
    say(f"{workers} local workers × {threads} thread(s); logs in {log_dir}")
    saved = {k: os.environ.get(k) for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")}
    os.environ.update(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
    try:
        plan = load_plan(study_dir)
        run_grid(plan, study_dir, data=None, say=say, num_workers=workers, keras_tuner_output=keras_tuner_output)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        codes = []
        for child, log in children:
            try:
                codes.append(child.wait(timeout=60))
            except subprocess.TimeoutExpired:
                child.kill()
                codes.append(child.wait())
            log.close()
    bad = [i for i, code in enumerate(codes) if code != 0]
    if bad:
        # A negative code is a signal (-9: killed here after 60 s without exiting, or by the system).
        exits = ", ".join(f"worker{i} exit code {codes[i]}" for i in bad)
        raise RuntimeError(f"local worker(s) {bad} failed ({exits}); see {log_dir}/worker<N>.log")


def set_threads(threads: int | None) -> None:
    """Pins TensorFlow's intra-op threads (before any TensorFlow work in this process)."""
    if not threads:
        return
    import tensorflow as tf

    if tf.config.threading.get_intra_op_parallelism_threads() == int(threads):
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, int(threads)))
    except RuntimeError:
        raise ValueError(
            f"threads={threads} cannot be set: TensorFlow has already run in this process; "
            "start a fresh process, or leave threads unset"
        ) from None


# --------------------------------------------------------------------------- results
RESULT_COLUMNS = (
    "cell", "setting", "objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim",
    "precision", "seed", "step", "wall_seconds", "train_seconds", "metric_seconds", "fast",
)
# Columns of rows written since scores record their data set and how they were measured (metric_sizes as JSON).
RECORD_COLUMNS = ("data", "protocol", "metric_sizes", "held_out_images", "eval_seed")


def collect_results(study_dir: str | os.PathLike) -> list[dict]:
    """Every row of every run folder of a study (finished or partial), in grid order."""
    study_dir = Path(study_dir)
    plan = load_plan(study_dir)
    rows = []
    for data, setting, seed in plan.cells():
        cell = plan.cell_name(setting, seed, data if plan.data_axis else None)
        rows.extend(sorted(read_rows(study_dir / "runs" / cell), key=lambda r: r["step"]))
    return rows


def write_results(study_dir: str | os.PathLike, rows: Sequence[Mapping]) -> tuple[Path, Path]:
    """``results.json`` and ``results.csv`` (one row per run × evaluated step), written atomically."""
    study_dir = Path(study_dir)
    json_path = atomic_write_json(list(rows), study_dir / "results.json")
    present = {k for row in rows for k in row}
    record = [k for k in RECORD_COLUMNS if k in present]  # absent from rows written before scores recorded them
    score_columns = sorted(present - set(RESULT_COLUMNS) - set(RECORD_COLUMNS))
    columns = list(RESULT_COLUMNS)
    if "data" in record:
        columns.insert(columns.index("setting") + 1, "data")
    columns += [k for k in record if k != "data"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*columns, *score_columns], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
                         for k, v in row.items()})
    csv_path = study_dir / "results.csv"
    temporary = csv_path.with_name(".results.csv.tmp")
    temporary.write_text(buffer.getvalue())
    os.replace(temporary, csv_path)
    return json_path, csv_path


def resolve_study_data(spec: str):
    """The ground-truth data a plan names (a study needs known factors to score disentanglement)."""
    from tfbetavae.data.sources import has_factors, resolve_data

    source = resolve_data(spec)
    if not has_factors(source):
        raise ValueError(f"a study needs data with known factors (e.g. dsprites) to score disentanglement; {spec!r} has none")
    return source


class StudyData:
    """The data sets of a study's cells, each opened once, when its first cell needs it.

    ``given``: data already opened for a study without a data axis (a ``GroundTruthData`` passed to ``study``).
    """

    def __init__(self, plan: StudyPlan, given: Any = None) -> None:
        self.plan = plan
        self.opened: dict[str, Any] = {}
        if given is not None:
            if plan.data_axis:
                raise ValueError("a study with a data axis opens its data sets by name; pass names, not data")
            self.opened[plan.data_names[0]] = given

    def get(self, name: str | None) -> Any:
        """The cell's data (``name`` None: the study's one data set)."""
        name = self.plan.data_names[0] if name is None else name
        if name not in self.opened:
            self.opened[name] = resolve_study_data(name)
        return self.opened[name]

    def check(self) -> None:
        """Opens every data set now, so a bad name or file fails before any cell trains; errors name the entry."""
        for name in self.plan.data_names:
            try:
                self.get(name)
            except (ValueError, FileNotFoundError, TypeError) as error:
                if not self.plan.data_axis:
                    raise
                raise type(error)(f"data {name!r} of the study's data axis: {error}") from None


def use_plan_precision(plan: StudyPlan) -> None:
    """Sets the plan's Keras precision policy in this process (float32 unless the plan says otherwise)."""
    if plan.precision == "float32":
        return
    from tfbetavae.precision import use_precision

    use_precision(plan.precision)
