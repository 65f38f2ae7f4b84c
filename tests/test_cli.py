"""The command line as a whole: every subcommand is registered, help is quick and quiet, runs are quiet and say
when they resume, evaluate scores a model, scripts wrap the CLI."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tfbetavae
from tfbetavae import BetaVAE, dsprites, train
from tfbetavae.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(build_parser()._subparsers._group_actions[0].choices)
# TensorFlow's C++ log lines ("I0000 00:00:… port.cc:153] oneDNN …"), absl's preamble, Python's absl/TF loggers.
LOG_LINE = re.compile(r"^[IWEF]\d{4} |absl|cuda|oneDNN|cpu_feature_guard|^WARNING:|^INFO:", re.MULTILINE)


def _quiet_env() -> dict:
    """The environment of a user who set nothing: the CLI must be quiet without TF_CPP_MIN_LOG_LEVEL."""
    return {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "GLOG_minloglevel")}


def test_every_subcommand_is_registered():
    assert {"train", "evaluate", "export", "traverse", "tune"} <= set(COMMANDS)


def test_building_the_parser_imports_no_tensorflow():
    """The reason help is quick: nothing heavy is imported until a command runs (checked in a fresh process)."""
    code = ("import sys; from tfbetavae.cli import build_parser; build_parser(); "
            "print([m for m in ('tensorflow', 'keras', 'numpy', 'keras_tuner', 'tensorflow_probability') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_quiet_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_is_quick_and_prints_no_log_lines(command):
    args = [sys.executable, "-m", "tfbetavae", *([command] if command else []), "--help"]
    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=_quiet_env())
    elapsed = time.perf_counter() - start
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: tfbetavae{' ' + command if command else ''}")
    assert "--verbose" in out.stdout
    assert out.stderr == ""
    assert elapsed < 2.0, f"tfbetavae {command or ''} --help took {elapsed:.2f} s"


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tfbetavae {tfbetavae.__version__}"


def test_verbose_goes_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--verbose", "evaluate", "--model", "m"]).verbose is True
    assert parser.parse_args(["evaluate", "--model", "m", "--verbose"]).verbose is True
    assert parser.parse_args(["evaluate", "--model", "m"]).verbose is False


def test_a_resumed_run_says_so_before_training_and_logs_nothing_else(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--steps-per-epoch", "2", "--batch-size", "8", "--latent-dim", "2", "--out", str(run)]
    assert main(["train", "--steps", "4", *tiny]) == 0
    assert "resuming" not in capsys.readouterr().err  # a fresh run does not claim to resume
    # What a kill after the last checkpoint leaves (the kill -9 test does it for real): a checkpoint at step 4 and
    # no final model. Asking for 6 steps resumes at step 4.
    (run / "model.keras").unlink()
    out = subprocess.run(
        [sys.executable, "-m", "tfbetavae", "train", "--steps", "6", *tiny], capture_output=False,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        env={**_quiet_env(), "PYTHONUNBUFFERED": "1"},
    )
    assert out.returncode == 0, out.stdout[-3000:]
    lines = out.stdout.splitlines()
    resume = [i for i, line in enumerate(lines) if line == f"resuming {run} from step 4 of 6"]
    assert len(resume) == 1, out.stdout[-3000:]
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("Epoch "))
    assert resume[0] < first_epoch and lines[first_epoch] == "Epoch 3/3"  # said before training, trains the rest
    assert not LOG_LINE.search(out.stdout), LOG_LINE.search(out.stdout).group(0)
    again = subprocess.run(  # a finished run: "nothing to do" once, not on stdout and again on stderr
        [sys.executable, "-m", "tfbetavae", "train", "--steps", "6", *tiny], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300, env={**_quiet_env(), "PYTHONUNBUFFERED": "1"},
    )
    assert again.returncode == 0 and again.stdout.count("nothing to do") == 1, again.stdout[-2000:]


@pytest.mark.parametrize(
    "objective",
    [["--objective", "beta-vae"], ["--capacity", "5"], ["--objective", "beta-tcvae"], ["--objective", "factor-vae"]],
    ids=["beta-vae", "capacity", "beta-tcvae", "factor-vae"],
)
def test_every_objective_trains_without_log_lines(tmp_path, objective):
    """Each objective's graph reaches other TensorFlow code (FactorVAE's int32 transpose made oneDNN log once)."""
    out = subprocess.run(
        [sys.executable, "-m", "tfbetavae", "train", *objective, "--steps", "2", "--batch-size", "8",
         "--latent-dim", "2", "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
        env={**_quiet_env(), "PYTHONUNBUFFERED": "1"},
    )
    assert out.returncode == 0, out.stdout[-3000:]
    assert "Training summary" in out.stdout
    assert not LOG_LINE.search(out.stdout), LOG_LINE.search(out.stdout).group(0)


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
    assert set(scores) == {"beta_vae_train_accuracy", "beta_vae_eval_accuracy", "mig",  # the scores, and how made:
                           "protocol", "metric_sizes", "seed", "beta_vae_protocol"}
    assert all(0.0 <= scores[key] <= 1.0 for key in ("beta_vae_train_accuracy", "beta_vae_eval_accuracy", "mig"))
    assert scores["protocol"] == "library" and scores["seed"] == 0 and scores["beta_vae_protocol"] == "standard"
    assert scores["metric_sizes"] == {"beta_vae": {"num_train": 40, "num_eval": 20}, "mig": {"num_train": 40}}
    printed = capsys.readouterr().out
    assert "beta_vae_eval_accuracy" in printed and "(seed 0, library protocol; beta_vae 40/20, mig 40 points)" in printed
    assert main(["evaluate", "--model", str(tiny_run), "--metrics", "mig", "--num-train", "40", "--seed", "3",
                 "--protocol", "disentanglement_lib", "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert set(scores) == {"mig", "protocol", "metric_sizes", "seed"} and scores["protocol"] == "disentanglement_lib"
    assert scores["metric_sizes"] == {"mig": {"num_train": 40}} and scores["seed"] == 3


def test_evaluate_errors_are_clear(tiny_run, tmp_path, capsys):
    assert main(["evaluate", "--model", str(tiny_run), "--metrics", "accuracy"]) == 2
    assert "unknown metric 'accuracy'" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_an_rgb_folder_run_is_evaluated_and_drawn_from_its_own_config(tmp_path, capsys, monkeypatch):
    """evaluate and traverse read --data, --image-size and --channels from the run's config.json; the images are
    20x18, so training (and traverse, which reads them again) says once that they are resized."""
    from PIL import Image

    rng = np.random.default_rng(0)
    images = tmp_path / "photos"
    images.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 18, 3), dtype=np.uint8)).save(images / f"{i}.png")
    run = tmp_path / "rgb"
    assert main(["train", "--data", str(images), "--image-size", "16,16", "--channels", "3", "--steps", "2",
                 "--batch-size", "4", "--latent-dim", "2", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert err.count("resized to 16x16") == 1, err

    monkeypatch.chdir(tmp_path)  # no --data anywhere below: the config's absolute folder is found from anywhere
    assert main(["evaluate", "--model", str(run), "--num-images", "8", "--json", "terms.json"]) == 0
    out = capsys.readouterr().out
    assert "no known factors" in out and f"from {run / 'config.json'}" in out
    terms = json.loads((tmp_path / "terms.json").read_text())
    assert terms["images"] == 8 and terms["reconstruction"] > 0 and terms["kl"] >= 0

    assert main(["traverse", "--model", str(run), "--out", "t.png", "--num-images", "4", "--steps", "3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == "t.png" and (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    assert captured.err.count("resized to 16x16") == 1

    # A flag still wins over the config, and a mismatch is one line, not a TensorFlow trace.
    assert main(["traverse", "--model", str(run), "--data", "dsprites", "--out", "t.png"]) == 2
    assert "has images of shape (64, 64, 1) but the model expects (16, 16, 3)" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(run), "--data", "dsprites"]) == 2
    assert "but the model expects (16, 16, 3)" in capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "data": "gone"}))
    assert main(["evaluate", "--model", str(run)]) == 2
    err = capsys.readouterr().err
    assert "'gone' not found" in err and "config.json; give --data" in err


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
