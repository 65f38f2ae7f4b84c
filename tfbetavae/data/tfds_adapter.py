"""A TFDS data set prepared offline, with ``label_*`` class features, as a ``GroundTruthData``.

TFDS's ``dsprites``, ``shapes3d`` and ``smallnorb`` store every factor as a ``ClassLabel`` feature named
``label_<factor>`` beside the ``image``; this adapter reads one split into memory and indexes the images by
those classes, so the metrics and the training pipeline see named factors. A class feature without the prefix
(SmallNORB's ``instance``) is not a factor: among the images sharing the factors, one is drawn at random, as
disentanglement_lib does for SmallNORB. Nothing is downloaded: an unprepared data set is an error.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from tfbetavae.data.indexed import IndexedImages, resize_uint8
from tfbetavae.data.tfds import prepared_builder

LABEL_PREFIX = "label_"


def tfds_ground_truth(
    name: str,
    data_dir: str | os.PathLike | None = None,
    split: str = "train",
    image_key: str = "image",
    factors: Sequence[str] | None = None,
    image_size: int | None = None,
) -> IndexedImages:
    """The split ``split`` of the prepared TFDS data set ``name`` with its ``label_*`` features as factors.

    ``factors`` picks (and orders) the factor features by name, with or without the ``label_`` prefix. uint8
    images whose values are all 0 or 1 (TFDS's dSprites) are taken as binary rather than scaled by 1/255.
    ``image_size`` resizes uint8 images to that square size with PIL's Lanczos filter (SmallNORB: 96 → 64).
    """
    import tensorflow_datasets as tfds

    builder = prepared_builder(name, data_dir)
    features = builder.info.features
    if image_key not in features:
        raise ValueError(f"TFDS data set {name!r} has no feature {image_key!r}; features: {sorted(features)}")
    labelled = [k for k, f in features.items() if k.startswith(LABEL_PREFIX) and isinstance(f, tfds.features.ClassLabel)]
    if factors is not None:
        chosen = [f if f.startswith(LABEL_PREFIX) else LABEL_PREFIX + f for f in factors]
        unknown = [f for f in chosen if f not in labelled]
        if unknown:
            raise ValueError(f"TFDS data set {name!r} has no class feature {unknown[0]!r}; factor features: {labelled}")
        labelled = chosen
    if not labelled:
        raise ValueError(f"TFDS data set {name!r} has no '{LABEL_PREFIX}*' class features to serve as factors")
    images, labels = [], []
    for batch in tfds.as_numpy(builder.as_dataset(split=split, batch_size=4096)):
        images.append(batch[image_key])
        labels.append(np.stack([batch[k] for k in labelled], axis=1))
    if not images:
        raise ValueError(f"TFDS data set {name!r} split {split!r} is empty")
    images, labels = np.concatenate(images), np.concatenate(labels).astype(np.int64)
    if image_size is not None and images.shape[1:3] != (image_size, image_size):
        if images.dtype != np.uint8:
            raise ValueError(f"TFDS data set {name!r}: only uint8 images can be resized, got {images.dtype}")
        images = resize_uint8(images, image_size)
    sizes = [features[k].num_classes for k in labelled]
    binary = images.dtype == np.uint8 and int(images.max()) <= 1
    names = [k[len(LABEL_PREFIX) :] for k in labelled]
    return IndexedImages(images, names, sizes, labels, source=f"tfds:{name}/{split}", binary=binary)
