"""A finished (or running) search read back: one row per trial, a plain-text table, the β trade-off plot, and
the best trial exported as a SavedModel."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras_tuner as kt
import numpy as np

from tfbetavae.tuning.search import is_worker, trial_number

__all__ = [
    "export_best", "exported_version", "format_number", "format_table", "plot_tradeoff", "results_table", "scoring",
]


def _metric_value(trial, name: str):
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return None if value is None else float(value)


def scoring(tuner: kt.Tuner) -> dict | None:
    """How the search's trials were scored (protocol, metric sizes, seed, and ``"representation": "sampled"`` when
    the codes were posterior draws; ``tfbetavae.metrics.scoring_record``), or
    None for a score function or a hypermodel that is not the library's (it alone knows). A UDR search's record
    says UDR's settings, the seeds each trial trains and which model stands for the trial."""
    from tfbetavae.metrics.evaluation import scoring_record

    hypermodel = getattr(tuner, "hypermodel", None)
    if getattr(hypermodel, "uses_udr", False):
        options = {k: v for k, v in hypermodel.udr_options.items() if k != "num_points"}
        return {
            "metric_sizes": {"udr": {"num_points": int(hypermodel.udr_options["num_points"])}},
            "seed": hypermodel.eval_seed,
            "udr": {**options, "seeds": list(hypermodel.seeds), "model": "the median-UDR seed (model_seed)",
                    "medians": "reconstruction, kl, loss and active_dims are medians over the seeds"},
        }
    metric = getattr(hypermodel, "metric", None)
    if metric is None:
        return None
    kwargs = {k: v for k, v in hypermodel.metric_kwargs.items() if k != "progress"}
    representation = getattr(hypermodel, "representation", "mean")
    return scoring_record([metric], seed=hypermodel.eval_seed, representation=representation, **kwargs)


def results_table(tuner: kt.Tuner) -> list[dict]:
    """One row per trial, in trial order: hyperparameters, scores, status (from the oracle's trials).

    Keys: ``trial`` (the number shown, from 1), ``trial_id`` (KerasTuner's, from 0), ``status``, ``beta``, ``latent_dim``, ``learning_rate``, ``capacity`` (None unless
    searched), ``score``, ``objective`` (the tuner's objective value), ``reconstruction``, ``kl``,
    ``active_dims``, ``steps`` (steps trained), ``parent`` (Hyperband: the number of the trial it continued, else
    None), ``protocol`` and ``metric_sizes`` (how ``score`` was made, see ``scoring``; None for a score function), and
    ``representation`` when the scores were made on posterior draws (``"sampled"``; absent: the means).
    A UDR search's rows also hold ``udr_pair_min``, ``udr_pair_max`` (the lowest and highest seed-pair score) and
    ``model_seed`` (the seed of the trial's median-UDR model); its ``score`` is the UDR and its reconstruction, KL and
    active dimensions are medians over the seeds.
    """
    if is_worker():
        raise ValueError("this process is a KerasTuner worker; the results live with the chief")
    oracle = tuner.oracle
    record = scoring(tuner) or {}
    seeds = getattr(getattr(tuner, "hypermodel", None), "seeds_per_trial", 1)
    rows = []
    for trial_id in sorted(oracle.trials, key=lambda t: (len(t), t)):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        steps = _metric_value(trial, "steps_trained")
        score = trial.score
        parent = values.get("tuner/trial_id")
        rows.append(
            {
                "trial": trial_number(trial_id),
                "trial_id": trial_id,
                "status": str(trial.status),
                "beta": None if values.get("beta") is None else float(values["beta"]),
                "latent_dim": values.get("latent_dim"),
                "learning_rate": values.get("learning_rate"),
                "capacity": values.get("capacity"),
                "score": _metric_value(trial, "score"),
                "objective": None if score is None else float(score),
                "reconstruction": _metric_value(trial, "reconstruction"),
                "kl": _metric_value(trial, "kl"),
                "active_dims": _metric_value(trial, "active_dims"),
                "steps": None if steps is None else int(steps),
                "parent": None if parent is None else trial_number(parent),
                "protocol": record.get("protocol"),
                "metric_sizes": record.get("metric_sizes"),
            }
        )
        if "representation" in record:
            rows[-1]["representation"] = record["representation"]
        if seeds > 1:
            seed = _metric_value(trial, "model_seed")
            rows[-1].update(
                udr_pair_min=_metric_value(trial, "udr_pair_min"),
                udr_pair_max=_metric_value(trial, "udr_pair_max"),
                model_seed=None if seed is None else int(seed),
            )
    return rows


def format_number(value: object, digits: int = 3) -> str:
    """A table cell: ``-`` for None, whole floats without decimals, tiny or huge ones in ``g`` notation."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):  # a diverged trial's loss
            return f"{value:g}"
        if value == int(value) and abs(value) < 1e6:
            return f"{value:g}"
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def format_table(rows: Sequence[Mapping], objective_name: str = "objective", best_id: str | None = None) -> str:
    """A plain-text table of ``results_table`` rows (β, score, reconstruction, KL, active dims, ...; a UDR search's
    seed-pair range and median-UDR seed too)."""
    use_capacity = any(row.get("capacity") is not None for row in rows)
    x_key = "capacity" if use_capacity else "beta"
    columns = [
        ("trial", "trial"),
        (x_key, x_key),
        ("score", "score"),
        ("reconstruction", "reconstruction"),
        ("KL", "kl"),
        ("active dims", "active_dims"),
        ("steps", "steps"),
        ("status", "status"),
    ]
    shown = {key for _, key in columns}
    if objective_name not in shown and any(row.get("objective") != row.get("score") for row in rows):
        columns.insert(3, (objective_name, "objective"))
    if any(row.get("latent_dim") not in (None, rows[0].get("latent_dim")) for row in rows):
        columns.insert(2, ("latent", "latent_dim"))
    if any(row.get("model_seed") is not None for row in rows):  # a UDR search
        at = [key for _, key in columns].index("score") + 1
        columns[at:at] = [("pair min", "udr_pair_min"), ("pair max", "udr_pair_max")]
        columns.append(("model seed", "model_seed"))
    if any(row.get("parent") is not None for row in rows):
        columns.append(("continues", "parent"))
    body = [[format_number(row.get(key)) for _, key in columns] for row in rows]
    for line, row in zip(body, rows):
        if best_id is not None and row["trial_id"] == best_id:
            line[0] += " *"
    headers = [title for title, _ in columns]
    widths = [max(len(headers[i]), *(len(line[i]) for line in body)) if body else len(headers[i]) for i in range(len(headers))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in body)
    return "\n".join(lines)


def plot_tradeoff(rows: Sequence[Mapping], path: str | os.PathLike, score_label: str = "disentanglement score") -> Path:
    """The β trade-off plot: β (log axis) against the score (left axis) and reconstruction (right axis).

    Each completed trial is a point; the lines join the mean of each β. With a capacity search the x axis is
    the capacity C_max instead.
    """
    import matplotlib.ticker

    from tfbetavae.figures import figure as new_figure
    from tfbetavae.figures import save_figure

    done = [row for row in rows if row.get("score") is not None and row.get("reconstruction") is not None]
    if not done:
        raise ValueError("no completed trial to plot")
    x_key = "beta" if any(row.get("beta") is not None for row in done) else "capacity"
    done = [row for row in done if row.get(x_key) is not None]
    xs = sorted({float(row[x_key]) for row in done})

    def means(key):
        return [float(np.mean([row[key] for row in done if float(row[x_key]) == x])) for x in xs]

    figure = new_figure(6, 4)
    left = figure.add_subplot()
    right = left.twinx()
    left.plot([row[x_key] for row in done], [row["score"] for row in done], "o", color="tab:blue", alpha=0.5)
    left.plot(xs, means("score"), "-", color="tab:blue", label=score_label)
    right.plot([row[x_key] for row in done], [row["reconstruction"] for row in done], "s", color="tab:red", alpha=0.5)
    right.plot(xs, means("reconstruction"), "--", color="tab:red", label="reconstruction (nats/image)")
    left.set_xscale("log")
    left.set_xticks(xs, [f"{x:g}" for x in xs])
    left.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    left.set_xlabel("β" if x_key == "beta" else "capacity C_max (nats)")
    left.set_ylabel(score_label, color="tab:blue")
    right.set_ylabel("reconstruction (nats/image)", color="tab:red")
    left.tick_params(axis="y", colors="tab:blue")
    right.tick_params(axis="y", colors="tab:red")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize="small")
    left.set_title("Disentanglement vs reconstruction")
    figure.tight_layout()
    return save_figure(figure, path, dpi=120)


def _best_trial(tuner: kt.Tuner):
    best = tuner.oracle.get_best_trials(1)
    if not best:
        raise ValueError("the search has no completed trial to export")
    return best[0]


def _same_trial(card: Mapping, tuner: kt.Tuner, trial, base_dir: str | os.PathLike) -> bool:
    training = card.get("training") or {}
    try:  # the card holds the search folder relative to the export's base folder (no machine path)
        same_search = (Path(base_dir) / training["tuning_dir"]).resolve() == Path(tuner.project_dir).resolve()
    except (KeyError, TypeError):
        return False
    return (
        same_search
        and training.get("trial_id") == trial.trial_id
        and training.get("hyperparameters") == dict(trial.hyperparameters.values)
        and training.get("objective_value") == (None if trial.score is None else float(trial.score))
    )


def exported_version(tuner: kt.Tuner, base_dir: str | os.PathLike) -> Path | None:
    """The latest version under ``base_dir`` when it already holds this search's best trial (else None)."""
    import json

    from tfbetavae.loading import MODEL_CARD_FILE, latest_version

    version = latest_version(base_dir) if Path(base_dir).is_dir() else None
    if version is None:
        return None
    folder = Path(base_dir) / str(version)
    try:
        card = json.loads((folder / MODEL_CARD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if isinstance(card, dict) and _same_trial(card, tuner, _best_trial(tuner), base_dir) else None


def export_best(
    tuner: kt.Tuner,
    base_dir: str | os.PathLike,
    training_info: Mapping | None = None,
    only_if_changed: bool = True,
    **kwargs,
) -> Path:
    """Exports the best trial's model with ``tfbetavae.export.export_saved_model``; returns the version folder.

    With ``only_if_changed`` (the default) a best trial that is already the latest version under ``base_dir``
    (same search folder, trial, hyperparameters and objective value) is not written again: its folder is returned,
    so re-running a finished search adds no version of an unchanged model. The model card gets the trial's results
    as ``scores`` and the trial id, number, hyperparameters, objective value and search folder under ``training``.
    ``kwargs`` go to ``export_saved_model`` (``version``, ``overwrite``).
    """
    from tfbetavae.export import export_saved_model

    trial = _best_trial(tuner)
    if only_if_changed and not kwargs.get("overwrite"):
        existing = exported_version(tuner, base_dir)
        if existing is not None:
            return existing
    model = tuner.load_model(trial)
    scores = {name: _metric_value(trial, name) for name in trial.metrics.metrics}
    steps = scores.get("steps_trained")
    info = {
        "steps": None if steps is None else int(steps),
        "tuning_dir": os.path.relpath(tuner.project_dir, base_dir),  # relative: a card holds no machine path
        "trial_id": trial.trial_id,
        "trial": trial_number(trial.trial_id),
        "objective": tuner.oracle.objective.name,
        "objective_value": None if trial.score is None else float(trial.score),
        "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items()},
        **dict(training_info or {}),
    }
    return export_saved_model(model, base_dir=base_dir, scores=scores, training_info=info, scoring=scoring(tuner),
                              **kwargs)
