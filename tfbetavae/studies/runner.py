"""Studies' machinery, by the module that now holds each part (kept so ``tfbetavae.studies.runner.NAME`` works):

* ``plan``: settings, the plan (``study.json``), its checks and extensions;
* ``cell``: one cell: build, train, score, record;
* ``grid``: the resumable grid oracle, the study tuner, local worker processes;
* ``results``: collecting and writing results, the study's data sets.
"""

from tfbetavae.objective_names import OBJECTIVES  # noqa: F401 - kept: studies offered it here
from tfbetavae.studies.cell import (  # noqa: F401
    EVENTS_FILE,
    _cell_scorer,
    _headline_keys,
    _read_clock,
    _seconds,
    build_model,
    cell_identity,
    cell_number,
    log_event,
    networks_factory,
    networks_name,
    read_rows,
    run_cell,
    score_model,
    score_record,
)
from tfbetavae.studies.grid import (  # noqa: F401
    OBJECTIVE_KEY,
    _failed_trials,
    _grid_oracle_class,
    _is_worker,
    _make_tuner,
    run_grid,
    run_local_workers,
    set_threads,
)
from tfbetavae.studies.plan import (  # noqa: F401
    CLOCK_FILE,
    DEFAULT_SCORES,
    FAST_HELD_OUT_IMAGES,
    FAST_SIZES,
    HELD_OUT_IMAGES,
    PLAN_FILE,
    PLAN_FORMAT,
    SCORES,
    SCORES_FILE,
    STUDY_SIZES,
    Setting,
    StudyPlan,
    _adds_seeds,
    _brief,
    _extends,
    _extends_plan,
    _labels,
    _values,
    check_data_axis,
    check_or_write_plan,
    data_keys,
    extend_plan,
    load_plan,
    logger,
    make_plan,
    make_settings,
    preset_settings,
)
from tfbetavae.studies.results import (  # noqa: F401
    RECORD_COLUMNS,
    RESULT_COLUMNS,
    StudyData,
    collect_results,
    resolve_study_data,
    use_plan_precision,
    write_results,
)
