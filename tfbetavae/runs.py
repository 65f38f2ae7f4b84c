"""The run folder's layout and the one way files are written: atomically.

A training run folder (``tfbetavae.train(..., run_dir=...)``) holds::

    config.json             RUN_CONFIG: what was asked for (model config + training settings, run_format)
    model.keras             RUN_MODEL: the final model
    checkpoints/last.keras  RUN_CHECKPOINT: the model after the latest checkpoint; a new ``train`` resumes from it
    history.csv, logs/      the training's history and TensorBoard logs

Training writes it, ``tfbetavae.load`` and studies read it: they all take the names from here. Every file the
library writes goes through ``atomic_write`` (a temporary file in the same folder, then a rename), so a crash or
``kill -9`` leaves the old file or the new one, never half of one.

This module imports nothing from the package (and nothing heavy): every layer may use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "RUN_CHECKPOINT",
    "RUN_CONFIG",
    "RUN_FORMAT",
    "RUN_FORMAT_VERSION",
    "RUN_MODEL",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "read_run_config",
    "run_state_files",
]

RUN_FORMAT = 1  # written into config.json as run_format; runs of another format are refused on load
RUN_FORMAT_VERSION = "0.1"  # what config.json's tfbetavae_version said before run_format (the same format 1)
RUN_CONFIG = "config.json"
RUN_MODEL = Path("model.keras")
RUN_CHECKPOINT = Path("checkpoints") / "last.keras"


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any], mode: int = 0o644) -> Path:
    """Writes ``path`` by calling ``write(temporary_path)`` and renaming the result into place.

    The temporary file lies beside ``path`` (a rename is atomic only within one file system) and is hidden
    (``.name-XXXX.partial.suffix``, keeping the suffix for writers that look at it, such as Keras and matplotlib); one a
    killed process left behind is removed by the next write of the same file. ``mode``: mkstemp makes 0600 files,
    and what the library writes is an ordinary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.stem}-"
    suffix = f".partial{path.suffix}"
    for stale in path.parent.glob(f"{prefix}*{suffix}"):
        stale.unlink(missing_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda temporary: Path(temporary).write_bytes(data))


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def atomic_write_json(data: Any, path: str | os.PathLike) -> Path:
    """JSON, indented and with sorted keys (so files diff well), written atomically."""
    return atomic_write_text(json.dumps(data, indent=2, sort_keys=True, default=str), path)


def read_run_config(run_dir: str | os.PathLike, strict: bool = False) -> dict | None:
    """A run folder's ``config.json`` as ``train`` wrote it; None when the folder has none.

    One reader for two needs: ``train`` resuming treats an unreadable file as no run (the default), while
    ``tfbetavae.load`` and the command line, opening a run, refuse a corrupt file or a run of another format with a
    ValueError naming it (``strict=True``).
    """
    path = Path(run_dir) / RUN_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        if not strict:
            return None
        raise ValueError(f"{path}: corrupt run config ({' '.join(str(error).split())[:200]})") from None
    if not isinstance(config, dict):
        if not strict:
            return None
        raise ValueError(f"{path}: corrupt run config (a JSON {type(config).__name__}, not an object)")
    # Runs written before run_format existed said tfbetavae_version "0.1": the same format 1.
    legacy = RUN_FORMAT if config.get("tfbetavae_version") == RUN_FORMAT_VERSION else config.get("tfbetavae_version")
    written_as = config.get("run_format", legacy)
    if strict and written_as != RUN_FORMAT:
        raise ValueError(
            f"{run_dir} was written by another tfbetavae run format ({written_as!r}, this is {RUN_FORMAT!r}); "
            "load its model.keras directly with keras.models.load_model"
        )
    return config


def run_state_files(run_dir: str | os.PathLike) -> list[Path]:
    """The saved states of a run, furthest first: the checkpoint (written at least as late as ``model.keras``:
    the last epoch's checkpoint precedes the final save, and an extension checkpoints past it), then the model."""
    run_dir = Path(run_dir)
    return [path for path in (run_dir / RUN_CHECKPOINT, run_dir / RUN_MODEL) if path.exists()]
