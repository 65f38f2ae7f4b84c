"""UDR in a study: each cell saves its codes of one fixed set of images at every evaluation step, and the study's
results score every cell against the other seeds of its setting (Duan et al. 2020, ``tfbetavae.metrics.udr``).

UDR needs several models of one setting, so no single cell can score it while it trains. Saving the codes (the
posterior means and the per-dimension KL, a few hundred kB per step) lets the results compute UDR at every step,
for a finished or a partial study, without opening a model again: ``collect_results`` adds ``udr`` (the model's
median similarity to the other seeds of its setting) and ``udr_a2a`` (to every other model) to each row, once at
least two seeds of a setting reached that step. It needs no factors, so it is the score of a study on data without
labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tfbetavae.runs import atomic_write

logger = logging.getLogger("tfbetavae.studies")

CODES_FILE = "udr_codes_step={step}.npz"


def codes_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CODES_FILE.format(step=int(step))


def save_codes(model, data, run_dir: Path, step: int, num_points: int, seed: int) -> Path:
    """Encodes the study's UDR images (the same ``num_points`` for every cell: drawn from ``seed``) and saves the
    posterior means and the mean KL of each dimension at ``step``."""
    from tfbetavae.loading import closed_form_kl
    from tfbetavae.metrics.unsupervised import image_chunks

    images = np.concatenate(list(image_chunks(data, num_points, seed, image_shape=tuple(model.image_shape))))
    means, log_variances = [], []
    for start in range(0, len(images), 256):
        mean, log_variance = model.encode(images[start:start + 256], return_log_variance=True)
        means.append(np.asarray(mean, np.float32))
        log_variances.append(np.asarray(log_variance, np.float32))
    codes = np.concatenate(means)
    kl = closed_form_kl(codes, np.concatenate(log_variances))  # the mean KL of each dimension over the images
    return atomic_write(codes_path(run_dir, step), lambda temporary: np.savez(temporary, codes=codes, kl=kl))


def add_udr(rows: Sequence[dict], study_dir: Path, cell_groups: Mapping[str, str], made_with: dict | None = None,
            ) -> list[dict]:
    """Rows with ``udr`` and ``udr_a2a`` added where the saved codes allow: per step and per group of cells
    (``cell_groups``: cell -> its setting label within one data set), settings with at least two seeds' codes."""
    from tfbetavae.metrics.udr import udr_from_codes

    rows = [dict(row) for row in rows]
    for step in sorted({row["step"] for row in rows}):
        at_step = [row for row in rows if row["step"] == step and row["cell"] in cell_groups]
        for data_name in sorted({row.get("data") or "" for row in at_step}):
            members = [row for row in at_step if (row.get("data") or "") == data_name
                       and codes_path(study_dir / "runs" / row["cell"], step).exists()]
            counts: dict[str, int] = {}
            for row in members:
                counts[cell_groups[row["cell"]]] = counts.get(cell_groups[row["cell"]], 0) + 1
            members = [row for row in members if counts[cell_groups[row["cell"]]] >= 2]  # a lone seed: no UDR yet
            if len(members) < 2:
                continue
            saved = [np.load(codes_path(study_dir / "runs" / row["cell"], step)) for row in members]
            try:
                result = udr_from_codes([s["codes"] for s in saved], [s["kl"] for s in saved],
                                        settings=[cell_groups[row["cell"]] for row in members],
                                        labels=[f"{row['cell']}" for row in members], **(made_with or {}))
            except ValueError as error:  # e.g. different latent sizes in one group: said, not fatal to the report
                logger.warning("UDR at step %s not computed: %s", step, error)
                continue
            for row, score, a2a, spread in zip(members, result.scores, result.a2a_scores, result.spread):
                row["udr"], row["udr_a2a"] = float(score), float(a2a)
                row["udr_pairs"] = [round(spread["min"], 6), round(spread["max"], 6)]  # over its seed pairs
    return rows
