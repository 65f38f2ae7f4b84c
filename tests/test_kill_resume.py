"""kill -9 a training run at random points; the restarts resume and end where an uninterrupted run ends."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

import tfbetavae.model  # noqa: F401 - registers BetaVAE, so keras.models.load_model reads the checkpoints

WORKER = str(Path(__file__).with_name("kill_worker.py"))


def _epochs_logged(run_dir):
    history = Path(run_dir) / "history.csv"
    return max(0, len(history.read_text().strip().splitlines()) - 1) if history.exists() else 0


def _run(run_dir, out, kill_at_epoch=None, delay=0.0):
    """Runs the worker; with ``kill_at_epoch`` sends SIGKILL ``delay`` s after that many epochs are logged."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, WORKER, str(run_dir), str(out)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_at_epoch is None:
        _, err = process.communicate(timeout=300)
        return process.returncode, err
    deadline = time.time() + 300
    while process.poll() is None and _epochs_logged(run_dir) < kill_at_epoch and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return process.returncode, ""


def test_kill_minus_nine_then_resume_matches_uninterrupted(tmp_path):
    code, err = _run(tmp_path / "straight", tmp_path / "straight.npy")
    assert code == 0, err[-3000:]
    reference = np.load(tmp_path / "straight.npy")

    rng = random.Random(7)
    run = tmp_path / "killed"
    kills = 0
    checkpoint_steps = []
    for epoch in (2, 5, 8):  # three kills at random moments inside later and later epochs
        code, _ = _run(run, tmp_path / "killed.npy", kill_at_epoch=epoch, delay=rng.uniform(0.0, 0.15))
        assert code == -signal.SIGKILL, "the run finished before it could be killed"
        kills += 1
        last = run / "checkpoints" / "last.keras"
        if last.exists():  # whatever survived the kill is a complete, loadable checkpoint
            checkpoint_steps.append(int(keras.models.load_model(last).step_counter.numpy()))
    code, err = _run(run, tmp_path / "killed.npy")
    assert code == 0, err[-3000:]
    assert kills == 3
    # every restart made progress: each kill found a newer complete checkpoint than the one before
    assert len(checkpoint_steps) == 3 and checkpoint_steps == sorted(set(checkpoint_steps))
    resumed = np.load(tmp_path / "killed.npy")
    # Same seed, op determinism, the data stream continued at the right batch: the same weights
    # (optimizer state, step counter and capacity schedule included), to float32 round-off.
    np.testing.assert_allclose(resumed, reference, rtol=1e-5, atol=1e-6)
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) - 1 >= 10  # every epoch logged at least once
