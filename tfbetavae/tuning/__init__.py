"""Choosing β with KerasTuner, split along KerasTuner's own seams.

* ``hypermodel``: ``BetaVAEHyperModel`` (the search space, one trial's training and its results dict, on data with
  or without known factors; the UDR objective's seeds), ``constrained_score``, ``objective_direction``,
  ``objectives_without_factors`` and the tables of result keys;
* ``search``: ``search`` (random, Bayesian or Hyperband; resume; chief/worker) and the pieces another runner over
  KerasTuner reuses: ``serve_oracle``, ``is_chief``/``is_worker``, ``check_settings``, ``forget_finished_retries``;
* ``results``: ``results_table``, ``format_table``, ``plot_tradeoff``, ``export_best``, ``exported_version``;
* ``sizes``: ``TUNING_SIZES`` (what a trial scores on unless ``paper_sizes=True``) and what scoring costs.

Every name is importable from ``tfbetavae.tuning`` as before the split. ``tfbetavae.tuning.search`` is the
function (as before); reach the module with ``from tfbetavae.tuning.search import ...`` or ``sys.modules``.
"""

from tfbetavae.tuning.hypermodel import (
    COMMON_KEYS,
    CONSTRAINED_KEY,
    DEFAULT_BETAS,
    DEFAULT_SEEDS_PER_TRIAL,
    METRIC_KEYS,
    MINIMISED_KEYS,
    PRIMARY_KEYS,
    UDR_KEYS,
    UDR_OBJECTIVE,
    BetaVAEHyperModel,
    ScoreFunction,
    constrained_score,
    objective_direction,
    objectives_without_factors,
)
from tfbetavae.tuning.results import (
    export_best,
    exported_version,
    format_number,
    format_table,
    plot_tradeoff,
    results_table,
)
from tfbetavae.tuning.search import (
    SETTINGS_FILE,
    TUNERS,
    TrialReporter,
    check_settings,
    forget_finished_retries,
    is_chief,
    is_worker,
    search,
    serve_oracle,
    settings_path,
    trial_number,
)
from tfbetavae.tuning.sizes import TUNING_SIZES

__all__ = [
    "COMMON_KEYS",
    "CONSTRAINED_KEY",
    "DEFAULT_BETAS",
    "DEFAULT_SEEDS_PER_TRIAL",
    "METRIC_KEYS",
    "MINIMISED_KEYS",
    "PRIMARY_KEYS",
    "SETTINGS_FILE",
    "TUNERS",
    "TUNING_SIZES",
    "UDR_KEYS",
    "UDR_OBJECTIVE",
    "BetaVAEHyperModel",
    "TrialReporter",
    "ScoreFunction",
    "check_settings",
    "constrained_score",
    "export_best",
    "exported_version",
    "forget_finished_retries",
    "format_number",
    "format_table",
    "is_chief",
    "is_worker",
    "objective_direction",
    "objectives_without_factors",
    "plot_tradeoff",
    "results_table",
    "search",
    "serve_oracle",
    "settings_path",
    "trial_number",
]
