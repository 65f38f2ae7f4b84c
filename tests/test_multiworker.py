"""Two training workers on 127.0.0.1 with MultiWorkerMirroredStrategy agree on weights and match one worker."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = str(Path(__file__).with_name("multiworker_worker.py"))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_agree_and_match_a_single_worker(tmp_path):
    ports = [str(p) for p in _free_ports(2)]
    run_dir = tmp_path / "run"
    env = {**__import__("os").environ, "RUN_DIR": str(run_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    workers = [
        subprocess.Popen([sys.executable, WORKER, str(tmp_path / f"w{i}.json"), str(i), *ports],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for i in range(2)
    ]
    try:
        outputs = [w.communicate(timeout=300)[0] for w in workers]
    finally:
        for w in workers:
            w.kill()
    for w, output in zip(workers, outputs):
        assert w.returncode == 0, output[-3000:]
    single = subprocess.run([sys.executable, WORKER, str(tmp_path / "single.json")], capture_output=True,
                            text=True, timeout=300, env={**env, "RUN_DIR": str(tmp_path / "single_run")})
    assert single.returncode == 0, single.stderr[-3000:]

    w0, w1, one = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("w0", "w1", "single"))
    assert w0["replicas"] == 2 and one["replicas"] == 1
    assert len(w0["sums"]) == len(w1["sums"]) == 6
    np.testing.assert_allclose(w0["sums"], w1["sums"], rtol=1e-6)  # the same weights after every step
    # Same global batch of 16 split over two workers: the loss follows the single-process run.
    np.testing.assert_allclose(w0["losses"], one["losses"], rtol=0.05)
    # Only the chief (worker 0) wrote the run folder; worker 1 kept its own.
    assert (run_dir / "model.keras").exists() and (run_dir / "config.json").exists()
    assert (run_dir / "workers" / "worker_1").is_dir()
