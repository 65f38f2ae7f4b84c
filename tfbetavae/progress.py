"""The library's one progress voice: the ``tfbetavae`` logger, which the command line shows; and TensorFlow kept quiet.

A line a user should see (a resumed run, a study cell's scores) is logged at INFO under ``tfbetavae.<module>``.
The command line shows those records; in Python, where nobody configured logging, ``say(..., verbose=True)``
prints the line instead, so it appears exactly once either way (never on stdout and again on stderr).

TensorFlow writes its start-up lines (CUDA drivers, oneDNN, cuInit) from C++ before absl reads
``TF_CPP_MIN_LOG_LEVEL``: ``import_tensorflow_quietly`` imports it with file descriptor 2 pointed away, as the
command line, the scripts and study workers do; ``import tfbetavae`` does the same for the import itself when a
public name first loads TensorFlow (``TFBETAVAE_VERBOSE=1`` shows everything).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile

__all__ = ["import_tensorflow_quietly", "native_stderr_hidden", "say", "shown"]


def shown(logger: logging.Logger, level: int = logging.INFO) -> bool:
    """Whether a record of ``level`` on ``logger`` reaches a handler that will emit it."""
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def say(logger: logging.Logger, message: str, verbose: bool = True) -> None:
    """Logs ``message`` at INFO, and prints it too when ``verbose`` and no handler would show the record."""
    shown_by_logging = shown(logger)
    logger.info(message)
    if verbose and not shown_by_logging:
        print(message, flush=True)


@contextlib.contextmanager
def native_stderr_hidden():
    """Points file descriptor 2 at a temporary file; replays it if the block raises (so failures stay visible)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly(verbose: bool = False, threads: int | None = None, fresh_context: bool = False) -> None:
    """Imports TensorFlow and Keras, and lets TensorFlow look for devices, without the lines that writes to stderr.

    The oneDNN warm-up below creates TensorFlow's runtime context, after which thread counts and collective ops
    are fixed: ``threads`` are set before it, and ``fresh_context`` (a multi-worker strategy, which must configure
    collectives at start-up) skips it — FactorVAE may then print oneDNN's one int32 line.
    """
    if verbose or "tensorflow" in sys.modules:
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ lines after absl starts
    with native_stderr_hidden():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()  # looks for GPUs now: a CPU-only machine logs "failed call to cuInit"
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        if fresh_context:
            return
        # oneDNN's graph pass logs "oneDNN supports DT_INT32 only on platforms with AVX-512" at ERROR level (above
        # TF_CPP_MIN_LOG_LEVEL=2) the first time a graph transposes int32 (FactorVAE's permutation does); it logs
        # it once per process (absl::call_once in tensorflow/core/util/util.cc), so say it here, unheard.
        tf.function(lambda x: tf.transpose(x + 1))(tf.zeros([1, 2], tf.int32))
