"""`--representation sampled` in studies and the tuner: posterior draws are scored, the choice is recorded, and a
study or search resumed with the other choice is refused by name (old study.json files read as the means)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tfbetavae.cli import main

ROOT = Path(__file__).resolve().parents[1]
MIG_POINTS = 200
# One cell, 4 steps, latent 3, batch 8, MIG on 200 points: the same toy run on the command line and in Python.
STUDY_ARGS = ["--betas", "4", "--seeds", "0", "--steps", "4", "--latent-dim", "3", "--batch-size", "8",
              "--scores", "mig", "--metric-sizes", json.dumps({"mig": {"num_train": MIG_POINTS}}), "--fast"]
STUDY_KWARGS = {"betas": [4.0], "seeds": [0], "steps": 4, "latent_dims": 3, "batch_size": 8, "scores": ["mig"],
                "metric_sizes": {"mig": {"num_train": MIG_POINTS}}, "fast": True, "verbose": False}
TUNE_ARGS = ["--trials", "1", "--steps", "4", "--betas", "4", "--latent-dim", "3", "--batch-size", "8",
             "--objective", "mig", "--num-train", str(MIG_POINTS), "--no-export", "--quiet"]
TUNE_KWARGS = {"max_trials": 1, "steps": 4, "objective": "mig", "betas": [4.0], "latent_dim": 3, "batch_size": 8,
               "metric_kwargs": {"num_train": MIG_POINTS}, "report": False}


def _mig(model, representation: str, seed: int) -> float:
    from tfbetavae import dsprites
    from tfbetavae.metrics import evaluate

    return evaluate(model, dsprites(), names=["mig"], seed=seed, representation=representation, progress=False,
                    num_train=MIG_POINTS)["mig"]


@pytest.fixture(scope="module")
def sampled_study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("representation") / "study"
    assert main(["study", str(folder), *STUDY_ARGS, "--representation", "sampled"]) == 0
    return folder


def test_a_study_scores_posterior_draws_and_records_them(sampled_study):
    from tfbetavae import load
    from tfbetavae.studies import collect_results, load_plan

    plan_json = json.loads((sampled_study / "study.json").read_text())
    assert plan_json["representation"] == "sampled" and load_plan(sampled_study).representation == "sampled"
    (row,) = collect_results(sampled_study)
    assert row["representation"] == "sampled" and row["protocol"] == "library"
    # The row's score is evaluate()'s on draws from the cell's model, with the study's eval seed; the means differ.
    model = load(sampled_study / "runs" / row["cell"])
    sampled, mean = _mig(model, "sampled", row["eval_seed"]), _mig(model, "mean", row["eval_seed"])
    assert row["mig"] == pytest.approx(sampled, abs=1e-6)
    assert abs(sampled - mean) > 1e-4, (sampled, mean)
    from tfbetavae.studies import report

    report(sampled_study, verbose=False)  # the summary and the CSV say the codes were sampled
    assert "on sampled codes" in (sampled_study / "summary.md").read_text()
    header = (sampled_study / "results.csv").read_text().splitlines()[0].split(",")
    assert header.index("representation") < header.index("mig")  # with the record, before the scores


def test_a_resumed_study_refuses_the_other_representation_by_name(sampled_study, capsys):
    from tfbetavae.studies import load_plan, study

    assert main(["study", str(sampled_study), *STUDY_ARGS]) == 2  # the default, mean
    assert 'representation: "sampled" -> "mean"' in capsys.readouterr().err
    with pytest.raises(ValueError, match='representation: "sampled" -> "mean"'):
        study(sampled_study, **STUDY_KWARGS)
    rows = study(sampled_study, **STUDY_KWARGS, representation="sampled")  # the same study: nothing to train
    assert [row["representation"] for row in rows] == ["sampled"]
    # A plan written before the choice existed reads as the means and is still the same plan (it resumes).
    old = ROOT / "docs" / "paper_study" / "study.json"
    assert "representation" not in json.loads(old.read_text())
    plan = load_plan(old.parent)
    assert plan.representation == "mean" and plan.to_json() == json.loads(old.read_text())
    with pytest.raises(ValueError, match="representation must be one of"):
        study(sampled_study.parent / "bad", **STUDY_KWARGS, representation="median")
    with pytest.raises(ValueError, match="UDR, which compares posterior means"):
        study(sampled_study.parent / "udr", **{**STUDY_KWARGS, "scores": ["udr"], "metric_sizes": None},
              representation="sampled")


def test_a_search_scores_posterior_draws_records_them_and_refuses_the_means_on_resume(tmp_path, capsys):
    from tfbetavae.tuning import results_table, search
    from tfbetavae.tuning.results import scoring

    folder = tmp_path / "tune"
    assert main(["tune", "--dir", str(folder), *TUNE_ARGS, "--representation", "sampled"]) == 0
    assert "on sampled codes" in capsys.readouterr().out
    (row,) = json.loads((folder / "results.json").read_text())
    assert row["representation"] == "sampled" and row["status"] == "COMPLETED"
    assert json.loads((folder / "tfbetavae_search.json").read_text())["representation"] == "sampled"

    tuner = search(directory=tmp_path, project_name="tune", representation="sampled", **TUNE_KWARGS)  # resumes
    assert scoring(tuner)["representation"] == "sampled" and results_table(tuner)[0]["representation"] == "sampled"
    model = tuner.get_best_models(1)[0]
    seed = tuner.hypermodel.eval_seed
    sampled, mean = _mig(model, "sampled", seed), _mig(model, "mean", seed)
    assert row["score"] == pytest.approx(sampled, abs=1e-6)
    assert abs(sampled - mean) > 1e-4, (sampled, mean)

    with pytest.raises(ValueError, match="representation: 'sampled' -> the default"):
        search(directory=tmp_path, project_name="tune", **TUNE_KWARGS)
    assert main(["tune", "--dir", str(folder), *TUNE_ARGS]) == 2
    assert "representation: 'sampled' -> the default" in capsys.readouterr().err
    with pytest.raises(ValueError, match="UDR compares posterior means"):
        search(directory=tmp_path, project_name="udr", max_trials=1, steps=2, objective="udr", representation="sampled")
    assert main(["tune", "--dir", str(tmp_path / "udr"), "--objective", "udr", "--representation", "sampled"]) == 2
    assert "--representation set a registry metric" in capsys.readouterr().err


def test_the_commands_offer_the_one_list_of_representations():
    import argparse

    from tfbetavae.choices import REPRESENTATIONS
    from tfbetavae.cli import build_parser

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("study", "tune"):
        action = next(a for a in subparsers.choices[command]._actions if "--representation" in a.option_strings)
        assert tuple(action.choices) == REPRESENTATIONS and action.default == "mean"
