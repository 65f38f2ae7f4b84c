"""The per-setting summary (median, min–max over seeds) and its text and Markdown tables."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from tfbetavae.studies.reporting.rows import (
    _FAST_BANNER,
    _direction,
    _label,
    _Study,
    available_scores,
    score_label,
)

# ------------------------------------------------------------------------------------------------- summary


def summarize(rows: Sequence[Mapping], step: int | None = None) -> list[dict]:
    """Per setting, the distribution of every score over seeds at one step.

    ``step`` None uses, per setting, the largest step that every seed of that setting reached. Each dict holds
    ``setting``, ``label`` (β for beta), the settings, ``step`` (the step used), ``n`` (seeds with results at
    that step), ``seeds``, ``seeds_total`` (seeds in the whole study), ``fast``, ``notes`` (what is missing,
    e.g. "2 of 3 seeds reached step 10000") and ``scores``: name -> ``{"median", "min", "max", "n"}`` (None
    values when no seed has that score).
    """
    study = _Study(rows)
    return _summarize(study, study.steps_for(step, common=False), later_notes=step is None)


def _summarize(study: _Study, steps: Mapping[str, int], later_notes: bool) -> list[dict]:
    names = available_scores(study.rows)
    summary = []
    for setting in study.settings:
        used = steps[setting]
        reached = study.at(setting, used)
        scores = {}
        for name in names:
            values = study.values(setting, used, name)
            scores[name] = {
                "median": float(np.median(values)) if values else None,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "n": len(values),
            }
        summary.append(
            {
                "setting": setting,
                "label": _label(setting),
                **study.info[setting],
                "step": used,
                "n": len(reached),
                "seeds": sorted(reached),
                "seeds_total": len(study.seeds),
                "fast": any(bool(row.get("fast")) for row in reached.values()),
                "notes": study.notes(setting, used, explicit=not later_notes),
                "scores": scores,
            }
        )
    return summary


def _decimals(values: Iterable[float | None]) -> int:
    """One number of decimals per score, so a column reads consistently."""
    found = [abs(v) for v in values if v is not None]
    if not found:
        return 3
    if all(float(v).is_integer() for v in found):
        return 0
    largest = max(found)
    return 3 if largest < 10 else 2 if largest < 100 else 1 if largest < 10000 else 0


def _format_cell(entry: Mapping, decimals: int, n: int) -> str:
    if entry["median"] is None:
        return "–"
    text = f"{entry['median']:.{decimals}f} ({entry['min']:.{decimals}f}–{entry['max']:.{decimals}f})"
    return text if entry["n"] >= n else f"{text} n={entry['n']}"


def _row_title(name: str) -> str:
    arrow = {True: " ↑", False: " ↓"}.get(_direction(name), "")
    return score_label(name) + arrow


def format_summary(summary: Sequence[Mapping], scores: str | Iterable[str] | None = None, markdown: bool = False,
                   layout: str = "auto") -> str:
    """A table of ``summarize`` output: per setting, "median (min–max)" over seeds for each score.

    ``layout`` "scores" puts one score per line and one setting per column, "settings" the other way round;
    "auto" picks whichever gives fewer columns. Notes on missing seeds/steps follow the table, and a banner
    leads when any run was scored with the ``--fast`` preset.
    """
    if not summary:
        raise ValueError("no results yet: the summary is empty")
    available = [name for name in dict.fromkeys(n for entry in summary for n in entry["scores"])
                 if any(entry["scores"][name]["median"] is not None for entry in summary if name in entry["scores"])]
    if scores is None:
        names = available
    else:
        names = [scores] if isinstance(scores, str) else list(scores)
        for name in names:
            if name not in available:
                raise ValueError(f"unknown score {name!r}; available: {', '.join(available)}")
    if layout not in ("auto", "scores", "settings"):
        raise ValueError(f"layout must be 'auto', 'scores' or 'settings', got {layout!r}")
    return _table(summary, names, markdown, layout, banner=True)


def _table(summary: Sequence[Mapping], names: Sequence[str], markdown: bool, layout: str, banner: bool) -> str:
    decimals = {name: _decimals(v for e in summary for k in ("median", "min", "max") for v in [e["scores"][name][k]])
                for name in names}
    settings = [entry["label"] for entry in summary]
    step_text = [str(entry["step"]) for entry in summary]
    seeds_text = [str(e["n"]) if e["n"] == e["seeds_total"] else f"{e['n']} of {e['seeds_total']}" for e in summary]
    cells = {name: [_format_cell(e["scores"][name], decimals[name], e["n"]) for e in summary] for name in names}

    by_score = layout == "scores" or (layout == "auto" and len(summary) <= len(names) + 3)
    if by_score:
        header = ["score", *settings]
        body = [["step", *step_text], ["seeds", *seeds_text]] + [[_row_title(name), *cells[name]] for name in names]
    else:
        header = ["setting", "step", "seeds", *(_row_title(name) for name in names)]
        body = [[settings[i], step_text[i], seeds_text[i], *(cells[name][i] for name in names)] for i in range(len(summary))]

    lines = []
    if banner and any(entry.get("fast") for entry in summary):
        lines += [f"> **{_FAST_BANNER}**", ""] if markdown else [_FAST_BANNER, ""]
    if markdown:
        escape = [[cell.replace("|", "\\|") for cell in line] for line in [header, *body]]
        lines.append("| " + " | ".join(escape[0]) + " |")
        lines.append("|" + "|".join([":--"] + ["--:"] * (len(header) - 1)) + "|")
        lines.extend("| " + " | ".join(line) + " |" for line in escape[1:])
    else:
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(header, widths))))
        lines.append("  ".join("-" * w for w in widths))
        for line in body:
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))))
    lines += ["", "median (min–max) over seeds; ↑ higher is better, ↓ lower is better; n=k: only k seeds have that score"]
    notes = [f"{entry['label']}: {'; '.join(entry['notes'])}" for entry in summary if entry["notes"]]
    if notes:
        lines += ["", "Missing:"] if markdown else ["Missing:"]
        lines += [f"- {note}" if markdown else f"  {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"
