"""Studies: a tiny grid end to end, its results and report, resuming, extending and growing it, bad input.

Kill-and-resume and local workers are in tests/test_study_cluster.py; data axes, protocols, presets and pair
objectives in tests/test_study_grids.py (separate files, so `pytest -n 2 --dist loadfile` spreads them)."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path

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
