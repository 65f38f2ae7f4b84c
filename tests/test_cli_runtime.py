"""The command line's quiet TensorFlow import leaves room for what must be set before TensorFlow's runtime starts:
thread counts (study/tune --threads) and a multi-worker strategy's collective ops (train --strategy multiworker)."""

from __future__ import annotations

import os
import subprocess
import sys

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_a_study_with_threads_runs_from_the_command_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tfbetavae", "study", str(tmp_path / "s"), "--betas", "1", "--seeds", "0",
         "--steps", "2", "--batch-size", "4", "--latent-dim", "2", "--scores", "mig", "--fast", "--threads", "1",
         "--metric-sizes", '{"mig": {"num_train": 64}}'],
        capture_output=True, text=True, timeout=600, env=ENV,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "s" / "results.json").is_file()


def test_the_quiet_import_can_leave_the_runtime_unstarted():
    """After the quiet import for a multi-worker run, settings that need a fresh runtime can still be made."""
    code = (
        "from tfbetavae.cli import import_tensorflow_quietly\n"
        "import_tensorflow_quietly(fresh_context=True)\n"
        "import tensorflow as tf\n"
        "tf.config.threading.set_intra_op_parallelism_threads(1)\n"  # raises once the runtime has started
        "print('fresh')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=ENV)
    assert out.returncode == 0 and out.stdout.strip() == "fresh", out.stderr[-2000:]
    started = code.replace("fresh_context=True", "fresh_context=False")
    out = subprocess.run([sys.executable, "-c", started], capture_output=True, text=True, timeout=300, env=ENV)
    assert out.returncode != 0 and "cannot be modified after initialization" in out.stderr  # the test can fail
