"""Studies: a tiny grid end to end, its results and report, bad input, kill-and-resume, chief + 2 workers."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tfbetavae.studies import collect_results, load_plan, report, study

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from study_process import TINY, small_networks  # noqa: E402

CELLS = 4  # 2 β × 2 seeds


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    """The Python example of docs/studies.md, run as written (it is the same toy grid as ``TINY``)."""
    page = (ROOT / "docs" / "studies.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    where = tmp_path_factory.mktemp("docs")
    previous = os.getcwd()
    os.chdir(where)
    try:
        namespace: dict = {}
        exec(compile(code, "docs/studies.md", "exec"), namespace)
    finally:
        os.chdir(previous)
    return where / "studies" / "quick", namespace["rows"]


def _events(folder: Path) -> list[tuple[str, str, str]]:
    lines = (folder / "events.log").read_text().splitlines()
    return [tuple(line.split()[1:4]) for line in lines]


def test_every_cell_is_scored_at_every_step_and_learns(tiny_study):
    folder, rows = tiny_study
    assert len(rows) == CELLS * 3
    assert sorted({(r["cell"], r["step"]) for r in rows}) == sorted((r["cell"], r["step"]) for r in rows)
    assert {r["setting"] for r in rows} == {"beta=1", "beta=4"}
    assert {r["seed"] for r in rows} == {0, 1}
    for row in rows:
        assert 0.0 <= row["mig"] <= 1.0 and 0.0 <= row["beta_vae_eval_accuracy"] <= 1.0
        assert row["fast"] is True and row["wall_seconds"] >= row["metric_seconds"] > 0
    for cell in {r["cell"] for r in rows}:
        curve = sorted((r for r in rows if r["cell"] == cell), key=lambda r: r["step"])
        assert [r["step"] for r in curve] == [10, 20, 30]
        assert curve[-1]["reconstruction"] < curve[0]["reconstruction"]  # the runs really train
    done = [cell for event, cell, _ in _events(folder) if event == "done"]
    assert len(done) == len(set(done)) == CELLS


def test_results_files_and_report(tiny_study):
    folder, rows = tiny_study
    saved = json.loads((folder / "results.json").read_text())
    assert saved == json.loads(json.dumps(rows))
    with open(folder / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(rows) and {"cell", "seed", "step", "mig", "wall_seconds"} <= set(table[0])
    summary = (folder / "summary.md").read_text()
    assert "FAST PRESET" in summary and "β=4" in summary
    assert "Too few points to mean anything:** beta_vae on 10 evaluation points" in summary  # num_eval 10: noise
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs and all((folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in pngs)


def test_report_redraws_from_a_partial_study(tiny_study, tmp_path):
    folder, _ = tiny_study
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "study.json").write_bytes((folder / "study.json").read_bytes())
    plan = load_plan(folder)
    one = plan.cell_name(plan.settings[0], plan.seeds[0])
    (partial / "runs" / one).mkdir(parents=True)
    kept = [r for r in json.loads((folder / "runs" / one / "study_scores.json").read_text()) if r["step"] <= 20]
    (partial / "runs" / one / "study_scores.json").write_text(json.dumps(kept))
    rows = report(partial, verbose=False)
    assert len(rows) == 2 and (partial / "summary.md").exists() and (partial / "results.csv").exists()


def test_the_command_line_reports_and_refuses_bad_scores(tiny_study, capsys):
    from tfbetavae.cli import main

    folder, _ = tiny_study
    assert main(["study", "--report", str(folder)]) == 0
    assert "β=4" in capsys.readouterr().out
    assert main(["study", str(folder.parent / "other"), "--scores", "mig,nope", "--eval-steps", "5"]) == 2
    assert "unknown score 'nope'" in capsys.readouterr().err
    assert not (folder.parent / "other").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": ["beta_vae", "nope"]}, "unknown score 'nope'"),
        ({"betas": []}, "betas is empty"),
        ({"seeds": [0, 1, 0]}, "seeds repeats [0]"),
        ({"eval_steps": [0, 10]}, "eval_steps must be positive integers"),
        ({"eval_steps": None, "steps": -5}, "steps must be a positive integer"),
        ({"eval_steps": [10, 50], "steps": 20}, "lie beyond steps=20"),
        ({"objectives": ["beta-vae", "vq-vae"]}, "unknown objective 'vq-vae'"),
        ({"metric_sizes": {"mig": {"num_bins": 3}}}, "score 'mig' has no size 'num_bins'"),
    ],
)
def test_bad_input_is_named_before_anything_is_written(tmp_path, kwargs, message):
    folder = tmp_path / "study"
    with pytest.raises(ValueError) as error:
        study(folder, **{**TINY, **kwargs}, verbose=False)
    assert message in str(error.value)
    assert not folder.exists()


def test_a_folder_with_another_grid_is_refused_and_left_alone(tiny_study):
    folder, _ = tiny_study
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match="holds a study of another grid"):
        study(folder, **{**TINY, "betas": [1.0, 8.0]}, verbose=False)
    with pytest.raises(ValueError, match="fast"):
        study(folder, **{**TINY, "fast": False}, verbose=False)
    with pytest.raises(ValueError, match="eval_steps"):
        study(folder, **{**TINY, "eval_steps": [10, 20, 40]}, verbose=False)
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before


def test_a_rerun_of_a_finished_study_trains_nothing(tiny_study):
    folder, rows = tiny_study
    before = (folder / "events.log").read_text()
    again = study(folder, **TINY, verbose=False)
    assert again == rows
    assert (folder / "events.log").read_text() == before


def test_a_study_extends_in_its_own_folder(tiny_study, tmp_path, capsys):
    """A longer plan (a new last evaluation step) continues every finished cell from its state at step 30."""
    import shutil

    import keras

    original, rows = tiny_study
    folder = tmp_path / "quick"
    shutil.copytree(original, folder)
    longer = study(folder, **{**TINY, "eval_steps": [10, 20, 30, 40]})
    out = capsys.readouterr().out
    assert out.count("extending from step 30 to 40") == CELLS
    assert re.search(r"cell 4/4: beta=4 seed 1, step 40/40, beta_vae_eval_accuracy", out)
    assert "Best Value So Far" not in out and "Running Trial" not in out
    assert {(r["cell"], r["step"]) for r in longer} == {(r["cell"], s) for r in rows for s in (10, 20, 30, 40)}
    assert sorted(json.dumps(r, sort_keys=True) for r in longer if r["step"] <= 30) == sorted(
        json.dumps(r, sort_keys=True) for r in rows)  # the scores already made are kept as they were
    for run in (folder / "runs").iterdir():
        model = keras.models.load_model(run / "model.keras")
        assert int(model.step_counter.numpy()) == 40
        assert json.loads((run / "config.json").read_text())["study"] == "quick"  # no absolute path
    assert (folder / "oracle.until-30").is_dir() and load_plan(folder).eval_steps == [10, 20, 30, 40]
    with pytest.raises(ValueError, match="eval_steps"):  # a new step before the last cannot be made
        study(folder, **{**TINY, "eval_steps": [10, 20, 25, 30, 40]}, verbose=False)
    tiny = {k: v for k, v in TINY.items() if k != "eval_steps"}
    again = study(folder, **tiny, steps=50, verbose=False)  # steps alone keeps the folder's evaluation steps
    assert load_plan(folder).eval_steps == [10, 20, 30, 40, 50]
    assert sorted({r["step"] for r in again}) == [10, 20, 30, 40, 50] and len(again) == CELLS * 5


def test_a_study_grows_by_seeds_in_its_own_folder(tiny_study, tmp_path, capsys):
    """More seeds (appended) add cells; the finished cells are skipped, not retrained; other seed lists refused."""
    import shutil

    original, rows = tiny_study
    folder = tmp_path / "wider"
    shutil.copytree(original, folder)
    with pytest.raises(ValueError, match="seeds"):  # dropping or reordering a seed is another grid
        study(folder, **{**TINY, "seeds": [1, 0, 2]}, verbose=False)
    wider = study(folder, **{**TINY, "seeds": [0, 1, 2]})
    out = capsys.readouterr().out
    assert out.count("already scored at every step") == CELLS
    assert out.count("training 30 steps") == 2  # the two new cells: seed 2 of each β
    assert {r["seed"] for r in wider} == {0, 1, 2} and len(wider) == len(rows) + 2 * 3
    assert sorted(json.dumps(r, sort_keys=True) for r in wider if r["seed"] < 2) == sorted(
        json.dumps(r, sort_keys=True) for r in rows)  # the finished cells' scores are kept as they were
    assert load_plan(folder).seeds == [0, 1, 2] and (folder / "oracle.until-30-seeds-2").is_dir()


def test_a_study_trains_the_users_networks(tmp_path):
    """networks=factory: every cell is a BetaVAE on the user's networks; the plan names the factory."""
    import keras

    folder = tmp_path / "own"
    rows = study(folder, **{**TINY, "betas": [4], "seeds": [0], "eval_steps": [10]}, networks=small_networks,
                 verbose=False)
    assert len(rows) == 1 and 0.0 <= rows[0]["mig"] <= 1.0
    assert json.loads((folder / "study.json").read_text())["networks"] == "study_process:small_networks"
    (run,) = (folder / "runs").iterdir()
    model = keras.models.load_model(run / "model.keras")
    assert isinstance(model.encoder, keras.Sequential) and model.custom_networks == (True, True)
    assert [layer.units for layer in model.encoder.layers if hasattr(layer, "units")] == [32, 8]
    with pytest.raises(ValueError, match="cannot be imported here"):
        study(tmp_path / "named", **TINY, networks="no_such_module:factory", verbose=False)
    assert "networks" not in json.loads((ROOT / "docs" / "paper_study" / "study.json").read_text())  # same plans


def _run(folder: Path, *extra: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
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


# ------------------------------------------------------------------------------------------- the data axis
DATA_AXIS = {**TINY, "seeds": [0], "eval_steps": [10, 20], "data": ["dsprites", "color-dsprites"]}


@pytest.fixture(scope="module")
def data_axis_study(tmp_path_factory):
    """2 data sets × 2 β × 1 seed at toy sizes: every cell on its own data set."""
    folder = tmp_path_factory.mktemp("data") / "axis"
    return folder, study(folder, **DATA_AXIS, verbose=False)


def test_a_data_axis_trains_and_scores_every_cell_on_its_own_data(data_axis_study):
    import keras

    folder, rows = data_axis_study
    plan = json.loads((folder / "study.json").read_text())
    assert plan["data"] == ["dsprites", "color-dsprites"] and "protocol" not in plan
    runs = sorted(p.name for p in (folder / "runs").iterdir())
    assert runs == sorted(f"data={data}_beta-vae_beta={beta}_learning_rate=0.0001_latent_dim=4_seed=0"
                          for data in ("dsprites", "color-dsprites") for beta in (1, 4))
    assert len(rows) == 4 * 2 and {(r["data"], r["setting"]) for r in rows} == {
        (data, f"data={data} beta={beta}") for data in ("dsprites", "color-dsprites") for beta in (1, 4)}
    for run in runs:
        data = run.split("_")[0].removeprefix("data=")
        assert json.loads((folder / "runs" / run / "config.json").read_text())["data"] == data  # evaluate reads it
        model = keras.models.load_model(folder / "runs" / run / "model.keras")
        assert model.image_shape[-1] == (3 if data == "color-dsprites" else 1)
    colour = [r for r in rows if r["data"] == "color-dsprites"]
    grey = [r for r in rows if r["data"] == "dsprites"]
    assert min(r["reconstruction"] for r in colour) > max(r["reconstruction"] for r in grey)  # three channels
    done = [cell for event, cell, _ in _events(folder) if event == "done"]
    assert sorted(done) == runs


def test_a_data_axis_is_reported_like_settings(data_axis_study, capsys):
    from tfbetavae.cli import main

    folder, rows = data_axis_study
    summary = (folder / "summary.md").read_text()
    assert "Varied: data ∈ {dsprites, color-dsprites}; beta ∈ {1, 4}." in summary
    assert "| score | data=dsprites β=1 | data=dsprites β=4 | data=color-dsprites β=1 | data=color-dsprites β=4 |" in summary
    compared = [line.split(" on ")[0] for line in summary.splitlines() if line.startswith("- ") and " on MIG" in line]
    assert compared == ["- data=dsprites β=4 vs data=dsprites β=1", "- data=color-dsprites β=4 vs data=color-dsprites β=1",
                        "- data=color-dsprites β=1 vs data=dsprites β=1", "- data=color-dsprites β=4 vs data=dsprites β=4"]
    with open(folder / "results.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["data"] for row in table] == [row["data"] for row in rows]
    assert json.loads(table[0]["metric_sizes"]) == DATA_AXIS["metric_sizes"]
    before = (folder / "events.log").read_text()
    assert study(folder, **DATA_AXIS, verbose=False) == rows  # a rerun resumes: nothing left to train
    assert (folder / "events.log").read_text() == before
    with pytest.raises(ValueError, match="holds a study of another grid .data"):
        study(folder, **{**DATA_AXIS, "data": ["dsprites", "noisy-dsprites"]}, verbose=False)
    assert main(["study", "--report", str(folder)]) == 0
    assert "data=color-dsprites β=4" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (["dsprites", "no-such-data"], FileNotFoundError, "data 'no-such-data' of the study's data axis"),
        (["dsprites", "shapes3d"], ValueError, "data 'shapes3d' of the study's data axis: shapes3d is read from the file"),
        (["dsprites", "color-dsprites", "dsprites"], ValueError, "data repeats ['dsprites']"),
        ([], ValueError, "data is empty"),
        (["dsprites", 3], TypeError, "got the entry 3"),
    ],
)
def test_a_bad_data_axis_is_named_before_anything_is_written(tmp_path, data, error, message):
    folder = tmp_path / "study"
    with pytest.raises(error) as raised:
        study(folder, **{**TINY, "data": data}, verbose=False)
    assert message in str(raised.value)
    assert not folder.exists()


def test_the_command_line_takes_a_data_axis(tmp_path, capsys, monkeypatch):
    from tfbetavae.cli import main

    seen = {}
    monkeypatch.setattr("tfbetavae.studies.study", lambda folder, **kwargs: seen.update(kwargs) or [])
    assert main(["study", str(tmp_path / "s"), "--data", "dsprites, color-dsprites", "--eval-steps", "5",
                 "--protocol", "disentanglement_lib"]) == 0
    assert seen["data"] == ["dsprites", "color-dsprites"] and seen["protocol"] == "disentanglement_lib"
    assert main(["study", str(tmp_path / "s"), "--data", "dsprites", "--eval-steps", "5"]) == 0
    assert seen["data"] == "dsprites" and seen["protocol"] == "library"
    assert main(["study", str(tmp_path / "s"), "--data", "dsprites,,color-dsprites", "--eval-steps", "5"]) == 2
    assert "--data 'dsprites,,color-dsprites' has an empty entry" in capsys.readouterr().err


def test_one_data_set_keeps_the_plan_and_folders_of_earlier_studies(tiny_study, tmp_path):
    """A study of one data set writes the plan it wrote before the data axis (data a string, no protocol key), so
    the studies already on disk (docs/paper_study's plan, the paper study resuming) are still the same study."""
    from tfbetavae.studies.runner import check_or_write_plan

    folder, rows = tiny_study
    plan = json.loads((folder / "study.json").read_text())
    assert plan["data"] == "dsprites" and "protocol" not in plan
    assert {r["cell"] for r in rows} == {p.name for p in (folder / "runs").iterdir()}
    assert all(not r["cell"].startswith("data=") and r["setting"] in ("beta=1", "beta=4") for r in rows)
    copy = tmp_path / "paper"
    copy.mkdir()
    (copy / "study.json").write_bytes((ROOT / "docs" / "paper_study" / "study.json").read_bytes())
    saved = load_plan(copy)
    check_or_write_plan(copy, saved, write=False)  # the committed plan reads back as itself
    assert saved.cell_name(saved.settings[1], 2) == "beta-vae_beta=4_learning_rate=0.0001_latent_dim=10_seed=2"


def test_every_study_row_records_its_protocol_and_metric_sizes(tiny_study):
    folder, rows = tiny_study
    for row in rows:
        assert row["protocol"] == "library" and row["data"] == "dsprites"
        assert row["metric_sizes"] == TINY["metric_sizes"] and row["held_out_images"] == 128
    stored = json.loads(next((folder / "runs").iterdir()).joinpath("study_scores.json").read_text())
    assert all(r["protocol"] == "library" and r["metric_sizes"] == TINY["metric_sizes"] for r in stored)
    assert "Scored under the library metric protocol" in (folder / "summary.md").read_text()


def test_a_study_scores_under_the_disentanglement_lib_protocol(tmp_path, monkeypatch):
    """protocol='disentanglement_lib' reaches every metric call (DCI's gradient boosting, MIG's 20 bins) and every
    row, and is part of the plan (a folder of the library protocol refuses it)."""
    from tfbetavae.metrics.evaluation import METRICS

    calls = {}

    def recording(name, metric):
        def record(*args, **kwargs):
            calls.setdefault(name, kwargs)
            return metric(*args, **kwargs)

        return record

    for name in ("dci", "mig"):
        monkeypatch.setitem(METRICS, name, recording(name, METRICS[name]))
    sizes = {"mig": {"num_train": 200}, "dci": {"num_train": 100, "num_test": 50}}
    tiny = {**TINY, "betas": [4], "seeds": [0], "eval_steps": [10], "scores": ["mig", "dci"], "metric_sizes": sizes}
    rows = study(tmp_path / "dl", **tiny, protocol="disentanglement_lib", verbose=False)
    assert calls["dci"]["protocol"] == "disentanglement_lib" and calls["mig"]["num_bins"] == 20
    assert calls["dci"]["num_train"] == 100
    assert rows[0]["protocol"] == "disentanglement_lib" and rows[0]["metric_sizes"] == sizes
    assert json.loads((tmp_path / "dl" / "study.json").read_text())["protocol"] == "disentanglement_lib"
    with pytest.raises(ValueError, match="holds a study of another grid .protocol"):
        study(tmp_path / "dl", **tiny, verbose=False)
    with pytest.raises(ValueError, match="unknown protocol 'disentanglement'"):
        study(tmp_path / "other", **tiny, protocol="disentanglement", verbose=False)


def test_dip_vae_settings_reach_the_factory_and_old_plans_stay_the_same():
    """DIP-VAE cells get their λ_od through the one factory; plans without it serialise as before."""
    from tfbetavae.objectives import DIPVAE
    from tfbetavae.studies.cell import cell_model
    from tfbetavae.studies.plan import Setting, make_settings

    grid = make_settings(objectives=["dip-vae-i", "dip-vae-ii"], lambdas_od=[5.0, 20.0])
    assert [s.key for s in grid] == [f"dip-vae-{t}_learning_rate=0.0001_latent_dim=10_lambda_od={v}"
                                     for t in ("i", "ii") for v in (5, 20)]
    model = cell_model(Setting(objective="dip-vae-ii", beta=None, lambda_od=5.0, latent_dim=3), (16, 16, 1), seed=0)
    assert isinstance(model, DIPVAE) and model.dip_type == "ii" and model.lambda_od == 5.0
    assert "lambda_od" not in Setting().as_json() and Setting(lambda_od=2.0).as_json()["lambda_od"] == 2.0
    assert make_settings(objectives=["ada-gvae"], betas=[1.0])[0].pair_k == "random"  # pairs: see the pairs test


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


def test_the_locatello2019_preset_is_the_sweep_and_prices_itself(tmp_path, capsys):
    """36 settings with disentanglement_lib's values; --plan prints the grid's size and cost here, trains nothing."""
    from tfbetavae.cli import main
    from tfbetavae.objectives import objective_name
    from tfbetavae.studies.cell import cell_model
    from tfbetavae.studies.plan import preset_settings

    grid = preset_settings("locatello2019")
    assert len(grid) == len({s.key for s in grid}) == 36
    values = {}
    for setting in grid:
        field = {"beta-vae": "beta", "beta-tcvae": "beta", "factor-vae": "gamma", "capacity": "capacity"}.get(
            setting.objective, "lambda_od")
        values.setdefault(setting.objective, []).append(getattr(setting, field))
    assert values == {"beta-vae": [1, 2, 4, 6, 8, 16], "factor-vae": [10, 20, 30, 40, 50, 100],
                      "dip-vae-i": [1, 2, 5, 10, 20, 50], "dip-vae-ii": [1, 2, 5, 10, 20, 50],
                      "beta-tcvae": [1, 2, 4, 6, 8, 10], "capacity": [5, 10, 25, 50, 75, 100]}
    for setting in grid[::6]:  # one model of each objective, through the one factory
        model = cell_model(setting, (16, 16, 1), seed=0, dataset_size=1000)
        assert objective_name(model) == setting.objective
    capacity = next(s for s in grid if s.objective == "capacity")
    assert (capacity.gamma, capacity.capacity_steps) == (1000.0, 100_000)
    folder, images = tmp_path / "sweep", tmp_path / "images.npy"  # priced on 16×16 images: the same code, faster
    np.save(images, np.random.default_rng(0).random((64, 16, 16, 1), dtype=np.float32))
    assert main(["study", str(folder), "--preset", "locatello2019", "--seeds", "0,1", "--steps", "300",
                 "--batch-size", "8", "--data", str(images), "--plan"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Plan: 36 settings × 2 seeds; 72 runs of 300 steps; training alone ≈ .* a step at batch 8", out)
    assert not (folder / "runs").exists()


def test_a_study_trains_pair_objectives_on_pairs_of_its_data(tmp_path):
    """ada-gvae cells train on pairs drawn from the study's ground-truth data and are scored on single images."""
    rows = study(tmp_path / "pairs", objectives=["ada-gvae", "beta-vae"], betas=[1.0], seeds=[0], eval_steps=[6],
                 latent_dims=3, batch_size=8, scores=["mig"], metric_sizes={"mig": {"num_train": 200}}, fast=True,
                 networks=small_networks, verbose=False)
    assert {row["setting"] for row in rows} == {"ada-gvae pair_k=random", "beta-vae"}
    pair_row = next(row for row in rows if row["objective"] == "ada-gvae")
    assert pair_row["pair_k"] == "random" and 0.0 <= pair_row["mig"] <= 1.0 and pair_row["reconstruction"] > 0
    with pytest.raises(ValueError, match="draws the pairs of ada-gvae and ada-ml-vae from data with known factors"):
        study(tmp_path / "refused", objectives=["ada-gvae"], betas=[1.0], seeds=[0], eval_steps=[2],
              data=str(tmp_path / "pairs"), verbose=False)


def test_rows_scored_before_rows_named_their_data_count_as_the_studys_data(tiny_study, tmp_path):
    """A study grown by seeds mixes old rows (no "data" key) with new ones: they must not look like two data sets."""
    import shutil

    from tfbetavae.studies.reporting import compare

    original, _ = tiny_study
    folder = tmp_path / "mixed"
    shutil.copytree(original, folder)
    run = next((folder / "runs").iterdir())
    rows = json.loads((run / "study_scores.json").read_text())
    (run / "study_scores.json").write_text(json.dumps([{k: v for k, v in r.items() if k != "data"} for r in rows]))
    collected = collect_results(folder)
    assert {r["data"] for r in collected} == {"dsprites"}
    assert any(s.startswith("β=4 vs β=1") for s in compare(collected, "mig", step=30))
