"""Reading a study's rows: which columns are scores, their labels and directions, and the study as a table of
setting × seed × step."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tfbetavae.metrics.catalogue import score_info

IDENTITY_KEYS = ("cell", "setting", "seed", "step")
SETTING_KEYS = (
    "data", "objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim", "precision",
    "tc_weight", "batch_size", "dataset_size", "steps", "total_steps", "eval_steps", "lambda_od", "lambda_d",
)
COST_KEYS = ("wall_seconds", "train_seconds", "metric_seconds", "fast")
# How the scores were measured (rows written since scores record it): not scores themselves.
RECORD_KEYS = ("protocol", "metric_sizes", "held_out_images", "eval_seed", "representation")
_NOT_SCORES = frozenset(IDENTITY_KEYS + SETTING_KEYS + COST_KEYS + RECORD_KEYS)

# name -> (readable label, higher is better: True / False / None when neither): the metric catalogue's.
SCORE_INFO: dict[str, tuple[str, bool | None]] = score_info()
# The scores compared and drawn by default, in this order (those present in the rows).
MAIN_SCORES = (
    "beta_vae_eval_accuracy", "beta_vae_paper_eval_accuracy", "factor_vae_eval_accuracy", "mig",
    "dci_disentanglement", "sap", "udr", "reconstruction", "kl", "active_dims",
)
_DISENTANGLEMENT_PREFERENCE = ("mig", "beta_vae_eval_accuracy", "factor_vae_eval_accuracy", "dci_disentanglement", "sap",
                               "udr")
_OBJECTIVE_ORDER = ("beta-vae", "capacity", "beta-tcvae", "factor-vae")
_FAST_BANNER = "FAST PRESET: scored with the --fast preset's small metric sizes — a quick look, not for conclusions"
_TEST_NAME = "two-sided Mann–Whitney U"


# --------------------------------------------------------------------------------------------- reading rows


def _number(value) -> float | None:
    """A finite float, or None for missing / non-numeric / NaN values."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _check_rows(rows: Sequence[Mapping]) -> list[dict]:
    """Validated copies of the rows; a repeated (setting, seed, step) keeps its last row (a re-evaluation)."""
    if rows is None or len(rows) == 0:
        raise ValueError("no results yet: the study has not evaluated any run (no result rows)")
    latest: dict[tuple, dict] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"result row {index} is a {type(row).__name__}, not a dict")
        for key in ("setting", "seed", "step"):
            if row.get(key) is None:
                raise ValueError(f"result row {index} has no {key!r}")
        try:
            seed, step = int(row["seed"]), int(row["step"])
        except (TypeError, ValueError):
            raise ValueError(f"result row {index}: seed and step must be integers, got {row['seed']!r}, {row['step']!r}") from None
        clean = dict(row)
        clean.update(setting=str(row["setting"]), seed=seed, step=step)
        clean.setdefault("cell", f"{clean['setting']} seed={seed}")
        latest[(clean["setting"], seed, step)] = clean
    return list(latest.values())


def load_results(path: str | os.PathLike) -> list[dict]:
    """The result rows a study wrote to ``results.json`` (``path`` is the file or its study folder).

    They are all a report needs: ``tfbetavae.studies.report`` redraws from them when the run folders are absent
    (a study committed or shared without its runs)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a results file (invalid JSON: {error})") from None
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise ValueError(f"{path}: not a results file (expected a list of result rows, one dict each)")
    return rows


def available_scores(rows: Sequence[Mapping]) -> list[str]:
    """Score columns with at least one value: the known ones in ``SCORE_INFO`` order, then new ones by name."""
    found = {
        key for row in rows for key, value in row.items() if key not in _NOT_SCORES and _number(value) is not None
    }
    known = [name for name in SCORE_INFO if name in found]
    return known + sorted(found - set(known))


def _check_scores(rows: Sequence[Mapping], scores: str | Iterable[str] | None, default: Sequence[str] | None = None) -> list[str]:
    available = available_scores(rows)
    if not available:
        raise ValueError("the result rows hold no scores yet")
    if scores is None:
        if default is None:
            return available
        chosen = [name for name in default if name in available]
        return chosen or available
    names = [scores] if isinstance(scores, str) else list(scores)
    if not names:
        raise ValueError("no score names given")
    for name in names:
        if name not in available:
            reason = "was not computed in this study" if name in SCORE_INFO else "is not a score in these results"
            raise ValueError(f"unknown score {name!r} ({reason}); available: {', '.join(available)}")
    return names


def score_label(name: str) -> str:
    """The readable label of a score (the column name for scores ``SCORE_INFO`` does not know)."""
    return SCORE_INFO.get(name, (name, None))[0]


def _direction(name: str) -> bool | None:
    return SCORE_INFO.get(name, (name, None))[1]


def _label(setting: str) -> str:
    """``beta=4`` -> ``β=4``, ``gamma=1000`` -> ``γ=1000``: how settings are shown."""
    return re.sub(r"\bgamma=", "γ=", re.sub(r"\bbeta=", "β=", setting))


def _settings_key(row: Mapping) -> tuple:
    """Order settings (within a data set) by objective, then β and capacity numerically, then the other settings,
    then the label."""
    objective = row.get("objective")
    rank = _OBJECTIVE_ORDER.index(objective) if objective in _OBJECTIVE_ORDER else len(_OBJECTIVE_ORDER)

    def numeric(key):
        value = _number(row.get(key))
        return (1, 0.0) if value is None else (0, value)

    return (
        rank, str(objective or ""), numeric("beta"), numeric("capacity"), numeric("gamma"), numeric("capacity_steps"),
        numeric("learning_rate"), numeric("latent_dim"), str(row.get("precision") or ""), row["setting"],
    )


class _Study:
    """The rows grouped as setting -> seed -> step -> row, with the study's seeds and steps."""

    def __init__(self, rows: Sequence[Mapping]):
        self.rows = _check_rows(rows)
        first: dict[str, dict] = {}
        self.table: dict[str, dict[int, dict[int, dict]]] = {}
        for row in self.rows:
            first.setdefault(row["setting"], row)
            self.table.setdefault(row["setting"], {}).setdefault(row["seed"], {})[row["step"]] = row
        # Data sets keep the order the rows bring them in (a study's own order, its first data set the baseline).
        data_order = {data: i for i, data in enumerate(dict.fromkeys(str(row.get("data") or "") for row in self.rows))}
        self.settings = sorted(first, key=lambda name: (data_order[str(first[name].get("data") or "")],
                                                        *_settings_key(first[name])))
        self.info = {name: {key: first[name].get(key) for key in SETTING_KEYS if key in first[name]} for name in first}
        self.seeds = sorted({row["seed"] for row in self.rows})
        self.steps = sorted({row["step"] for row in self.rows})
        self.fast = any(bool(row.get("fast")) for row in self.rows)

    def complete_step(self, setting: str) -> int | None:
        """The largest step every present seed of ``setting`` reached (None if their steps never coincide)."""
        common = set.intersection(*(set(steps) for steps in self.table[setting].values()))
        return max(common) if common else None

    def common_step(self, settings: Sequence[str] | None = None) -> int | None:
        """The largest step every present seed of every one of ``settings`` reached."""
        runs = [set(steps) for name in (settings or self.settings) for steps in self.table[name].values()]
        common = set.intersection(*runs) if runs else set()
        return max(common) if common else None

    def fallback_step(self, setting: str) -> int:
        """When the seeds' steps never coincide: the step most seeds reached (the later one on a tie)."""
        counts: dict[int, int] = {}
        for steps in self.table[setting].values():
            for step in steps:
                counts[step] = counts.get(step, 0) + 1
        return max(counts, key=lambda step: (counts[step], step))

    def steps_for(self, step: int | None, common: bool) -> dict[str, int]:
        """The step used for each setting: ``step`` if given; else the study's last common step (``common``)
        when there is one; else each setting's own last step that all its seeds reached."""
        if step is not None:
            if isinstance(step, bool) or int(step) != step:
                raise ValueError(f"step must be an integer, got {step!r}")
            if int(step) not in self.steps:
                raise ValueError(f"no results at step {step}; evaluated steps: {', '.join(map(str, self.steps))}")
            return dict.fromkeys(self.settings, int(step))
        shared = self.common_step() if common else None
        if shared is not None:
            return dict.fromkeys(self.settings, shared)
        return {name: self.complete_step(name) or self.fallback_step(name) for name in self.settings}

    def at(self, setting: str, step: int) -> dict[int, dict]:
        """seed -> row of ``setting`` at ``step``."""
        return {seed: steps[step] for seed, steps in self.table[setting].items() if step in steps}

    def values(self, setting: str, step: int, score: str) -> list[float]:
        found = (_number(row.get(score)) for row in self.at(setting, step).values())
        return [value for value in found if value is not None]

    def notes(self, setting: str, step: int, explicit: bool) -> list[str]:
        """What is missing for ``setting``: seeds with no results, seeds short of ``step`` or of later steps."""
        total = len(self.seeds)
        present = self.table[setting]
        notes = []
        absent = [seed for seed in self.seeds if seed not in present]
        if absent:
            notes.append(f"{_seed_list(absent)} {'has' if len(absent) == 1 else 'have'} no results yet")
        reached = self.at(setting, step)
        if len(reached) < total:
            short = [seed for seed in present if seed not in reached]
            detail = f" (missing: {_seed_list(short)})" if short else ""
            notes.append(f"{len(reached)} of {total} seeds reached step {step}{detail}")
        if not explicit:
            for later in (s for s in self.steps if s > step):
                count = sum(1 for steps in present.values() if later in steps)
                if count < total:
                    notes.append(f"{count} of {total} seeds reached step {later}")
        return notes


def _seed_list(seeds: Sequence[int]) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(str(seed) for seed in seeds)
