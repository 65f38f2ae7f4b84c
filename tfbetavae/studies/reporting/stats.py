"""Rank tests between settings over seeds: claims only where the seeds support them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from tfbetavae.studies.reporting.rows import (
    _TEST_NAME,
    _check_scores,
    _direction,
    _label,
    _Study,
    score_label,
)
from tfbetavae.studies.reporting.tables import (
    _decimals,
)

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
