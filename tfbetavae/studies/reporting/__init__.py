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

Parts: ``rows`` (reading rows), ``tables`` (the summary), ``stats`` (rank tests), ``pictures``, ``markdown``
(``summary.md``). Functions:
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

from tfbetavae.studies.reporting.markdown import (  # noqa: F401
    _cost,
    _describe,
    _measured,
    _too_few_points,
    udr_pick,
    write_report,
)
from tfbetavae.studies.reporting.pictures import (  # noqa: F401
    _beta_axis,
    _colours,
    _figure,
    _panel_grid,
    _save_figure,
    _step_text,
    _title,
    plot_curves,
    plot_scores_vs_setting,
    plot_tradeoff,
)
from tfbetavae.studies.reporting.rows import (  # noqa: F401
    _DISENTANGLEMENT_PREFERENCE,
    _FAST_BANNER,
    _NOT_SCORES,
    _OBJECTIVE_ORDER,
    _TEST_NAME,
    COST_KEYS,
    IDENTITY_KEYS,
    MAIN_SCORES,
    RECORD_KEYS,
    SCORE_INFO,
    SETTING_KEYS,
    _check_rows,
    _check_scores,
    _direction,
    _label,
    _number,
    _seed_list,
    _settings_key,
    _Study,
    available_scores,
    load_results,
    score_label,
)
from tfbetavae.studies.reporting.stats import (  # noqa: F401
    _data_axis,
    _data_pairs,
    _format_p,
    _format_value,
    _mann_whitney,
    _seeds_needed,
    _smallest_p,
    _statement,
    compare,
)
from tfbetavae.studies.reporting.tables import (  # noqa: F401
    _decimals,
    _format_cell,
    _row_title,
    _summarize,
    _table,
    format_summary,
    summarize,
)

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

