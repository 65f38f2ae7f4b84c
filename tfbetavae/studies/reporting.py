"""A study's results read back honestly: per-setting distributions over seeds, rank tests, pictures.

Single training runs mislead: on dSprites the seed moves every disentanglement score as much as β does
(Locatello et al. 2019). So this module never reports one number per setting. It reports the median and the
min–max range over seeds, claims "β=a > β=b" only when a two-sided Mann–Whitney U test over seeds supports it at
a stated level, says so plainly when the number of seeds cannot support any claim (3 vs 3 seeds: the smallest
possible two-sided p is 0.10), and draws every seed as its own point.

Input: the result rows a study writes to ``results.json``, one dict per (run, evaluated step) with identity keys
(``cell``, ``setting``, ``seed``, ``step``), settings (``objective``, ``beta``, ...), cost (``wall_seconds``,
``fast``, ...) and scores. Any other numeric column is treated as a score, so a new metric needs no change here;
``SCORE_INFO`` only gives the known ones a readable label and a direction.

Functions:
    load_results            the rows of a study's results.json (a study redraws from it when its runs are gone)
    available_scores        the score columns present in the rows
    summarize               per setting: step used, seeds, median / min / max of each score
    format_summary          that summary as a plain-text or Markdown table
    compare                 Mann–Whitney U statements between settings over seeds
    plot_scores_vs_setting  each score against β (or the setting), every seed a point, the median marked
    plot_tradeoff           reconstruction against a disentanglement score, one point per seed
    plot_curves             a score against training steps, one line per run, the median per setting bold
    write_report            summary.md and the pictures, written atomically
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tfbetavae.figures import figure as new_figure
from tfbetavae.figures import save_figure
from tfbetavae.metrics.catalogue import METRIC_INFO, STUDY_SCORES, score_info, too_few_points
from tfbetavae.runs import atomic_write_text

__all__ = [
    "MAIN_SCORES",
    "SCORE_INFO",
    "available_scores",
    "compare",
    "format_summary",
    "load_results",
    "plot_curves",
    "plot_scores_vs_setting",
    "plot_tradeoff",
    "score_label",
    "summarize",
    "write_report",
]

IDENTITY_KEYS = ("cell", "setting", "seed", "step")
SETTING_KEYS = (
    "data", "objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim", "precision",
    "tc_weight", "batch_size", "dataset_size", "steps", "total_steps", "eval_steps", "lambda_od", "lambda_d",
)
COST_KEYS = ("wall_seconds", "train_seconds", "metric_seconds", "fast")
# How the scores were measured (rows written since scores record it): not scores themselves.
RECORD_KEYS = ("protocol", "metric_sizes", "held_out_images", "eval_seed")
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


# ---------------------------------------------------------------------------------------------- comparisons


def _smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided exact Mann–Whitney p-value two groups of these sizes can give (no ties)."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1)) if n1 and n2 else 1.0


def _seeds_needed(level: float) -> int:
    """The fewest seeds per group (equal groups) for which p < ``level`` is attainable."""
    k = 1
    while _smallest_p(k, k) >= level:
        k += 1
    return k


def _mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, str]:
    """(U of ``a``, two-sided p, method): exact for small groups, an exact permutation distribution when
    values tie, the normal approximation when both groups are large."""
    from scipy import stats

    ties = len(set(a) | set(b)) < len(a) + len(b)
    if not ties and min(len(a), len(b)) <= 8:
        method, name = "exact", "exact"
    elif ties and min(len(a), len(b)) < 2:  # SciPy's permutation test needs two values a group
        method, name = "exact", "exact, ties ignored"
    elif ties and math.comb(len(a) + len(b), len(a)) <= 100_000:
        method, name = stats.PermutationMethod(n_resamples=np.inf), "exact, ties"
    else:
        method, name = "asymptotic", "normal approximation"
    result = stats.mannwhitneyu(a, b, alternative="two-sided", method=method)
    return float(result.statistic), float(min(1.0, result.pvalue)), name


def _format_p(p: float, level: float) -> str:
    """p with enough decimals that the printed number falls on the same side of ``level`` as p itself."""
    if p < 0.001 and level > 0.001:
        return "<0.001"
    for digits in range(2, 8):
        text = f"{p:.2f}" if p >= 0.1 and digits == 2 else f"{p:#.{digits}g}"
        if (float(text) < level) == (p < level) and float(text) > 0:
            return text
    return f"{p:.6g}"


def _format_value(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _statement(study: _Study, a: str, b: str, score: str, step: int, level: float) -> str:
    """One honest sentence comparing setting ``a`` with setting ``b`` on ``score`` at ``step``."""
    la, lb, label = _label(a), _label(b), score_label(score)
    x, y = study.values(a, step, score), study.values(b, step, score)
    if not x or not y:
        empty = la if not x else lb
        return f"{la} vs {lb} on {label}: no seed of {empty} has this score at step {step}"
    decimals = _decimals(x + y)
    medians = f"medians {_format_value(float(np.median(x)), decimals)} vs {_format_value(float(np.median(y)), decimals)}"
    if min(x) > max(y) or max(x) < min(y):
        higher = la if min(x) > max(y) else lb
        overlap = f"; ranges do not overlap ({higher} higher in every seed)"
    else:
        overlap = ""
    sizes = f"{len(x)} vs {len(y)} seeds at step {step}"
    smallest = _smallest_p(len(x), len(y))
    u, p, method = _mann_whitney(x, y)
    test = _TEST_NAME if method == "exact" else f"{_TEST_NAME}, {method}"
    if smallest >= level:
        return (
            f"{la} vs {lb} on {label}: no claim possible — {len(x)} vs {len(y)} seeds cannot reach p < {level:g} "
            f"(smallest possible p={_format_p(smallest, level)}; need ≥ {_seeds_needed(level)} per group); "
            f"step {step}, p={_format_p(p, level)}, {medians}{overlap}"
        )
    if p < level:
        sign = ">" if u > len(x) * len(y) / 2 else "<"
        better = _direction(score)
        if better is not None:
            good = (sign == ">") == better
            verdict = f"; {la} {'better' if good else 'worse'} ({'higher' if better else 'lower'} is better)"
        else:
            verdict = ""
        return f"{la} {sign} {lb} on {label} (p={_format_p(p, level)}, {sizes}, {test}; {medians}{overlap}{verdict})"
    return f"{la} vs {lb} on {label}: within seed spread (p={_format_p(p, level)}, {sizes}, {test}; {medians}{overlap})"


def compare(rows: Sequence[Mapping], score: str, step: int | None = None, level: float = 0.05,
            baseline: str | None = None, all_pairs: bool = False) -> list[str]:
    """Honest statements comparing settings over seeds with a two-sided Mann–Whitney U test.

    "β=8 > β=1 on MIG (p=0.029, 4 vs 4 seeds ...)" only when p < ``level``; otherwise "within seed spread".
    When the group sizes cannot reach p < ``level`` at all (3 vs 3 seeds: p ≥ 0.10), the statement says so
    instead of testing. Non-overlapping ranges are noted as description, not as evidence. Each setting is
    compared with ``baseline`` (default: the first setting, e.g. the smallest β), or every pair with
    ``all_pairs``. ``step`` None: the last step every run reached (else each pair's last common step).

    When the rows span several data sets (a study's data axis) and no ``baseline`` is given, settings are compared
    within each data set (with that data set's first setting), and each data set with the first one at the same
    setting: a comparison across both data and setting would mix two causes.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    study = _Study(rows)
    (score,) = _check_scores(study.rows, [score])
    settings = study.settings
    if baseline is not None:
        matches = [name for name in settings if baseline in (name, _label(name))]
        if not matches:
            raise ValueError(f"unknown baseline {baseline!r}; settings: {', '.join(settings)}")
        base = matches[0]
    else:
        base = settings[0]
    if all_pairs:
        pairs = [(settings[j], settings[i]) for i in range(len(settings)) for j in range(i + 1, len(settings))]
    elif baseline is None and _data_axis(study):
        pairs = _data_pairs(study)
    else:
        pairs = [(name, base) for name in settings if name != base]
    chosen = study.steps_for(step, common=True) if step is not None else None
    shared = study.common_step()
    statements = []
    for a, b in pairs:
        if chosen is not None:
            used = chosen[a]
        else:
            used = shared if shared is not None else study.common_step([a, b])
            if used is None:
                statements.append(f"{_label(a)} vs {_label(b)} on {score_label(score)}: no step that every seed of both reached")
                continue
        statements.append(_statement(study, a, b, score, used, level))
    return statements


def _data_axis(study: _Study) -> bool:
    return len({study.info[name].get("data") for name in study.settings}) > 1


def _data_pairs(study: _Study) -> list[tuple[str, str]]:
    """(setting, baseline) pairs of a data axis: within each data set, then across data sets at the same setting."""
    by_data: dict[str, list[str]] = {}
    for name in study.settings:
        by_data.setdefault(str(study.info[name].get("data")), []).append(name)
    pairs = [(name, group[0]) for group in by_data.values() for name in group[1:]]
    first, *others = by_data.values()

    def rest(name: str) -> dict:
        return {k: v for k, v in study.info[name].items() if k != "data"}

    for group in others:
        for name in group:
            match = next((base for base in first if rest(base) == rest(name)), None)
            if match is not None:
                pairs.append((name, match))
    return pairs


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
