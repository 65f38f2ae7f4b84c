"""KerasTuner β search: tiny searches with every tuner, objective direction, resume after SIGKILL, chief/worker
loopback, the ``tune`` CLI, and clear errors. Models are tiny (latent_dim 2, a few steps) to stay fast."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import keras_tuner as kt
import numpy as np
import pytest

from tfbetavae.cli import main
from tfbetavae.model import BetaVAE
from tfbetavae.tuning import (
    BetaVAEHyperModel,
    constrained_score,
    export_best,
    exported_version,
    format_table,
    plot_tradeoff,
    results_table,
    search,
)

WORKER = Path(__file__).with_name("tuning_worker.py")
TINY = {"latent_dim": 2, "batch_size": 8, "num_eval_images": 32}
TINY_METRIC = {"num_train": 50, "num_eval": 50, "batch_size": 4}


def planted_score(model, data, seed):
    """Best at β = 4: the tuner must maximise it."""
    return -abs(math.log(model.beta) - math.log(4.0))


# --------------------------------------------------------------------------- searches in process
def test_tiny_search_records_best_trial_and_its_beta(tmp_path, sprites):
    tuner = search(
        sprites, tmp_path, "tiny", max_trials=3, steps=5, betas=[1, 4, 16], metric_kwargs=TINY_METRIC, **TINY
    )
    rows = results_table(tuner)
    assert [row["status"] for row in rows] == ["COMPLETED"] * 3
    assert sorted(row["beta"] for row in rows) == [1.0, 4.0, 16.0]
    for row in rows:
        assert row["steps"] == 5 and row["latent_dim"] == 2
        assert row["reconstruction"] > 0 and row["kl"] >= 0 and 0 <= row["active_dims"] <= 2
        assert 0 <= row["score"] <= 1 and row["score"] == row["objective"]
    assert tuner.oracle.objective.name == "beta_vae_eval_accuracy"
    assert tuner.oracle.objective.direction == "max"
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == max(row["score"] for row in rows)
    assert best.metrics.exists("beta_vae_train_accuracy")

    # The best model reloads with its β and trained weights; its score is the held-out one (eval seed 1).
    model = tuner.get_best_models(1)[0]
    assert isinstance(model, BetaVAE)
    assert model.beta == best.hyperparameters.get("beta") and int(model.step_counter.numpy()) == 5
    from tfbetavae.metrics import evaluate

    again = evaluate(model, sprites, ["beta_vae"], seed=1, progress=False, **TINY_METRIC)
    assert again["beta_vae_eval_accuracy"] == pytest.approx(best.score)

    table = format_table(rows, best_id=best.trial_id)
    assert "beta" in table and "reconstruction" in table and "active dims" in table and "*" in table
    assert plot_tradeoff(rows, tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"

    # The winner is exported once: the same best trial again is the same version, unless asked for a new one.
    first = export_best(tuner, tmp_path / "exported")
    assert first == tmp_path / "exported" / "1" and exported_version(tuner, tmp_path / "exported") == first
    assert export_best(tuner, tmp_path / "exported") == first
    assert export_best(tuner, tmp_path / "exported", only_if_changed=False) == tmp_path / "exported" / "2"
    assert exported_version(tuner, tmp_path / "elsewhere") is None


def test_a_new_best_trial_is_exported_as_a_new_version(tmp_path, sprites):
    def run(trials):
        return search(sprites, tmp_path, "grow", max_trials=trials, steps=1, objective=planted_score,
                      betas=[1, 4, 16], **TINY)

    tuner = run(1)
    assert [row["beta"] for row in results_table(tuner)] == [1.0]  # the oracle's first draw (seeded)
    assert export_best(tuner, tmp_path / "exported").name == "1"
    tuner = run(3)  # resumed with more trials: β = 4 wins the planted objective now
    assert tuner.oracle.get_best_trials(1)[0].hyperparameters.get("beta") == 4.0
    assert exported_version(tuner, tmp_path / "exported") is None
    second = export_best(tuner, tmp_path / "exported")
    assert second.name == "2" and json.loads((second / "model_card.json").read_text())["model"]["beta"] == 4.0
    assert export_best(run(3), tmp_path / "exported") == second  # and a rerun of the finished search adds nothing


def test_hyperband_passes_epochs_and_continues_from_parent_weights(tmp_path, sprites, caplog):
    caplog.set_level(logging.INFO, logger="tfbetavae.tuning")
    tuner = search(sprites, tmp_path, "hb", tuner="hyperband", max_trials=3, steps=4, max_epochs=2, factor=2,
                   objective=planted_score, betas=[1, 2, 4, 8, 16], **TINY)
    rows = results_table(tuner)
    assert len(rows) == 3 and all(row["status"] == "COMPLETED" for row in rows)
    first_round, continued = rows[:2], rows[2]
    assert [row["steps"] for row in first_round] == [2, 2]  # 1 epoch of ceil(4 / 2) steps
    parent = max(first_round, key=lambda row: row["score"])
    assert continued["parent"] == parent["trial"] and continued["beta"] == parent["beta"]  # numbered from 1
    assert continued["steps"] == 4  # epochs 1 -> 2 on top of the parent's weights (step counter 2)
    model = tuner.load_model(tuner.oracle.get_trial(continued["trial_id"]))
    assert int(model.optimizer.iterations.numpy()) == 4  # Adam's state came along too
    # The progress lines count each trial's own budget: a first-round trial 2 steps, the continued one 4.
    lines = [record.getMessage() for record in caplog.records if record.name == "tfbetavae.tuning"]
    assert lines[0] == f"search {tmp_path / 'hb'}: 3 trials, each scored with a score function"
    for row, budget in ((first_round[0], 2), (first_round[1], 2), (continued, 4)):
        assert any(line.startswith(f"trial {row['trial']}/3: β={row['beta']:g} seed 0, step {budget}/{budget}, "
                                   f"score {row['score']:.3f}, reconstruction ") for line in lines), lines


def test_planted_objective_bayesian_search_resumes_without_rerunning_finished_trials(tmp_path, sprites):
    from tuning_worker import LoggingHyperModel

    log = tmp_path / "log.txt"

    def hypermodel(steps=1):
        return LoggingHyperModel(sprites, steps=steps, betas=[1, 4, 16], objective=planted_score,
                                 log_path=str(log), trial_sleep=0.0, **TINY)

    search(directory=tmp_path, project_name="planted", tuner="bayesian", max_trials=2, hypermodel=hypermodel())
    assert log.read_text().count("done") == 2
    # KerasTuner writes oracle.json at the end of a trial before dropping it from the ongoing trials; a kill at
    # that moment leaves a finished trial "ongoing", which KerasTuner alone would re-run on reload. Simulate it.
    oracle_file = tmp_path / "planted" / "oracle.json"
    state = json.loads(oracle_file.read_text())
    state["ongoing_trials"] = {"tuner0": "1"}
    oracle_file.write_text(json.dumps(state))
    tuner = search(directory=tmp_path, project_name="planted", tuner="bayesian", max_trials=3, hypermodel=hypermodel())
    lines = log.read_text().split()
    assert lines.count("start") == 3 and lines.count("done") == 3  # one more trial, nothing repeated
    rows = results_table(tuner)
    assert sorted(row["beta"] for row in rows) == [1.0, 4.0, 16.0]

    # The planted objective is maximised: β = 4 wins.
    best = tuner.oracle.get_best_trials(1)[0]
    assert tuner.oracle.objective.name == "score" and tuner.oracle.objective.direction == "max"
    assert best.hyperparameters.get("beta") == 4.0 and best.score == pytest.approx(0.0)

    with pytest.raises(ValueError, match="other settings.*steps"):
        search(directory=tmp_path, project_name="planted", tuner="bayesian", max_trials=3, hypermodel=hypermodel(2))


# --------------------------------------------------------------------------- subprocesses
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KERASTUNER_")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)
    return env


def _start(args, output: Path, **env) -> subprocess.Popen:
    with open(output, "w") as handle:
        return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=handle,
                                stderr=subprocess.STDOUT, env=_env(**env))


def _stop(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _trial_states(project: Path) -> dict:
    states = {}
    for path in project.glob("trial_*/trial.json"):
        try:
            trial = json.loads(path.read_text())
        except (OSError, ValueError):  # being written
            continue
        states[trial["trial_id"]] = (trial["status"], trial["hyperparameters"]["values"].get("beta"))
    return states


def _log_lines(path: Path) -> list[tuple[str, float, int]]:
    if not path.exists():
        return []
    return [(event, float(beta), int(pid)) for event, beta, pid in (line.split() for line in path.read_text().splitlines())]


def test_search_killed_after_first_trial_resumes_without_repeating(tmp_path):
    project, log, results = tmp_path / "search", tmp_path / "log.txt", tmp_path / "results.json"
    args = ["--dir", tmp_path, "--trials", 3, "--log", log, "--results", results, "--trial-sleep", 0.5]
    first = _start(args, tmp_path / "first.out")
    try:
        deadline = time.monotonic() + 150
        while not any(status == "COMPLETED" for status, _ in _trial_states(project).values()):
            assert first.poll() is None, (tmp_path / "first.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "no trial completed in time"
            time.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        _stop([first])
    completed = {tid: beta for tid, (status, beta) in _trial_states(project).items() if status == "COMPLETED"}
    assert 1 <= len(completed) < 3

    second = _start(args, tmp_path / "second.out")
    try:
        assert second.wait(timeout=150) == 0, (tmp_path / "second.out").read_text()[-3000:]
    finally:
        _stop([second])
    rows = json.loads(results.read_text())
    assert len(rows) == 3 and all(row["status"] == "COMPLETED" for row in rows)
    assert len({row["beta"] for row in rows}) == 3
    for row in rows:
        if row["trial_id"] in completed:
            assert row["beta"] == completed[row["trial_id"]]
    events = _log_lines(log)
    started_again = {beta for event, beta, pid in events if event == "start" and pid == second.pid}
    assert not started_again & set(completed.values()), "a completed trial ran again"
    assert len(started_again) == 3 - len(completed)
    finished = Counter(beta for event, beta, _ in events if event == "done")
    assert sorted(finished) == sorted(row["beta"] for row in rows) and set(finished.values()) == {1}


def test_chief_and_two_workers_on_loopback(tmp_path):
    log, results = tmp_path / "log.txt", tmp_path / "results.json"
    args = ["--dir", tmp_path, "--trials", 4, "--log", log, "--results", results, "--num-workers", 2]
    network = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(_free_port())}
    processes = {}
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            processes[tuner_id] = _start(args, tmp_path / f"{tuner_id}.out", KERASTUNER_TUNER_ID=tuner_id, **network)
        deadline = time.monotonic() + 240
        for tuner_id in ("tuner0", "tuner1", "chief"):
            code = processes[tuner_id].wait(timeout=max(1.0, deadline - time.monotonic()))
            assert code == 0, (tmp_path / f"{tuner_id}.out").read_text()[-3000:]
    finally:
        _stop(processes.values())
    rows = json.loads(results.read_text())  # written by the chief from its oracle
    assert "So Far" not in (tmp_path / "chief.out").read_text()  # KerasTuner's per-trial display stays off
    assert len(rows) == 4 and all(row["status"] == "COMPLETED" for row in rows)
    events = _log_lines(log)
    done = Counter(beta for event, beta, _ in events if event == "done")
    assert sorted(done) == sorted(row["beta"] for row in rows) and set(done.values()) == {1}  # each trial once
    runners = {pid for _, _, pid in events}
    assert runners <= {processes["tuner0"].pid, processes["tuner1"].pid}  # the chief only serves the oracle
    assert max(row["objective"] for row in rows) == pytest.approx(max(-abs(math.log(b / 4)) for b in done))


# --------------------------------------------------------------------------- CLI
def test_cli_prints_progress_table_writes_plot_and_exports_best(tmp_path, capsys):
    folder, export = tmp_path / "tuning" / "cli", tmp_path / "exported"
    command = [
        "tune", "--data", "dsprites", "--betas", "1,4,16", "--trials", "2", "--steps", "3", "--dir", str(folder),
        "--objective", "mig", "--num-train", "40", "--latent-dim", "2", "--batch-size", "8", "--eval-images", "32",
        "--export-dir", str(export),
    ]
    assert main(command) == 0
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    for column in ("beta", "score", "reconstruction", "KL", "active dims"):
        assert column in out
    assert "scored mig on 40 points (sizes given)" in out
    # Its own lines, not KerasTuner's tables; trials counted from 1 in the lines and in the table alike.
    assert "Best Value So Far" not in out + err and "Running Trial" not in out + err
    assert "each scored with mig on 40 points" in err
    rows = json.loads((folder / "results.json").read_text())
    assert len({row["beta"] for row in rows}) == 2 and [row["trial"] for row in rows] == [1, 2]
    for row in rows:
        assert f"trial {row['trial']}/2: β={row['beta']:g} seed 0, step 3/3, mig {row['score']:.3f}" in err
        assert re.search(rf"^trial {row['trial']}/2: .*scoring mig on 40 points .*\d+ s left", err, re.MULTILINE)
        assert re.search(rf"^\s*{row['trial']}( \*)?\s+{row['beta']:g}\s", out, re.MULTILINE), out
    assert (folder / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    card = json.loads((export / "1" / "model_card.json").read_text())
    best = max(rows, key=lambda row: row["objective"])
    assert card["model"]["beta"] == best["beta"] and card["scores"]["mig"] == pytest.approx(best["score"])
    assert card["training"]["trial_id"] == best["trial_id"] and card["training"]["data"] == "dsprites"
    assert card["training"]["trial"] == best["trial"] and card["training"]["metric_sizes"] == {"num_train": 40}
    assert card["scoring"] == {"protocol": "library", "metric_sizes": {"mig": {"num_train": 40}},
                               "seed": card["scoring"]["seed"]}  # how the card's scores were made
    assert all(row["protocol"] == "library" and row["metric_sizes"] == {"mig": {"num_train": 40}} for row in rows)
    assert (export / "1" / "saved_model.pb").exists()

    # A rerun of the finished search trains nothing and writes no new version of the unchanged best model.
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "(2 done before: resuming)" in captured.err and "trained in" not in captured.err
    assert f"unchanged: already exported as {export / '1'}" in captured.out
    assert sorted(p.name for p in export.iterdir()) == ["1"]

    # --verbose brings KerasTuner's own per-trial display back, numbered as ours.
    assert main([*command[:6], "3", *command[7:], "--verbose"]) == 0
    captured = capsys.readouterr()
    assert "So Far" in captured.out and "Trial 3 Complete" in captured.out and "trial 3/3: β=" in captured.err


@pytest.mark.slow
def test_cli_scores_at_the_tuners_sizes_and_exports_under_its_own_folder(tmp_path, capsys, monkeypatch, sprites):
    """The default objective (β-VAE score) at the default sizes: the trial's score is the β-VAE score at
    TUNING_SIZES, the output says so, and the winner lands in DIR/exported, never in exported_models/."""
    from tfbetavae.tuning import TUNING_SIZES

    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--betas", "4", "--trials", "1", "--steps", "2", "--dir", "tuning/first", "--latent-dim", "2",
                 "--batch-size", "8", "--eval-images", "32"]) == 0
    captured = capsys.readouterr()
    sizes = TUNING_SIZES["beta_vae"]
    told = f"beta_vae on {sizes['num_train']} + {sizes['num_eval']} points (the tuner's sizes)"
    assert told in captured.out and told in captured.err and "--paper-sizes" in captured.err
    assert not (tmp_path / "exported_models").exists()
    card = json.loads((tmp_path / "tuning" / "first" / "exported" / "1" / "model_card.json").read_text())
    assert card["training"]["metric_sizes"] == sizes and card["training"]["paper_sizes"] is False
    from tfbetavae import load
    from tfbetavae.metrics import evaluate

    model = load(tmp_path / "tuning" / "first" / "exported" / "1" / "model.keras")
    again = evaluate(model, sprites, ["beta_vae"], seed=1, progress=False, **sizes)
    assert again["beta_vae_eval_accuracy"] == pytest.approx(card["scores"]["score"])


def test_metric_sizes_default_to_the_tuners_and_paper_sizes_are_one_argument_away(sprites):
    import inspect

    from tfbetavae.metrics import beta_vae_score
    from tfbetavae.tuning import TUNING_SIZES
    from tfbetavae.tuning.sizes import describe_sizes, sizes_in_effect

    def effective(**kwargs):
        hypermodel = BetaVAEHyperModel(sprites, steps=1, **kwargs)
        return sizes_in_effect(hypermodel.metric, hypermodel.metric_kwargs)

    defaults = inspect.signature(beta_vae_score).parameters
    assert effective() == TUNING_SIZES["beta_vae"]
    assert effective(paper_sizes=True) == {"num_train": defaults["num_train"].default,
                                           "num_eval": defaults["num_eval"].default}
    assert effective(metric_kwargs={"num_train": 7}) == {**TUNING_SIZES["beta_vae"], "num_train": 7}
    assert effective(objective="mig") == TUNING_SIZES["mig"]
    assert effective(objective="dci", paper_sizes=True) == {"num_train": 10000, "num_test": 5000}
    # The sizes are part of the search's identity: a folder scored at other sizes is another search.
    assert BetaVAEHyperModel(sprites, steps=1).settings() != BetaVAEHyperModel(sprites, steps=1, paper_sizes=True).settings()
    assert describe_sizes("beta_vae", {"num_train": 10000, "num_eval": 5000}, True) == (
        "beta_vae on 10000 + 5000 points (the paper's sizes)"
    )
    assert describe_sizes("factor_vae", TUNING_SIZES["factor_vae"], False).endswith(
        "variances on 5000 (the tuner's sizes)"
    )


# --------------------------------------------------------------------------- clear errors
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "nonsense"}, "unknown objective 'nonsense'"),
        ({"metric": "nope", "objective": "reconstruction"}, "unknown metric 'nope'"),
        ({"betas": []}, "betas is empty"),
        ({"betas": [1, 0]}, "betas entry must be a finite number > 0, got 0"),
        ({"betas": [4, -2]}, "got -2"),
        ({"beta_range": (4, 1)}, "lo < hi"),
        ({"betas": [1], "beta_range": (1, 4)}, "not both"),
        ({"latent_dim": []}, "latent_dim is empty"),
        ({"eval_seed": 0}, "eval_seed must differ"),
        ({"objective": "reconstruction", "max_reconstruction": 100.0}, "not one"),
        ({"objective": "constrained_score"}, "needs max_reconstruction"),
        ({"capacity": [5.0], "betas": [1, 4]}, "ignores β"),
        ({"metric_kwargs": {"num_bogus": 3}}, "num_bogus"),
        ({"objective": "mig", "metric": "dci"}, "disagree"),
    ],
)
def test_bad_hypermodel_settings_raise_clear_errors(sprites, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BetaVAEHyperModel(sprites, steps=1, **kwargs)


def test_bad_search_arguments_raise_before_any_work(tmp_path, sprites):
    with pytest.raises(ValueError, match=r"max_trials.* must be a positive integer, got 0"):
        search(sprites, tmp_path, "x", max_trials=0)
    with pytest.raises(ValueError, match="tuner must be one of"):
        search(sprites, tmp_path, "x", tuner="grid")
    with pytest.raises(TypeError, match="GroundTruthData"):
        BetaVAEHyperModel([np.zeros((64, 64, 1))])
    with pytest.raises(ValueError, match="objective 'beta_vae' needs data with known factors"):
        BetaVAEHyperModel(np.zeros((4, 64, 64, 1)))  # images without factors: only objectives that need none
    hypermodel = BetaVAEHyperModel(sprites, steps=1)
    with pytest.raises(ValueError, match="unexpected arguments"):
        hypermodel.fit(kt.HyperParameters(), None, validation_data=1)
    assert not (tmp_path / "x").exists()


def test_objective_names_directions_and_constrained_score(sprites):
    def objective(**kwargs):
        hypermodel = BetaVAEHyperModel(sprites, steps=1, **kwargs)
        return hypermodel.objective.name, hypermodel.objective.direction

    assert objective() == ("beta_vae_eval_accuracy", "max")
    assert objective(objective="factor_vae") == ("factor_vae_eval_accuracy", "max")
    assert objective(objective="dci") == ("dci_disentanglement", "max")
    assert objective(objective="dci_completeness") == ("dci_completeness", "max")
    assert objective(objective="reconstruction") == ("reconstruction", "min")
    assert objective(objective="unsupervised") == ("unsupervised_gaussian_total_correlation", "min")  # the catalogue's
    assert objective(objective="mig", max_reconstruction=50.0) == ("constrained_score", "max")
    assert objective(objective=kt.Objective("active_dims", "min")) == ("active_dims", "min")
    assert constrained_score(0.7, 40.0, 50.0) == 0.7
    assert constrained_score(0.9, 60.0, 50.0) == pytest.approx(-1.2)
    assert constrained_score(0.0, 50.0, 50.0) > constrained_score(1.0, 50.001, 50.0)


def test_cli_errors_are_reported_not_raised(tmp_path, capsys):
    base = ["tune", "--dir", str(tmp_path / "t"), "--steps", "1"]
    assert main([*base, "--trials", "0"]) == 2
    assert "--trials must be >= 1" in capsys.readouterr().err
    assert main([*base, "--betas", "1,-2"]) == 2
    assert "got -2" in capsys.readouterr().err
    assert main([*base, "--objective", "bogus"]) == 2
    assert "unknown objective 'bogus'" in capsys.readouterr().err
    assert main([*base, "--objective", "mig", "--num-eval", "10"]) == 2
    assert "no evaluation set" in capsys.readouterr().err
