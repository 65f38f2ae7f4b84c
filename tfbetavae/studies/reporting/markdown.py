"""``summary.md``: what was studied, how it was measured, the tables, the tests, the UDR pick, the pictures."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tfbetavae.metrics.catalogue import METRIC_INFO, STUDY_SCORES, too_few_points
from tfbetavae.runs import atomic_write_text
from tfbetavae.studies.reporting.pictures import (
    plot_curves,
    plot_scores_vs_setting,
    plot_tradeoff,
)
from tfbetavae.studies.reporting.rows import (
    _DISENTANGLEMENT_PREFERENCE,
    _FAST_BANNER,
    _TEST_NAME,
    MAIN_SCORES,
    RECORD_KEYS,
    SETTING_KEYS,
    _check_scores,
    _direction,
    _label,
    _number,
    _Study,
    available_scores,
    score_label,
)
from tfbetavae.studies.reporting.stats import (
    _data_axis,
    compare,
)
from tfbetavae.studies.reporting.tables import (
    _summarize,
    _table,
)

# ---------------------------------------------------------------------------------------------------- report


def _describe(study: _Study) -> list[str]:
    """What was studied: the settings that vary, those held fixed, seeds and steps."""
    varying, fixed = [], []
    for key in SETTING_KEYS:
        values = [study.info[name].get(key) for name in study.settings if key in study.info[name]]
        if not values:
            continue
        distinct = list(dict.fromkeys(values))
        if len(distinct) > 1:
            varying.append(f"{key} ∈ {{{', '.join('–' if v is None else f'{v:g}' if isinstance(v, float) else str(v) for v in distinct)}}}")
        elif distinct[0] is not None:
            value = distinct[0]
            fixed.append(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}")
    runs = sum(len(seeds) for seeds in study.table.values())
    lines = [
        f"{len(study.settings)} settings ({', '.join(_label(name) for name in study.settings)}) × "
        f"{len(study.seeds)} seeds ({', '.join(map(str, study.seeds))}): {runs} runs with results, "
        f"{len(study.rows)} result rows, evaluated at steps {', '.join(map(str, study.steps))}.",
    ]
    if varying:
        lines.append(f"Varied: {'; '.join(varying)}.")
    if fixed:
        lines.append(f"Fixed: {', '.join(fixed)}.")
    measured = _measured(study)
    if measured:
        lines.append(measured)
    return lines


def _measured(study: _Study) -> str | None:
    """How the scores were measured, from what the rows record (None for rows written before they recorded it)."""
    records = {json.dumps({k: row.get(k) for k in RECORD_KEYS}, sort_keys=True) for row in study.rows
               if row.get("protocol") is not None}
    if not records:
        return None
    if len(records) > 1:
        return "Scored under more than one protocol or set of metric sizes: see each row's protocol and metric_sizes."
    record = json.loads(records.pop())
    sizes = "; ".join(f"{name} " + ", ".join(f"{key} {value:,}" for key, value in given.items())
                      for name, given in (record.get("metric_sizes") or {}).items())
    held_out = record.get("held_out_images")
    text = f"Scored under the {record['protocol']} metric protocol (see docs/metrics.md)"
    text += " on sampled codes (one posterior draw per image)" if record.get("representation") == "sampled" else ""
    text += f" with metric sizes: {sizes}" if sizes else ""
    text += f"; reconstruction and KL on {held_out:,} held-out images" if held_out else ""
    return text + "."


def udr_pick(rows: Sequence[Mapping], step: int | None = None) -> str | None:
    """The sentence naming the setting UDR picks at ``step`` (default: the last step with UDR for every setting
    that has it): the highest median UDR over seeds, with its seeds' range and the range over its seed pairs."""
    scored = [row for row in rows if _number(row.get("udr")) is not None]
    if not scored:
        return None
    if step is None or not any(row["step"] == step for row in scored):
        step = max(row["step"] for row in scored)
    by_setting: dict[str, list[Mapping]] = {}
    for row in scored:
        if row["step"] == step:
            by_setting.setdefault(str(row["setting"]), []).append(row)
    ranked = sorted(by_setting, key=lambda name: -float(np.median([r["udr"] for r in by_setting[name]])))

    best = sorted(by_setting[ranked[0]], key=lambda r: float(r["udr"]))[(len(by_setting[ranked[0]]) - 1) // 2]

    def describe(name: str) -> str:
        values = [float(r["udr"]) for r in by_setting[name]]
        pairs = [p for r in by_setting[name] for p in (r.get("udr_pairs") or [])]
        text = f"{_label(name)} {np.median(values):.3f} ({len(values)} seeds {min(values):.3f}–{max(values):.3f}"
        return text + (f"; seed pairs {min(pairs):.3f}–{max(pairs):.3f})" if pairs else ")")

    others = "; ".join(describe(name) for name in ranked[1:])
    return (f"**UDR picks {_label(ranked[0])}** at step {step} (median UDR over seeds; each seed's UDR is its median "
            f"similarity to the other seeds of its setting, no labels used): {describe(ranked[0])}"
            + (f"; then {others}" if others else "") + f". Its median seed is run `{best['cell']}` "
            f"(`tfbetavae export --run DIR/runs/{best['cell']}`). See docs/choosing-beta-without-labels.md for when "
            "not to trust it.")


def _too_few_points(study: _Study) -> list[str]:
    """The recorded scores whose sizes are too small to mean anything (``catalogue.too_few_points``)."""
    reasons: dict[str, None] = {}
    for row in study.rows:
        for name, sizes in (row.get("metric_sizes") or {}).items():
            metric = STUDY_SCORES.get(name, (name, {}))[0]
            reason = too_few_points(metric, sizes) if metric in METRIC_INFO else None
            if reason:
                reasons[reason.replace(metric, name, 1)] = None
    return list(reasons)


def _cost(study: _Study) -> str | None:
    """The metrics' share of the wall time, from each run's last evaluated row (the times are cumulative)."""
    wall = metric = 0.0
    for seeds in study.table.values():
        for steps in seeds.values():
            last = steps[max(steps)]
            w, m = _number(last.get("wall_seconds")), _number(last.get("metric_seconds"))
            if w is None or m is None:
                return None
            wall, metric = wall + w, metric + m
    if wall <= 0:
        return None
    return (f"{wall / 3600:.2f} h of run wall time in all (summed over runs, up to each run's last evaluated "
            f"step); scoring took {metric / 3600:.2f} h of it ({100 * metric / wall:.0f} %).")


def write_report(rows: Sequence[Mapping], out_dir: str | os.PathLike, scores: str | Iterable[str] | None = None,
                 level: float = 0.05) -> dict[str, Path]:
    """Writes ``summary.md`` and the pictures into ``out_dir`` (each file atomically); returns name -> path.

    The Markdown says what was studied, carries the ``--fast`` banner when any run used it, shows the table at
    the last step every run reached, the comparisons of the main scores with the first setting, a table per
    evaluated step when there are several, and links the pictures. ``scores`` restricts tables, comparisons
    and pictures to those scores.
    """
    study = _Study(rows)
    out_dir = Path(out_dir)
    chosen = _check_scores(study.rows, scores) if scores is not None else None
    table_scores = chosen or available_scores(study.rows)
    main = chosen or _check_scores(study.rows, None, MAIN_SCORES)
    shared = study.common_step()
    steps = study.steps_for(None, common=True)

    lines = ["# Study report", "", *_describe(study), ""]
    if study.fast:
        fast_runs = sum(1 for seeds in study.table.values() for steps_ in seeds.values()
                        if any(row.get("fast") for row in steps_.values()))
        total_runs = sum(len(seeds) for seeds in study.table.values())
        lines += [f"> **{_FAST_BANNER}** ({fast_runs} of {total_runs} runs).", ""]
    too_few = _too_few_points(study)
    if too_few:
        lines += [f"> **Too few points to mean anything:** {'; '.join(too_few)}.", ""]
    if shared is not None:
        lines += [f"## Summary at step {shared}, the last step every run reached", ""]
    else:
        lines += ["## Summary: no step was reached by every run, so each setting at its own last complete step", ""]
    summary = _summarize(study, steps, later_notes=True)
    lines += [_table(summary, table_scores, markdown=True, layout="auto", banner=False).rstrip(), ""]
    pick = udr_pick(study.rows, shared)
    if pick:
        lines += [pick, ""]

    tested = chosen or [name for name in main if _direction(name) is not None] or main
    if _data_axis(study):
        lines += [f"## Comparisons within each data set and between data sets at the same setting ({_TEST_NAME} "
                  f"over seeds, level {level:g})", ""]
    else:
        lines += [f"## Comparisons with {_label(study.settings[0])} ({_TEST_NAME} over seeds, level {level:g})", ""]
    if len(study.settings) < 2:
        lines += ["One setting only: nothing to compare.", ""]
    else:
        count = 0
        for name in tested:
            statements = compare(study.rows, name, step=shared, level=level)
            count += len(statements)
            lines += [f"- {statement}" for statement in statements]
        lines += [
            "",
            f"{count} tests at level {level:g}: even if no setting made any difference, up to about "
            f"{count * level:.1f} of them could pass by chance. Non-overlapping ranges describe these seeds; "
            "they are not a test.",
            "",
        ]
    if len(study.steps) > 1:
        lines += ["## Per evaluated step", ""]
        for step in study.steps:
            per_step = _summarize(study, dict.fromkeys(study.settings, step), later_notes=False)
            lines += [f"### Step {step}", "", _table(per_step, main, markdown=True, layout="auto", banner=False).rstrip(), ""]

    paths: dict[str, Path] = {}
    pictures = []
    paths["scores_vs_setting"] = plot_scores_vs_setting(study.rows, main, out_dir / "scores_vs_setting.png", step=shared)
    pictures.append(("Scores against the setting: every seed a point, the median a bar", "scores_vs_setting.png"))
    tradeoff_score = next((name for name in _DISENTANGLEMENT_PREFERENCE if name in main), None)
    if tradeoff_score is not None and "reconstruction" in available_scores(study.rows):
        paths["tradeoff"] = plot_tradeoff(study.rows, out_dir / "tradeoff.png", score=tradeoff_score, step=shared)
        pictures.append((f"Reconstruction against {score_label(tradeoff_score)}: one point per seed", "tradeoff.png"))
    if len(study.steps) > 1:
        paths["curves"] = plot_curves(study.rows, main, out_dir / "curves.png")
        pictures.append(("Scores during training: one line per run, the median per setting bold", "curves.png"))
    lines += ["## Pictures", ""]
    for text, name in pictures:
        lines += [f"[{text}]({name})", "", f"![{text}]({name})", ""]
    cost = _cost(study)
    if cost:
        lines += ["## Cost", "", cost]
    markdown = "\n".join(lines).rstrip() + "\n"
    paths["summary"] = atomic_write_text(markdown, out_dir / "summary.md")
    return paths
