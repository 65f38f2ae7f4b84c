"""The locatello2019 preset, part of it: `--objective` keeps some of its models (a sweep's model families spread over
machines), and a toy-sized preset study killed with SIGKILL in the middle resumes and finishes every cell once.

Run as a script (``python tests/test_preset_study.py STUDY_DIR``) it is that toy study: the preset's β-VAE and
DIP-VAE-I settings (12), one seed, on 16×16 squares with a small MLP, 4 steps, MIG on 100 points (quick, not
meaningful numbers).
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from study_process import small_networks  # noqa: E402

from tfbetavae.data.ground_truth import GroundTruthData  # noqa: E402

MODELS = ["dip-vae-i", "beta-vae"]
CELLS = 12  # 2 models × 6 values × 1 seed
EVAL_STEPS = [2, 4]


class Squares(GroundTruthData):
    """A 4×4 bright square at one of 4 × 4 positions on a 16×16 image: the preset's networks at a toy size."""

    factor_names = ("x", "y")
    factor_sizes = (4, 4)
    observation_shape = (16, 16, 1)

    def _render(self, factors, rng):
        images = np.zeros((len(factors), 16, 16, 1), np.float32)
        for n, (x, y) in enumerate(factors):
            images[n, 4 * y:4 * y + 4, 4 * x:4 * x + 4, 0] = 1.0
        return images


def toy_preset_study(folder: str | os.PathLike, verbose: bool = True) -> list[dict]:
    from tfbetavae.studies import study

    return study(folder, preset="locatello2019", objectives=MODELS, data=Squares(), seeds=[0], eval_steps=EVAL_STEPS,
                 latent_dims=3, batch_size=8, scores=["mig"], metric_sizes={"mig": {"num_train": 100}}, fast=True,
                 threads=1, networks=small_networks, verbose=verbose)


def test_the_preset_keeps_the_models_it_is_given(tmp_path, capsys):
    from tfbetavae.cli import main
    from tfbetavae.studies.plan import LOCATELLO2019, preset_settings

    kept = preset_settings("locatello2019", objectives=MODELS)
    assert [s.objective for s in kept] == ["beta-vae"] * 6 + ["dip-vae-i"] * 6  # the preset's order
    assert [s.key for s in kept] == [s.key for s in preset_settings("locatello2019") if s.objective in MODELS]
    assert [s.lambda_od for s in kept[6:]] == list(LOCATELLO2019["dip-vae-i"][1])
    with pytest.raises(ValueError, match=r"has no model 'ada-gvae'; its models are \['beta-vae', 'factor-vae'"):
        preset_settings("locatello2019", objectives=["beta-vae", "ada-gvae"])

    images = tmp_path / "images.npy"  # priced on 16×16 images without factors: --plan trains nothing
    np.save(images, np.random.default_rng(0).random((32, 16, 16, 1), dtype=np.float32))
    base = ["study", str(tmp_path / "sweep"), "--preset", "locatello2019", "--seeds", "0", "--steps", "100",
            "--batch-size", "8", "--data", str(images), "--plan"]
    assert main([*base, "--objective", "dip-vae-i,annealed-vae"]) == 2
    assert "the locatello2019 preset has no model 'annealed-vae'" in capsys.readouterr().err
    assert main([*base, "--objective", "dip-vae-i,beta-vae"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Plan: 12 settings × 1 seeds; 12 runs of 100 steps; .*beta-vae \d+ ms, dip-vae-i \d+ ms", out)
    assert not (tmp_path / "sweep").exists()


def _events(folder: Path) -> list[tuple[str, str]]:
    return [tuple(line.split()[1:3]) for line in (folder / "events.log").read_text().splitlines()]


def _run(folder: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    with open(log, "ab") as handle:
        return subprocess.Popen([sys.executable, __file__, str(folder)], stdout=handle, stderr=subprocess.STDOUT,
                                env=env)


@pytest.mark.slow
def test_a_killed_toy_preset_study_resumes_and_finishes_every_cell_once(tmp_path):
    from tfbetavae.studies import collect_results, load_plan

    folder, log = tmp_path / "preset", tmp_path / "preset.log"
    process = _run(folder, log)
    finished, half = [], []
    deadline = time.monotonic() + 300
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
        process.send_signal(signal.SIGKILL)  # kill -9: no clean-up of any kind
        process.wait()
    stamps = {p.name: (p / "model.keras").stat().st_mtime_ns for p in finished}
    assert _run(folder, log).wait(timeout=600) == 0, log.read_text()[-3000:]

    plan = load_plan(folder)
    assert len(plan.settings) == CELLS and {s.objective for s in plan.settings} == set(MODELS)
    events = _events(folder)
    done = [cell for event, cell in events if event == "done"]
    assert len(done) == len(set(done)) == CELLS  # every cell finished exactly once
    for name, stamp in stamps.items():  # a finished cell is never started again nor rewritten
        assert sum(1 for event, cell in events if cell == name and event == "start") == 1
        assert (folder / "runs" / name / "model.keras").stat().st_mtime_ns == stamp
    assert re.search(r"seed 0: resuming from step 2 to 4", log.read_text())
    rows = collect_results(folder)
    assert len({(row["cell"], row["step"]) for row in rows}) == len(rows) == CELLS * len(EVAL_STEPS)
    assert all(0.0 <= row["mig"] <= 1.0 and row["reconstruction"] > 0 for row in rows)
    books = [json.loads(p.read_text()) for p in (folder / "oracle").glob("trial_*/trial.json")]
    completed = [tuple(b["hyperparameters"]["values"].values()) for b in books if b["status"] == "COMPLETED"]
    assert len(completed) == len(set(completed)) == CELLS  # KerasTuner's books: each cell once


if __name__ == "__main__":
    toy_preset_study(sys.argv[1])
