"""A study's plan: its settings (the grid), seeds, evaluation steps, scores and sizes, saved as ``study.json``.

A folder holds one plan; a plan that only grows it (later evaluation steps, appended seeds) extends it in place.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfbetavae.checks import non_negative_int, positive_float, positive_int
from tfbetavae.metrics.catalogue import STUDY_SCORES, study_sizes, too_few_points
from tfbetavae.objective_names import OBJECTIVES
from tfbetavae.runs import atomic_write_json
from tfbetavae.training import DEFAULT_LEARNING_RATE
from tfbetavae.tuning._checks import choices

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
    lambda_od: float | None = None  # DIP-VAE's off-diagonal weight (None: the factory's default)
    lambda_d: float | None = None  # DIP-VAE's diagonal weight (None: lambda_od times the type's factor)
    pair_k: int | str | None = None  # Ada-GVAE, Ada-ML-VAE: factors a pair does not share (a number, or "random")

    @property
    def key(self) -> str:
        """A stable, folder-safe identity (the grid's hyperparameter value)."""
        parts = [self.objective]
        for name in ("beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim", *_LATER_FIELDS):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
        return "_".join(parts)

    def as_json(self) -> dict:
        """The setting as a plan saves it; fields added later appear only when set, so older plans stay the same."""
        saved = asdict(self)
        return {k: v for k, v in saved.items() if k not in _LATER_FIELDS or v is not None}

    def model_settings(self, dataset_size: int | None = None) -> dict[str, Any]:
        """The factory's keywords (``tfbetavae.objectives.build_model``) for this setting's own fields.

        A setting's ``beta`` is the total-correlation weight of beta-tcvae, its ``gamma`` that of factor-vae
        (``tc_weight``); capacity runs record β 1 (β has no part in their loss).
        """
        by_objective = {
            "beta-vae": {"beta": self.beta},
            "capacity": {"beta": 1.0, "capacity": self.capacity, "gamma": self.gamma,
                         "capacity_steps": self.capacity_steps or None},
            "beta-tcvae": {"tc_weight": self.beta, "dataset_size": dataset_size},
            "factor-vae": {"tc_weight": self.gamma},
            "dip-vae-i": {"lambda_od": self.lambda_od, "lambda_d": self.lambda_d},
            "dip-vae-ii": {"lambda_od": self.lambda_od, "lambda_d": self.lambda_d},
            "ada-gvae": {"beta": self.beta},
            "ada-ml-vae": {"beta": self.beta},
        }
        if self.objective not in by_objective:
            raise ValueError(f"objective {self.objective!r} cannot be a study setting; choose from {list(by_objective)}")
        return {k: v for k, v in by_objective[self.objective].items() if v is not None or k == "dataset_size"}


_LATER_FIELDS = ("lambda_od", "lambda_d", "pair_k")  # Setting fields younger than the first study plans


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
    representation: str = "mean"  # the codes scored: posterior means, or one draw each ("sampled")

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
        saved = {**asdict(self), "settings": [s.as_json() for s in self.settings]}
        if saved["networks"] is None:  # plans written before networks existed stay the same plan
            del saved["networks"]
        for name, default in _SAVED_ONLY_WHEN_CHOSEN.items():  # likewise plans written before these choices existed
            if saved[name] == default:
                del saved[name]
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


# Plan fields younger than the first plans, saved only when they differ from these defaults: a plan without one had it.
_SAVED_ONLY_WHEN_CHOSEN = {"protocol": "library", "representation": "mean"}


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
    lambdas_od: Sequence[float] | float = (10.0,),
    pair_k: int | str = "random",
) -> list[Setting]:
    """The grid: every objective × its own axes × learning rate × latent size.

    beta-vae and beta-tcvae take ``betas``; capacity takes ``capacities`` × ``gammas`` (default 1000);
    factor-vae takes ``gammas`` (default 35) as its total-correlation weight; dip-vae-i and dip-vae-ii take
    ``lambdas_od`` (their λ_d follows from it, as in disentanglement_lib's sweep); ada-gvae and ada-ml-vae take
    ``betas`` and train on pairs of the study's data that differ in ``pair_k`` factors (a number, or "random":
    drawn per pair, as in Locatello et al. 2020).
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
        elif objective in ("dip-vae-i", "dip-vae-ii"):
            axes = [{"beta": None, "lambda_od": v} for v in _values(lambdas_od, "lambdas_od", positive_float)]
        elif objective in ("ada-gvae", "ada-ml-vae"):
            axes = [{"beta": b, "pair_k": pair_k} for b in _values(betas, "betas", positive_float)]
        elif objective == "factor-vae":
            axes = [{"beta": None, "gamma": g} for g in _values(35.0 if gammas is None else gammas, "gammas", positive_float)]
        else:
            raise ValueError(f"unknown objective {objective!r}; choose from {OBJECTIVES}")
        for axis, rate, size in itertools.product(axes, rates, sizes):
            settings.append(Setting(objective=objective, learning_rate=rate, latent_dim=size, **axis))
    return settings


# disentanglement_lib's config/unsupervised_study_v1/sweep.py (Locatello et al. 2019): six models × six values,
# trained with Adam 1e-4, batch 64, 10 latent dimensions (its shared.gin) for 300,000 steps.
LOCATELLO2019 = {
    "beta-vae": ("beta", (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)),
    "factor-vae": ("gamma", (10.0, 20.0, 30.0, 40.0, 50.0, 100.0)),
    "dip-vae-i": ("lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)),  # λ_d = 10 λ_od
    "dip-vae-ii": ("lambda_od", (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)),  # λ_d = λ_od
    "beta-tcvae": ("beta", (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)),
    "capacity": ("capacity", (5.0, 10.0, 25.0, 50.0, 75.0, 100.0)),  # AnnealedVAE: γ 1000, C over 100,000 steps
}
LOCATELLO2019_STEPS = 300_000
PRESETS = ("locatello2019",)


def preset_settings(name: str, learning_rate: float = 1e-4, latent_dim: int = 10,
                    capacity_steps: int = 100_000, objectives: Sequence[str] | str | None = None) -> list[Setting]:
    """The settings of a named sweep: ``locatello2019`` is disentanglement_lib's unsupervised study, 36 settings.

    ``capacity_steps`` is AnnealedVAE's ``iteration_threshold`` (100,000 of its 300,000 steps); a shorter budget
    may scale it (``tfbetavae study --preset locatello2019 --capacity-steps N``). ``objectives`` keeps only those
    models' settings, in the preset's order (``["dip-vae-i", "beta-vae"]``: 12), so the sweep's model families can
    run on different machines; a name the preset does not hold is an error listing those it does.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {list(PRESETS)}")
    models = LOCATELLO2019
    if objectives is not None:
        wanted = [objectives] if isinstance(objectives, str) else list(objectives)
        if not wanted:
            raise ValueError(f"objectives is empty: choose models of the {name} preset from {list(LOCATELLO2019)}")
        unknown = [objective for objective in wanted if objective not in LOCATELLO2019]
        if unknown:
            raise ValueError(f"the {name} preset has no model {', '.join(map(repr, unknown))}; its models are "
                             f"{list(LOCATELLO2019)} (capacity is its AnnealedVAE)")
        models = {objective: values for objective, values in LOCATELLO2019.items() if objective in wanted}
    settings = []
    for objective, (field_name, values) in models.items():
        for value in values:
            fields: dict[str, Any] = {"beta": None, field_name: value}
            if objective == "capacity":
                fields.update(gamma=1000.0, capacity_steps=positive_int(capacity_steps, "capacity_steps"))
            settings.append(Setting(objective=objective, learning_rate=learning_rate, latent_dim=latent_dim, **fields))
    return settings


def _labels(settings: Sequence[Setting]) -> dict[str, str]:
    """Short labels naming only what varies between settings (``beta=4``, ``capacity=25 lr=1e-4``)."""
    names = {"learning_rate": "lr", "latent_dim": "z", "capacity_steps": "C steps", "lambda_od": "λ_od", "lambda_d": "λ_d"}
    varying = [
        name
        for name in ("objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim",
                     *_LATER_FIELDS)
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
    representation: str = "mean",
) -> StudyPlan:
    """Checks every part of a study before anything is written; errors name the problem."""
    from tfbetavae.metrics.evaluation import PROTOCOLS
    from tfbetavae.metrics.representation import check_representation

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
    for name in scores:
        reason = too_few_points(SCORES[name][0], sizes[name])
        if reason:
            logger.warning("%s: its scores will be flagged in the report", reason.replace(SCORES[name][0], name, 1))
    held_out = held_out_images or (FAST_HELD_OUT_IMAGES if fast else HELD_OUT_IMAGES)
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    representation = check_representation(representation)
    if representation != "mean" and all(SCORES[name][0] == "udr" for name in scores):
        raise ValueError(f"representation={representation!r} changes the scores of each model, and this study's only "
                         f"score is UDR, which compares posterior means across seeds by its definition; add a score "
                         f"such as 'mig' or keep representation='mean'")
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
        representation=representation,
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
            shown = {**_SAVED_ONLY_WHEN_CHOSEN, **saved}, {**_SAVED_ONLY_WHEN_CHOSEN, **current}  # a default by name
            details = "; ".join(f"{k}: {_brief(shown[0].get(k))} -> {_brief(shown[1].get(k))}" for k in different)
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


