"""Studies across processes: a study killed with SIGKILL resumes running every cell once, a local chief with two
workers shares the grid, and the grid oracle and log follower they rely on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfbetavae.studies import collect_results

ROOT = Path(__file__).resolve().parents[1]
CELLS = 4  # 2 β × 2 seeds: tests/study_process.py's grid


def _events(folder: Path) -> list[tuple[str, str, str]]:
    lines = (folder / "events.log").read_text().splitlines()
    return [tuple(line.split()[1:4]) for line in lines]


def _run(folder: Path, *extra: str, log: Path) -> subprocess.Popen:
    """tests/study_process.py on ``folder``; tests/ on the path, so local workers import the plan's networks."""
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}
    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, str(ROOT / "tests" / "study_process.py"), str(folder), *extra],
                                stdout=handle, stderr=subprocess.STDOUT, env=env)


def _oracle_cells(folder: Path) -> list[tuple]:
    cells = []
    for path in (folder / "oracle").glob("trial_*/trial.json"):
        trial = json.loads(path.read_text())
        values = trial["hyperparameters"]["values"]
        cells.append((trial["status"], values["setting"], values["seed"]))
    return cells


@pytest.mark.slow
def test_a_killed_study_resumes_running_every_cell_once(tmp_path):
    folder, log = tmp_path / "study", tmp_path / "study.log"
    process = _run(folder, log=log)
    deadline = time.monotonic() + 300
    finished, half = [], []
    try:
        while time.monotonic() < deadline and process.poll() is None:
            runs = [p for p in (folder / "runs").glob("*") if p.is_dir()] if (folder / "runs").exists() else []
            finished = [p for p in runs if (p / "model.keras").exists()]
            half = [p for p in runs if (p / "checkpoints" / "last.keras").exists() and not (p / "model.keras").exists()]
            if finished and half:
                break
            time.sleep(0.02)
        assert finished and half, f"never saw a finished and a half-trained cell at once:\n{log.read_text()[-2000:]}"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished_stamp = {p.name: (p / "model.keras").stat().st_mtime_ns for p in finished}
    assert _run(folder, log=log).wait(timeout=600) == 0, log.read_text()[-3000:]

    text = log.read_text()
    events = _events(folder)
    done = [cell for event, cell, _ in events if event == "done"]
    assert sorted(done) == sorted(set(done)) and len(done) == CELLS  # every cell finished exactly once
    for name, stamp in finished_stamp.items():
        assert [e for e in events if e[1] == name and e[0] == "start"].__len__() == 1  # never started again
        assert (folder / "runs" / name / "model.keras").stat().st_mtime_ns == stamp
    assert any(f"seed {p.name.rsplit('=', 1)[1]}: resuming from step" in text for p in half)
    rows = collect_results(folder)
    assert len(rows) == CELLS * 3 and len({(r["cell"], r["step"]) for r in rows}) == CELLS * 3
    completed = [c for c in _oracle_cells(folder) if c[0] == "COMPLETED"]
    assert len(completed) == len(set(completed)) == CELLS  # KerasTuner's books: each cell once


@pytest.mark.slow
def test_local_chief_and_two_workers_share_the_grid(tmp_path):
    folder, log = tmp_path / "study", tmp_path / "study.log"
    assert _run(folder, "2", log=log).wait(timeout=600) == 0, log.read_text()[-3000:]
    events = _events(folder)
    done = [(cell, where) for event, cell, where in events if event == "done"]
    assert len(done) == len({cell for cell, _ in done}) == CELLS
    assert len({where for _, where in done}) == 2  # both workers trained cells
    assert len(collect_results(folder)) == CELLS * 3
    assert "2 local workers" in log.read_text()


def test_the_grid_oracle_resumes_without_losing_or_repeating_cells(tmp_path):
    import keras_tuner as kt

    from tfbetavae.studies.runner import _grid_oracle_class

    def oracle():
        space = kt.HyperParameters()
        space.Choice("seed", [0, 1, 2])
        space.Choice("setting", ["a", "b"])
        made = _grid_oracle_class()(objective=kt.Objective("s", "max"), max_trials=6, hyperparameters=space,
                                    allow_new_entries=False, tune_new_entries=False)
        made._set_project_dir(str(tmp_path), "oracle")
        return made

    def cell(trial):
        return trial.hyperparameters.values["seed"], trial.hyperparameters.values["setting"]

    def finish(owner, trial):
        owner.update_trial(trial.trial_id, {"s": 1.0})
        trial.status = "COMPLETED"
        owner.end_trial(trial)

    first = oracle()
    before = []
    for index in range(3):
        trial = first.create_trial("worker")
        before.append(cell(trial))
        if index < 2:
            finish(first, trial)  # the third is running when the process is killed
    second = oracle()
    second.reload()
    after = []
    while (trial := second.create_trial("worker")).status != "STOPPED":
        after.append(cell(trial))
        finish(second, trial)
    assert after[0] == before[2]  # the interrupted cell runs again first
    assert sorted(before[:2] + after) == sorted((seed, s) for seed in (0, 1, 2) for s in ("a", "b"))
    assert before[:2] == [(0, "a"), (0, "b")]  # every setting at seed 0 first


def test_the_grid_oracle_gives_every_worker_a_cell_at_once(tmp_path):
    import keras_tuner as kt

    from tfbetavae.studies.runner import _grid_oracle_class

    space = kt.HyperParameters()
    space.Choice("seed", [0, 1])
    space.Choice("setting", ["a", "b"])
    oracle = _grid_oracle_class()(objective=kt.Objective("s", "max"), max_trials=4, hyperparameters=space,
                                  allow_new_entries=False, tune_new_entries=False)
    oracle._set_project_dir(str(tmp_path), "oracle")
    trials = [oracle.create_trial(f"worker{i}") for i in range(4)]  # none has ended
    assert [t.status for t in trials] == ["RUNNING"] * 4
    assert len({tuple(sorted(t.hyperparameters.values.items())) for t in trials}) == 4
    assert oracle.create_trial("worker4").status == "STOPPED"


def test_local_workers_progress_reaches_the_callers_output(tmp_path):
    """The chief forwards its workers' new log lines, prefixed, whole lines only, from where each log stood."""
    from tfbetavae.studies.grid import _LogFollower

    first, second = tmp_path / "worker0.log", tmp_path / "worker1.log"
    first.write_text("an earlier run's line\n")
    said: list[str] = []
    follower = _LogFollower({"worker0": (first, first.stat().st_size), "worker1": (second, 0)}, said.append,
                            poll_seconds=0.05)
    follower.start()
    with open(first, "a") as handle:
        handle.write("cell 1/4: beta=1 seed 0, step 10/30, loss 99.0\ncell 1/4: half a li")
    second.write_text("cell 2/4: beta=4 seed 0: training 30 steps\n")
    time.sleep(0.3)
    with open(first, "a") as handle:
        handle.write("ne\n")
    follower.stop()
    assert said.count("worker0: cell 1/4: beta=1 seed 0, step 10/30, loss 99.0") == 1
    assert "worker1: cell 2/4: beta=4 seed 0: training 30 steps" in said
    assert "worker0: cell 1/4: half a line" in said and not any("earlier" in line for line in said)

