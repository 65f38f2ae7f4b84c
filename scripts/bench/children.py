"""Child processes of the benchmark: settings that apply only at a process's start (the instruction set oneDNN may
use, TensorFlow's thread pools, oneDNN's verbose log) are measured in a fresh process each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ENTRY = Path(__file__).resolve().parents[1] / "bench.py"  # the command line, also used to start children
NATIVE = "native"
# Variables that cap the instruction set: oneDNN's (TensorFlow's and PyTorch's convolutions and matmuls),
# PyTorch's own ATen kernels (element-wise work, Adam) and MKL (PyTorch's dense layers). TensorFlow's Eigen kernels
# are built for AVX (its start-up message asks for a rebuild to use AVX2 and FMA), so they run the same code under
# any cap, as they would on a real AVX2 CPU.
CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")
_FAMILIES = (  # (prefix of oneDNN's ISA name, ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS), longest prefix first
    ("AVX512", "avx512", "AVX512"),
    ("AVX10", "avx512", "AVX512"),
    ("AVX2", "avx2", "AVX2"),
    ("AVX", "default", "AVX"),
    ("SSE41", "default", "SSE4_2"),
)


def command(*args: str) -> list[str]:
    """The command line of a benchmark child process with ``args``."""
    return [sys.executable, str(ENTRY), *args]


def isa_environment(isa: str) -> dict:
    """The variables that cap a child at ``isa`` (a name ``ONEDNN_MAX_CPU_ISA`` takes, e.g. ``AVX2``), or none
    for ``native`` (the machine's own instruction set)."""
    if isa == NATIVE:
        return {}
    name = isa.upper()
    for prefix, aten, mkl in _FAMILIES:
        if name.startswith(prefix):
            return {"ONEDNN_MAX_CPU_ISA": name, "ATEN_CPU_CAPABILITY": aten, "MKL_ENABLE_INSTRUCTIONS": mkl}
    raise ValueError(f"unknown instruction set {isa!r}: give 'native' or a ONEDNN_MAX_CPU_ISA name such as AVX2 or "
                     "AVX512_CORE")


def run_child(job: str, env_updates: dict, quick: bool, args=(), timeout: float = 3600) -> tuple[dict, str]:
    """Runs ``bench --child job`` with the caps removed from the environment, then ``env_updates`` added; returns
    the JSON it wrote and its standard output. A failed child raises RuntimeError with the end of its stderr."""
    env = {key: value for key, value in os.environ.items() if key not in CAPS}
    env.update(env_updates)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "child.json"
        line = command("--child", job, "--json", str(out), *(["--quick"] if quick else []), *args)
        done = subprocess.run(line, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"benchmark child {job!r} ({env_updates or 'native'}) failed with status "
                               f"{done.returncode}: {done.stderr[-3000:]}")
        return json.loads(out.read_text()), done.stdout
