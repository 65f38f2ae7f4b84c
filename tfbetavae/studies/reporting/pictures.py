"""The report's pictures: each score against the setting, the trade-off, the curves; every seed a point."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tfbetavae.figures import figure as new_figure
from tfbetavae.figures import save_figure
from tfbetavae.studies.reporting.rows import (
    _DISENTANGLEMENT_PREFERENCE,
    _FAST_BANNER,
    MAIN_SCORES,
    _check_scores,
    _direction,
    _label,
    _number,
    _Study,
    available_scores,
    score_label,
)
from tfbetavae.studies.reporting.tables import (
    _row_title,
)

# -------------------------------------------------------------------------------------------------- pictures


def _save_figure(figure, path: str | os.PathLike) -> Path:
    return save_figure(figure, path, dpi=110)


def _figure(width: float, height: float):
    return new_figure(width, height)


def _title(figure, text: str, fast: bool) -> None:
    if fast:
        figure.suptitle(f"{text}\n{_FAST_BANNER}", fontsize=9, color="#b00020")
    else:
        figure.suptitle(text, fontsize=10)


def _colours(count: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def _step_text(steps: Mapping[str, int]) -> str:
    used = set(steps.values())
    return f"step {used.pop()}" if len(used) == 1 else "each setting's last step all its seeds reached"


def _beta_axis(study: _Study) -> bool:
    """True when the settings differ in β only (and all β > 0): then x is β on a log axis."""
    betas = [_number(study.info[name].get("beta")) for name in study.settings]
    if any(beta is None or beta <= 0 for beta in betas) or len(set(betas)) != len(betas):
        return False
    others = [{k: v for k, v in study.info[name].items() if k != "beta"} for name in study.settings]
    return all(other == others[0] for other in others)


def _panel_grid(count: int) -> tuple[int, int]:
    columns = min(3, count)
    return math.ceil(count / columns), columns


def plot_scores_vs_setting(rows: Sequence[Mapping], scores: str | Iterable[str] | None, path: str | os.PathLike,
                           step: int | None = None) -> Path:
    """A panel per score: every seed a (slightly jittered) point, the median a black bar (disentanglement_lib
    style). x is β on a log axis when the settings differ only in β, else the setting labels.

    ``scores`` None draws ``MAIN_SCORES`` present in the rows. ``step`` None: the last step every run reached.
    """
    study = _Study(rows)
    names = _check_scores(study.rows, scores, MAIN_SCORES)
    steps = study.steps_for(step, common=True)
    log_beta = _beta_axis(study)
    positions = {name: float(study.info[name]["beta"]) if log_beta else float(i) for i, name in enumerate(study.settings)}
    colours = dict(zip(study.settings, _colours(len(study.settings))))
    rng = np.random.default_rng(0)
    n_rows, n_cols = _panel_grid(len(names))
    figure = _figure(4.0 * n_cols, 3.2 * n_rows + 0.6)
    for k, score in enumerate(names):
        axes = figure.add_subplot(n_rows, n_cols, k + 1)
        for setting in study.settings:
            values = study.values(setting, steps[setting], score)
            if not values:
                continue
            x = positions[setting]
            jitter = rng.uniform(-1, 1, len(values))
            xs = x * np.exp(0.08 * jitter) if log_beta else x + 0.12 * jitter
            axes.scatter(xs, values, s=22, alpha=0.75, color=colours[setting], edgecolors="none", zorder=2)
            half = (x * np.exp(-0.2), x * np.exp(0.2)) if log_beta else (x - 0.28, x + 0.28)
            axes.hlines(float(np.median(values)), *half, color="black", linewidth=2.2, zorder=3)
        if log_beta:
            axes.set_xscale("log")
            ticks = [positions[name] for name in study.settings]
            axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
            axes.minorticks_off()
            axes.set_xlabel("β")
        else:
            axes.set_xticks(range(len(study.settings)), [_label(name) for name in study.settings],
                            rotation=30 if len(study.settings) > 3 else 0, ha="right" if len(study.settings) > 3 else "center",
                            fontsize=8)
            axes.set_xlim(-0.6, len(study.settings) - 0.4)
        axes.set_title(_row_title(score), fontsize=9)
        axes.grid(axis="y", alpha=0.3)
    _title(figure, f"Scores over seeds ({_step_text(steps)}): each point a seed, bar = median", study.fast)
    figure.tight_layout()
    return _save_figure(figure, path)


def plot_tradeoff(rows: Sequence[Mapping], path: str | os.PathLike, score: str | None = None,
                  step: int | None = None) -> Path:
    """Reconstruction (x, nats, lower is better) against a disentanglement score (y): one point per seed, a
    colour per setting, the setting's median a larger outlined marker. ``score`` None: MIG, or the first
    disentanglement score present."""
    study = _Study(rows)
    _check_scores(study.rows, ["reconstruction"])
    if score is None:
        available = available_scores(study.rows)
        score = next((name for name in _DISENTANGLEMENT_PREFERENCE if name in available), None)
        if score is None:
            raise ValueError(f"no disentanglement score in these results; available: {', '.join(available)}")
    (score,) = _check_scores(study.rows, [score])
    steps = study.steps_for(step, common=True)
    colours = _colours(len(study.settings))
    figure = _figure(6.4, 4.6)
    axes = figure.add_subplot()
    for colour, setting in zip(colours, study.settings):
        points = [
            (_number(row.get("reconstruction")), _number(row.get(score)))
            for row in study.at(setting, steps[setting]).values()
        ]
        points = [(x, y) for x, y in points if x is not None and y is not None]
        if not points:
            continue
        xs, ys = zip(*points)
        axes.scatter(xs, ys, s=26, alpha=0.7, color=colour, edgecolors="none", label=f"{_label(setting)} (n={len(xs)})")
        axes.scatter([np.median(xs)], [np.median(ys)], s=110, marker="D", color=colour, edgecolors="black", zorder=3)
    axes.set_xlabel("reconstruction (nats/image, lower is better)")
    axes.set_ylabel(f"{score_label(score)} (higher is better)" if _direction(score) else score_label(score))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best", title="each point a seed; ◆ median", title_fontsize=8)
    _title(figure, f"Reconstruction vs {score_label(score)} ({_step_text(steps)})", study.fast)
    figure.tight_layout()
    return _save_figure(figure, path)


def plot_curves(rows: Sequence[Mapping], score: str | Iterable[str], path: str | os.PathLike) -> Path:
    """A score against training steps: a thin line per run (setting × seed), a colour per setting, the median
    over the seeds that reached each step in bold. Several scores give a panel each."""
    study = _Study(rows)
    names = _check_scores(study.rows, score)
    colours = dict(zip(study.settings, _colours(len(study.settings))))
    n_rows, n_cols = _panel_grid(len(names))
    figure = _figure(4.2 * n_cols + 1.4, 3.2 * n_rows + 0.6)
    for k, name in enumerate(names):
        axes = figure.add_subplot(n_rows, n_cols, k + 1)
        for setting in study.settings:
            colour = colours[setting]
            for seed in sorted(study.table[setting]):
                points = sorted((step, _number(row.get(name))) for step, row in study.table[setting][seed].items())
                points = [(s, v) for s, v in points if v is not None]
                if points:
                    axes.plot(*zip(*points), "-", marker=".", color=colour, alpha=0.35, linewidth=0.9)
            medians = [(s, float(np.median(v)), len(v)) for s in study.steps if (v := study.values(setting, s, name))]
            if medians:
                xs, ys, counts = zip(*medians)
                axes.plot(xs, ys, "-", marker="o", color=colour, linewidth=2.6, label=_label(setting))
                short = [i for i, count in enumerate(counts) if count < len(study.seeds)]  # median of fewer seeds
                axes.plot([xs[i] for i in short], [ys[i] for i in short], "o", color=colour, markerfacecolor="white",
                          markersize=7, zorder=3)
        axes.set_xlabel("training step")
        axes.set_title(_row_title(name), fontsize=9)
        axes.grid(alpha=0.3)
        if k == 0:
            figure.legend(*axes.get_legend_handles_labels(), loc="center right", fontsize=8, title="median per setting",
                          title_fontsize=8)
    _title(figure, "Scores during training: thin line = one run, bold = median over seeds (hollow: not all seeds "
           "reached that step)", study.fast)
    figure.tight_layout(rect=(0, 0, 1 - 1.3 / (4.2 * n_cols + 1.4), 1))
    return _save_figure(figure, path)
