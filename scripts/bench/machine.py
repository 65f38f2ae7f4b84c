"""The machine a result was measured on: CPU model, its vector units, threads and load."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from .measure import load

# The flags that decide which kernels oneDNN (TensorFlow's and PyTorch's) can use: AVX2 and FMA, AVX-512,
# bfloat16 dot products (AVX512-BF16), and Intel's matrix tiles (AMX).
VECTOR_FLAGS = ("fma", "avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set:
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.partition(":")[0].strip() == "flags"
            for flag in line.partition(":")[2].split()}


def vector_units(flags: set | None = None) -> dict:
    """Which of ``VECTOR_FLAGS`` the CPU lists, and one line naming them (``AVX2 + AVX-512 + AVX512-BF16``)."""
    flags = cpu_flags() if flags is None else flags
    has = {flag: flag in flags for flag in VECTOR_FLAGS}
    names = [name for flag, name in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_bf16", "AVX512-BF16"),
                                     ("amx_tile", "AMX")) if has[flag]]
    return {**has, "summary": " + ".join(names) or "no AVX2"}


def cpu() -> dict:
    return {"model": cpu_name(), "cores": os.cpu_count(), "vector_units": vector_units()}


def machine_info(threads: int | None, inter_threads: int | None) -> dict:
    import keras
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        "processor": cpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or f"0 (auto: {os.cpu_count()})",
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "0 (auto)",
        "threads_requested": threads,
        "inter_op_threads_requested": inter_threads,
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (oneDNN on)"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_before": load(),
    }
