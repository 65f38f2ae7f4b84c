"""TensorFlow Datasets sources, offline only: a data set must already be prepared in ``data_dir``."""

from __future__ import annotations

import os

import tensorflow as tf


def prepared_builder(name: str, data_dir: str | os.PathLike | None = None):
    """The TFDS builder of ``name``, refused by name when unknown or not prepared in ``data_dir`` (no download)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
    except Exception as error:  # DatasetNotFoundError and friends
        raise ValueError(f"unknown TFDS data set {name!r}: {error}") from error
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"TFDS data set {name!r} is not prepared in {builder.data_dir} and nothing is downloaded at run time. "
            f"Prepare it once with `tfds build {name} --data_dir DIR` (manual files go in DIR/downloads/manual/) "
            "and pass data_dir=DIR."
        )
    return builder


def tfds_dataset(
    name: str, split: str = "train", data_dir: str | os.PathLike | None = None, image_key: str = "image"
) -> tf.data.Dataset:
    """Images of a locally prepared TFDS data set, as a Dataset of [H, W, C] tensors.

    Nothing is downloaded. For dSprites, put ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.hdf5`` into
    ``<data_dir>/downloads/manual/`` and run ``tfds build dsprites --data_dir <data_dir>`` once — or skip
    TFDS and pass that hdf5 to ``tfbetavae.data.dsprites(path)``.
    """
    builder = prepared_builder(name, data_dir)
    dataset = builder.as_dataset(split=split)
    if image_key not in dataset.element_spec:
        raise ValueError(f"TFDS data set {name!r} has no feature {image_key!r}; features: {sorted(dataset.element_spec)}")
    return dataset.map(lambda example: example[image_key])
