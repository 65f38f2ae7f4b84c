"""Study grids beyond β × seed: a data axis, the disentanglement_lib protocol, the locatello2019 preset, pair
objectives and DIP-VAE settings."""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tfbetavae.studies import study

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from study_process import TINY, small_networks  # noqa: E402


def _events(folder: Path) -> list[tuple[str, str, str]]:
    lines = (folder / "events.log").read_text().splitlines()
    return [tuple(line.split()[1:4]) for line in lines]


# On the MLP pair of ``small_networks``: what is tested is the grid's data axis, not the networks (the standard ones
# train in tests/test_study.py), and the MLP traces in a fraction of their time.
DATA_AXIS = {**TINY, "seeds": [0], "eval_steps": [10, 20], "data": ["dsprites", "color-dsprites"],
             "networks": small_networks}


@pytest.fixture(scope="module")
def data_axis_study(tmp_path_factory):
    """2 data sets × 2 β × 1 seed at toy sizes: every cell on its own data set, on the user's networks."""
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

