"""Numeric precision of training: float32, bfloat16 or float16 compute, as Keras mixed-precision policies.

``use_precision("bfloat16")`` sets the global Keras policy ``mixed_bfloat16``: models created afterwards compute
their networks in bfloat16 while weights, distributions, losses, KL, metrics and optimizer state stay float32
(see ``tfbetavae.model``). ``float16`` maps to ``mixed_float16`` (``compile_model`` then adds a
``LossScaleOptimizer``) and ``float32`` to plain float32.

``auto`` may pick bfloat16 only where the CPU multiplies bfloat16 natively (``avx512_bf16`` or ``amx_bf16`` in
``/proc/cpuinfo``) and no GPU is visible, and only while the parity study (``scripts/precision_parity.py``,
``docs/precision_parity.md``) finds that bfloat16 does not change what the model learns beyond the
seed-to-seed spread (``AUTO_USES_BFLOAT16``): over 5 seeds every score's bfloat16 median lies inside the
float32 seeds' range and no paired difference keeps one sign across seeds. Set it to False to make ``auto``
mean float32 everywhere. On a GPU, ask for ``bfloat16`` or ``float16`` explicitly.

float16 on a machine without a GPU is allowed (it runs, e.g. to test a GPU configuration) but warns: CPUs
without native float16 arithmetic emulate it, which is slower than float32.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path

PRECISIONS = ("float32", "bfloat16", "float16", "auto")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# Whether `auto` may choose bfloat16 at all, from the measured parity with float32 (docs/precision_parity.md,
# 5 seeds x 3000 steps: within the seed spread on loss, reconstruction, KL, MIG and beta-VAE score).
AUTO_USES_BFLOAT16 = True

__all__ = [
    "PRECISIONS",
    "cpu_has_native_bfloat16",
    "current_precision",
    "precision_scope",
    "resolve_precision",
    "use_precision",
]


def cpu_has_native_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """True when the CPU flags list AVX512-BF16 or AMX-BF16 (False when the file cannot be read, e.g. not Linux)."""
    return bool(_cpu_flags(str(cpuinfo)) & set(BF16_CPU_FLAGS))


@functools.lru_cache(maxsize=4)
def _cpu_flags(cpuinfo: str) -> frozenset:
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return frozenset(flags)


def _has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def resolve_precision(name: str) -> str:
    """``float32``, ``bfloat16`` or ``float16`` for a precision name (``auto`` decided for this machine).

    Raises ValueError for an unknown name; warns when float16 is asked for without a GPU (emulated, slow).
    """
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    if name == "auto":
        native = AUTO_USES_BFLOAT16 and cpu_has_native_bfloat16() and not _has_gpu()
        return "bfloat16" if native else "float32"
    if name == "float16" and not _has_gpu():
        warnings.warn(
            "precision float16 without a GPU: this CPU emulates float16 arithmetic, so training will be slow "
            "(slower than float32); use bfloat16 or float32 on a CPU",
            UserWarning,
            stacklevel=2,
        )
    return name


def use_precision(name: str) -> str:
    """Sets the global Keras dtype policy for ``name`` and returns the resolved precision.

    Models created (or loaded) afterwards use it; create them after this call.
    """
    import keras

    precision = resolve_precision(name)
    keras.mixed_precision.set_global_policy(POLICIES[precision])
    return precision


@contextlib.contextmanager
def precision_scope(name: str):
    """``with precision_scope("auto") as precision:`` — ``use_precision`` inside, the previous policy restored after.

    Models created inside keep their policy; code running later in the same process is not affected.
    """
    import keras

    previous = keras.mixed_precision.global_policy()
    try:
        yield use_precision(name)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def current_precision() -> str:
    """The precision of the global Keras policy: ``float32``, ``bfloat16``, ``float16`` (or the policy name)."""
    import keras

    policy = keras.mixed_precision.global_policy().name
    return {value: key for key, value in POLICIES.items()}.get(policy, policy)
