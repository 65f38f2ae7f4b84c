"""The command line as a whole: every subcommand is registered, evaluate scores a model, scripts wrap the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tfbetavae import BetaVAE, dsprites, train
from tfbetavae.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_every_subcommand_is_registered():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"train", "evaluate", "export", "traverse", "tune"} <= set(commands)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    train(BetaVAE(latent_dim=3, seed=0), dsprites(), steps=4, batch_size=8, run_dir=run, verbose=0)
    return run


def test_evaluate_scores_a_run(tiny_run, tmp_path, capsys):
    out = tmp_path / "scores.json"
    code = main(["evaluate", "--model", str(tiny_run), "--metrics", "beta_vae,mig", "--num-train", "40",
                 "--num-eval", "20", "--json", str(out)])
    assert code == 0
    scores = json.loads(out.read_text())
    assert set(scores) == {"beta_vae_train_accuracy", "beta_vae_eval_accuracy", "mig"}
    assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert "beta_vae_eval_accuracy" in capsys.readouterr().out


def test_evaluate_errors_are_clear(tiny_run, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_run), "--metrics", "accuracy"]) == 2
    assert "unknown metric 'accuracy'" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_scripts_wrap_the_command_line():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "--metrics" in out.stdout


def test_public_api_resolves_every_name():
    import tfbetavae

    for name in tfbetavae.__all__:
        assert getattr(tfbetavae, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        tfbetavae.nothing  # noqa: B018
