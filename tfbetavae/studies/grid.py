"""The study's grid on KerasTuner: a resumable grid oracle over (seed, data, setting), the study tuner that runs
one cell per trial, and local worker processes sharing it (chief on 127.0.0.1).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from tfbetavae.cluster import (  # noqa: F401 - set_threads: its old home
    die_with_parent,
    forget_finished_retries,
    free_port,
    is_chief,
    is_worker,
    serve_oracle,
    set_threads,
)
from tfbetavae.studies.cell import _headline_keys, run_cell
from tfbetavae.studies.plan import StudyPlan, load_plan
from tfbetavae.studies.results import StudyData

# --------------------------------------------------------------------------- the grid on KerasTuner
OBJECTIVE_KEY = "study_score"


def _grid_oracle_class():
    import keras_tuner as kt

    class ResumableGridOracle(kt.oracles.GridSearchOracle):
        """KerasTuner's grid oracle, walking the grid eagerly and able to resume.

        KerasTuner 1.4.8's ``GridSearchOracle`` makes the next combination only from a trial that has ended
        (the first one excepted), so a second worker waits idle until the first finishes its cell; and it keeps
        its walk in memory only, so a reloaded oracle fails with a ``KeyError``. Here the next trial is the first
        combination of the grid, in the grid's own order, that no trial has taken yet — derived from the trials
        KerasTuner saved, so every worker gets work at once and a resumed study neither loses nor repeats a cell.
        An interrupted trial is retried by KerasTuner's own retry queue, as before.
        """

        def populate_space(self, trial_id):
            taken = {self._values_key(trial.hyperparameters.values) for trial in self.trials.values()}
            space = self.get_space()
            values = {hp.name: hp.default for hp in space.space if space.is_active(hp)}
            while values is not None:
                if self._values_key(values) not in taken:
                    return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}
                values = self._get_next_combination(values)
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}

        @staticmethod
        def _values_key(values) -> tuple:
            return tuple(sorted((name, str(value)) for name, value in values.items()))

    return ResumableGridOracle


def _make_tuner(plan: StudyPlan, study_dir: Path, data, say, networks: Callable | None = None):
    import keras_tuner as kt

    ResumableGridOracle = _grid_oracle_class()  # noqa: N806 - a class
    hyperparameters = kt.HyperParameters()
    hyperparameters.Choice("seed", plan.seeds)  # declared first: it varies slowest, so every setting gets seed 1
    if plan.data_axis:  # then the data sets: every data set gets seed 0 before any gets seed 1
        hyperparameters.Choice("data", plan.data_names)
    hyperparameters.Choice("setting", [s.key for s in plan.settings])

    class StudyTuner(kt.engine.base_tuner.BaseTuner):
        """Runs one study cell per trial; the trial's metrics are the cell's scores at its last step."""

        def run_trial(self, trial, *args, **kwargs):
            values = trial.hyperparameters.values
            name = values.get("data")
            row = run_cell(plan, plan.setting(values["setting"]), int(values["seed"]), study_dir, data.get(name), say,
                           networks, data_name=name)
            metrics = {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and k not in ("seed", "step") and v is not None and math.isfinite(float(v))}
            metrics[OBJECTIVE_KEY] = metrics.get(_headline_keys(plan)[0], 0.0)
            return metrics

        def save_model(self, trial_id, model, step=0):  # the cell's run folder holds its model
            pass

        def load_model(self, trial):
            from tfbetavae.loading import load as load_model

            values = trial.hyperparameters.values
            cell = plan.cell_name(plan.setting(values["setting"]), int(values["seed"]), values.get("data"))
            return load_model(study_dir / "runs" / cell)

    oracle = ResumableGridOracle(
        objective=kt.Objective(OBJECTIVE_KEY, "max"),
        max_trials=len(plan.cells()),
        hyperparameters=hyperparameters,
        allow_new_entries=False,
        tune_new_entries=False,
        max_consecutive_failed_trials=1,
    )
    return StudyTuner(oracle=oracle, directory=os.fspath(study_dir), project_name="oracle", overwrite=False)


def _failed_trials(tuner) -> list[str]:
    from keras_tuner.engine.trial import TrialStatus

    oracle = tuner.oracle
    trials = getattr(oracle, "trials", {})
    return [f"trial {tid}: {(t.message or '').strip().splitlines()[-1:] }" for tid, t in trials.items()
            if t.status == TrialStatus.FAILED]


def run_grid(plan: StudyPlan, study_dir: Path, data, say=print, num_workers: int | None = None,
             chief_timeout: float | None = None, keras_tuner_output: bool = False,
             networks: Callable | None = None) -> None:
    """This process's part of the study: all of it, a worker's share, or (chief) serving the grid.

    ``data``: the study's ``StudyData``, or (a study without a data axis) its ground-truth data itself.

    The progress lines are the study's own; KerasTuner's per-trial tables ("Best Value So Far", which mean
    nothing over a grid of seeds) only with ``keras_tuner_output``.
    """

    if not isinstance(data, StudyData):
        data = StudyData(plan, given=data)
    tuner = _make_tuner(plan, study_dir, data, say, networks)
    tuner.oracle.verbose = int(keras_tuner_output)
    if not _is_worker():
        forget_finished_retries(tuner.oracle)
    if is_chief():
        tuner.save()
        serve_oracle(tuner.oracle, num_workers=num_workers, timeout=chief_timeout)
        return
    tuner.search(verbose=int(keras_tuner_output))
    if not _is_worker():
        failed = _failed_trials(tuner)
        if failed:
            raise RuntimeError(f"study cells failed: {failed}")


def _is_worker() -> bool:
    return is_worker()


# --------------------------------------------------------------------------- local workers
def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class _LogFollower:
    """Forwards the new lines of the workers' logs to ``say``, prefixed with the worker's name, while they run:
    a study with local workers shows its cells' progress like a study in one process does."""

    def __init__(self, logs: Mapping[str, tuple[Path, int]], say, poll_seconds: float = 0.5) -> None:
        import threading

        self.logs, self.say, self.poll = dict(logs), say, poll_seconds
        self.offsets = {name: start for name, (_, start) in self.logs.items()}
        self.partial = dict.fromkeys(self.logs, "")
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="study-log-follower", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)
        self._read()  # what the workers wrote last

    def _run(self) -> None:
        while not self.done.wait(self.poll):
            self._read()

    def _read(self) -> None:
        for name, (path, _) in self.logs.items():
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    handle.seek(self.offsets[name])
                    text = handle.read()
                    self.offsets[name] = handle.tell()
            except FileNotFoundError:
                continue
            lines = (self.partial[name] + text).split("\n")
            self.partial[name] = lines.pop()  # an unfinished last line waits for its end
            for line in lines:
                if line.strip():
                    self.say(f"{name}: {line}")


# ``python -m tfbetavae.studies.worker`` would import tfbetavae.studies, and TensorFlow with it, before the worker
# could hide TensorFlow's start-up lines from the log the chief shows; this imports TensorFlow quietly first.
_WORKER_START = (
    "import os, sys; from tfbetavae.progress import import_tensorflow_quietly; "
    "import_tensorflow_quietly(threads=int(os.environ.get('TFBETAVAE_THREADS', '0')) or None); "
    "from tfbetavae.studies.worker import main; sys.exit(main(sys.argv[1:]))"
)


def run_local_workers(study_dir: Path, workers: int, threads: int | None, say=print,
                      keras_tuner_output: bool = False) -> None:
    """Serves the grid from this process to ``workers`` local worker processes (KerasTuner chief/worker on
    127.0.0.1), each with ``threads`` intra-op threads (default: the cores split between them)."""
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    port = free_port()
    children = []
    log_dir = study_dir / "workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    starts = {index: _size(log_dir / f"worker{index}.log") for index in range(workers)}  # a resumed study appends
    for index in range(workers):
        env = {
            **os.environ,
            "KERASTUNER_TUNER_ID": f"worker{index}",
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": str(port),
            "TFBETAVAE_THREADS": str(threads),
        }
        log = open(log_dir / f"worker{index}.log", "a", encoding="utf-8")  # noqa: SIM115 - owned by the child
        command = [sys.executable, "-c", _WORKER_START, os.fspath(study_dir)]
        children.append((subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          preexec_fn=die_with_parent), log))
    say(f"{workers} local workers × {threads} thread(s); their lines follow, prefixed, and stay in {log_dir}")
    follower = _LogFollower({f"worker{i}": (log_dir / f"worker{i}.log", starts[i]) for i in range(workers)}, say)
    follower.start()
    saved = {k: os.environ.get(k) for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")}
    os.environ.update(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
    try:
        plan = load_plan(study_dir)
        run_grid(plan, study_dir, data=None, say=say, num_workers=workers, keras_tuner_output=keras_tuner_output)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        codes = []
        for child, log in children:
            try:
                codes.append(child.wait(timeout=60))
            except subprocess.TimeoutExpired:
                child.kill()
                codes.append(child.wait())
            log.close()
        follower.stop()
    bad = [i for i, code in enumerate(codes) if code != 0]
    if bad:
        # A negative code is a signal (-9: killed here after 60 s without exiting, or by the system).
        exits = ", ".join(f"worker{i} exit code {codes[i]}" for i in bad)
        raise RuntimeError(f"local worker(s) {bad} failed ({exits}); see {log_dir}/worker<N>.log")
