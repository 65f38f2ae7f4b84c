"""A study's results: every row of every run folder, written as ``results.json`` and ``results.csv``, and the
study's data sets, opened once.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tfbetavae.runs import atomic_write_json, atomic_write_text
from tfbetavae.studies.cell import read_rows
from tfbetavae.studies.plan import StudyPlan, load_plan
from tfbetavae.studies.udr_scores import add_udr

# --------------------------------------------------------------------------- results
RESULT_COLUMNS = (
    "cell", "setting", "objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim",
    "precision", "seed", "step", "wall_seconds", "train_seconds", "metric_seconds", "fast",
)
# Columns of rows written since scores record their data set and how they were measured (metric_sizes as JSON).
RECORD_COLUMNS = ("data", "protocol", "metric_sizes", "held_out_images", "eval_seed", "representation")


def collect_results(study_dir: str | os.PathLike) -> list[dict]:
    """Every row of every run folder of a study (finished or partial), in grid order."""
    study_dir = Path(study_dir)
    plan = load_plan(study_dir)
    rows, groups = [], {}
    for data, setting, seed in plan.cells():
        cell = plan.cell_name(setting, seed, data if plan.data_axis else None)
        cell_rows = sorted(read_rows(study_dir / "runs" / cell), key=lambda r: r["step"])
        for row in cell_rows:  # rows scored before rows recorded their data set are of the plan's one data set
            if row.get("data") is None and not plan.data_axis:
                row["data"] = plan.data
        rows.extend(cell_rows)
        groups[cell] = plan.cell_label(setting, data if plan.data_axis else None)
    if "udr" in plan.scores:
        rows = add_udr(rows, study_dir, groups)
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
    return json_path, atomic_write_text(buffer.getvalue(), study_dir / "results.csv")


def resolve_study_data(spec: str, scores: Sequence[str] | None = None):
    """The data a plan names: a ground-truth data set, or (an image folder, a ``.npy`` array) an ``ImageSet``
    without factors, which only scores that need none can score (``scores``; None: the study's defaults)."""
    from pathlib import Path

    from tfbetavae.data.image_set import load_image_set
    from tfbetavae.data.sources import has_factors, resolve_data

    path = Path(spec)
    source = load_image_set(path) if path.is_dir() or path.suffix == ".npy" else resolve_data(spec)
    if has_factors(source):
        return source
    if not hasattr(source, "observation_shape"):
        raise ValueError(f"a study reads images without factors from an image folder or a .npy array; {spec!r} is "
                         f"{type(source).__name__}")
    needing = [name for name in (scores or ()) if catalogue_needs_factors(name)]
    if needing:
        raise ValueError(f"{spec!r} has no known factors, and the scores {needing} need them; without factors a study "
                         f"scores {list(scores_without_factors())} (plus reconstruction and KL)")
    return source


def catalogue_needs_factors(name: str) -> bool:
    """Whether a study score needs the data's factors (the catalogue says, per metric)."""
    from tfbetavae.metrics.catalogue import ACROSS_MODELS, METRIC_INFO, STUDY_SCORES

    metric = STUDY_SCORES[name][0]
    info = ACROSS_MODELS.get(metric) or METRIC_INFO.get(metric)
    return info is None or info.needs_factors


def scores_without_factors() -> tuple[str, ...]:
    from tfbetavae.metrics.catalogue import STUDY_SCORES

    return tuple(name for name in STUDY_SCORES if not catalogue_needs_factors(name))


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
            self.opened[name] = resolve_study_data(name, self.plan.scores)
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
