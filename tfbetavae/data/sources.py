"""Turns a data name given on the command line into a data source."""

from __future__ import annotations

from pathlib import Path

from tfbetavae.data.dsprites import dsprites
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.data.pipeline import IMAGE_EXTENSIONS
from tfbetavae.data.registry import data_set, is_data_set_name


def resolve_data(spec: str, tfds_data_dir: str | None = None):
    """A data set name (``NAME`` or ``NAME:PATH``, see ``tfbetavae.data.registry``) | a dSprites npz/hdf5 path |
    an image folder | ``tfds:NAME[:SPLIT]`` (images only).

    Returns a GroundTruthData (known factors) or a tf.data.Dataset (images only).
    """
    if is_data_set_name(spec):
        return data_set(spec)
    if spec.startswith("tfds:"):
        from tfbetavae.data.tfds import tfds_dataset

        _, name, *split = spec.split(":")
        return tfds_dataset(name, split[0] if split else "train", data_dir=tfds_data_dir)
    path = Path(spec)
    if path.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.rglob("*")):
        return path
    if path.exists():
        return dsprites(path)
    raise FileNotFoundError(
        f"data {spec!r} not found: use a data set name (dsprites, color-dsprites, shapes3d:PATH, …), "
        "a dSprites .npz/.hdf5 path, an image folder or 'tfds:NAME'"
    )


def has_factors(source) -> bool:
    return isinstance(source, GroundTruthData)
