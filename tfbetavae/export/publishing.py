"""Publishing a version atomically: written into a hidden folder beside it, synced, then renamed into place, so
neither a crash nor a server polling the base folder ever sees half a version."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def _fsync_tree(root: Path) -> None:
    """Flushes every file and folder under ``root`` to disk, so the rename publishes complete data."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms that cannot open folders (Windows)
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _move(source: Path, target: Path) -> None:
    """Atomic rename of a folder; fails when ``target`` exists and is not empty (POSIX)."""
    os.rename(source, target)


def _publish(staging: Path, final: Path, overwrite: bool) -> None:
    """Renames the complete ``staging`` folder to ``final``; an old ``final`` goes only once that worked."""
    if not final.exists():
        try:
            _move(staging, final)
        except OSError as error:
            if final.exists():  # another export took this version in the meantime
                raise FileExistsError(f"{final} appeared while exporting; nothing was overwritten") from error
            raise
        return
    if not overwrite:
        raise FileExistsError(f"{final} already exists; pass overwrite=True to replace it")
    backup = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
    _move(final, backup)
    try:
        _move(staging, final)
    except BaseException:
        _move(backup, final)  # put the old version back
        raise
    shutil.rmtree(backup, ignore_errors=True)


# --------------------------------------------------------------------------- model card
