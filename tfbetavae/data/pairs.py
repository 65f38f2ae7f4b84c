"""Pairs of observations for weakly supervised training (Ada-GVAE, Ada-ML-VAE): tf.data pipelines of ``(x1, x2)``.

Two kinds of source:

* **from a ground-truth data set**: ``GroundTruthPairs(data, k)`` draws a factor vector, changes ``k`` of its factors
  to other values, and renders both (Locatello et al. 2020). ``k`` is fixed, or ``"random"``: drawn for each pair
  uniformly from 1 to (number of factors − 1), so every pair shares at least one factor;
* **your own pairs**: a ``tf.data.Dataset`` of ``(x1, x2)``, two aligned NumPy arrays, or two aligned image folders
  (the i-th file of one, in sorted order, with the i-th of the other).

``pairs_dataset(source, ...)`` turns any of them into shuffled, batched, prefetched float32 batches ``(x1, x2)``, each
[B, H, W, C] in [0, 1]; misaligned pairs (shapes, lengths, an empty side) are refused by name before training.

Unlike disentanglement_lib's ``simple_dynamics`` (``methods/weak/train_weak_lib.py``), which changes either one factor
or k (a coin flip per pair) and redraws a changed factor from all its values (the old one included), a pair here
differs in exactly ``k`` factors, as the paper describes the setting.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData, check_images
from tfbetavae.data.pipeline import IMAGE_EXTENSIONS, _validated, image_files, image_loader, rendered_stream

__all__ = [
    "RANDOM_K",
    "GroundTruthPairs",
    "array_pairs",
    "dataset_pairs",
    "differing_factors",
    "folder_pairs",
    "pairs_dataset",
]

RANDOM_K = "random"


def differing_factors(factors_1: np.ndarray, factors_2: np.ndarray) -> np.ndarray:
    """Which factors differ within each pair: a boolean [n, num_factors] (``np.flatnonzero(row)`` gives the indices)."""
    first, second = np.asarray(factors_1), np.asarray(factors_2)
    if first.shape != second.shape or first.ndim != 2:
        raise ValueError(f"factors must be two matrices [n, num_factors] of the same shape, got {first.shape} and {second.shape}")
    return first != second


class GroundTruthPairs:
    """Pairs of observations of ``data`` that share all factors but ``k`` (an int, or ``"random"``: 1 to F − 1).

    Only factors with more than one value can change; F counts those. ``sample`` gives the factors and the images,
    ``dataset`` the endless training stream.
    """

    def __init__(self, data: GroundTruthData, k: int | str = 1) -> None:
        if not isinstance(data, GroundTruthData):
            raise TypeError(f"GroundTruthPairs needs a GroundTruthData (known factors), got {type(data).__name__}")
        self.data = data
        self._variable = np.flatnonzero(np.asarray(data.factor_sizes) > 1)
        count = len(self._variable)
        if count < 2:
            raise ValueError(
                f"pairs that share some factors and differ in others need at least 2 factors with more than one value; "
                f"{type(data).__name__} has {count}"
            )
        if k == RANDOM_K:
            self.k: int | str = RANDOM_K
        else:
            try:
                k = positive_int(k, "k")
            except (TypeError, ValueError):
                raise ValueError(f"k must be a number of factors (1 to {count - 1}) or {RANDOM_K!r}, got {k!r}") from None
            if k > count - 1:
                raise ValueError(
                    f"k = {k} leaves no factor shared: {type(data).__name__} has {count} factors that vary, so k is "
                    f"1 to {count - 1} (or {RANDOM_K!r})"
                )
            self.k = k

    def __repr__(self) -> str:
        return f"GroundTruthPairs({type(self.data).__name__}, k={self.k!r})"

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.data.observation_shape)

    def sample_factors(self, num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``num`` pairs of factor vectors (int64 [num, num_factors] each) differing in exactly k factors per row."""
        first = self.data.sample_factors(num, rng)
        count = len(self._variable)
        if self.k == RANDOM_K:
            changes = rng.integers(1, count, size=(len(first), 1))  # 1 … count − 1
        else:
            changes = np.full((len(first), 1), self.k)
        # The factors a row changes: its `changes` first in a random order of the variable factors.
        order = np.argsort(rng.random((len(first), count)), axis=1)
        ranks = np.argsort(order, axis=1)
        changed = ranks < changes
        sizes = np.asarray(self.data.factor_sizes)[self._variable]
        # Adding 1 … size − 1 modulo size moves a factor to one of its other values, uniformly.
        shift = rng.integers(1, sizes, size=(len(first), count))
        second = first.copy()
        moved = (first[:, self._variable] + np.where(changed, shift, 0)) % sizes
        second[:, self._variable] = moved
        return first, second

    def sample(self, num: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``num`` pairs: (factors_1, factors_2, images_1, images_2), images float32 in [0, 1]."""
        first, second = self.sample_factors(num, rng)
        images = self.data.sample_observations_from_factors(np.concatenate([first, second]), rng)
        return first, second, images[: len(first)], images[len(first) :]

    def dataset(self, batch_size: int = 64, seed: int = 0, start: int = 0) -> tf.data.Dataset:
        """An endless stream of batches ``(x1, x2)`` beginning at batch ``start``.

        As ``ground_truth_dataset``: batch ``i`` comes from its own generator seeded by (seed, i), so batches render in
        parallel, the stream is the same for a seed, and a resumed run continues it where it stopped.
        """
        batch_size = positive_int(batch_size, "batch_size")
        shape = self.observation_shape

        def render(index):
            rng = np.random.default_rng([int(seed), int(index)])
            _, _, first, second = self.sample(batch_size, rng)
            return first.astype(np.float32), second.astype(np.float32)

        def render_tensor(index):
            first, second = tf.numpy_function(render, [index], (tf.float32, tf.float32), stateful=False)
            return tf.ensure_shape(first, (batch_size, *shape)), tf.ensure_shape(second, (batch_size, *shape))

        return rendered_stream(render_tensor, start)


def _batched(dataset: tf.data.Dataset, batch_size: int, seed: int, shuffle_buffer: int, repeat: bool) -> tf.data.Dataset:
    batch_size = positive_int(batch_size, "batch_size")
    if shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)


def _check_aligned(first_shape: Sequence, second_shape: Sequence, what: str) -> None:
    if tuple(first_shape) != tuple(second_shape):
        raise ValueError(
            f"pairs must be aligned: the first {what} has shape {tuple(first_shape)}, the second {tuple(second_shape)}"
        )


def array_pairs(
    first: np.ndarray, second: np.ndarray, batch_size: int = 64, seed: int = 0, repeat: bool = True
) -> tf.data.Dataset:
    """Batches ``(x1, x2)`` from two aligned arrays: images [N, H, W, C] (uint8, or floats in [0, 1]) or vectors [N, D]."""
    arrays = []
    for side, values in (("first", first), ("second", second)):
        if np.ndim(values) == 2:  # vectors: any finite values
            array = np.asarray(values, np.float32)
            if not np.all(np.isfinite(array)):
                raise ValueError(f"the {side} vectors of the pairs contain NaN or infinite values")
        else:
            array = check_images(values, f"the {side} images of the pairs")
        if not len(array):
            raise ValueError(f"pairs: the {side} side is empty")
        arrays.append(array)
    if len(arrays[0]) != len(arrays[1]):
        raise ValueError(f"pairs must be aligned: {len(arrays[0])} first observations but {len(arrays[1])} second ones")
    _check_aligned(arrays[0].shape[1:], arrays[1].shape[1:], "observation")
    dataset = tf.data.Dataset.from_tensor_slices(tuple(arrays))
    return _batched(dataset, batch_size, seed, len(arrays[0]), repeat)


def _image_files(folder: str | os.PathLike, side: str) -> list[str]:
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"pairs: the {side} image folder is not found: {path}")
    files = image_files(path)
    if not files:
        raise ValueError(f"pairs: the {side} folder {path} holds no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def folder_pairs(
    first: str | os.PathLike,
    second: str | os.PathLike,
    image_size: tuple[int, int] = (64, 64),
    channels: int = 1,
    batch_size: int = 64,
    seed: int = 0,
    repeat: bool = True,
) -> tf.data.Dataset:
    """Batches ``(x1, x2)`` from two aligned image folders: the i-th file of each, in sorted order of their paths.

    Images are read by ``image_folder_dataset``'s loader (``tfbetavae.data.pipeline.image_loader``): decoded with
    ``channels``, resized to ``image_size``.
    """
    load_1, load_2 = image_loader(image_size, channels, first), image_loader(image_size, channels, second)
    files_1, files_2 = _image_files(first, "first"), _image_files(second, "second")
    if len(files_1) != len(files_2):
        raise ValueError(
            f"pairs must be aligned: {first} holds {len(files_1)} images but {second} holds {len(files_2)}"
        )
    dataset = tf.data.Dataset.from_tensor_slices((files_1, files_2)).shuffle(len(files_1), seed=seed)
    dataset = dataset.map(lambda a, b: (load_1(a), load_2(b)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _batched(dataset, batch_size, seed, 0, repeat)


def dataset_pairs(
    dataset: tf.data.Dataset, batch_size: int = 64, seed: int = 0, shuffle_buffer: int = 10_000, repeat: bool = True
) -> tf.data.Dataset:
    """Batches ``(x1, x2)`` from a Dataset whose elements are ``(x1, x2)`` images, single [H, W, C] or batched."""
    spec = dataset.element_spec
    if not isinstance(spec, (tuple, list)) or len(spec) != 2 or not all(isinstance(s, tf.TensorSpec) for s in spec):
        raise ValueError(f"a pair dataset's elements must be (x1, x2), two image tensors; got element_spec {spec}")
    first, second = spec
    _check_aligned(first.shape, second.shape, "image")
    if first.shape.rank == 4:
        dataset = dataset.unbatch()
    elif first.shape.rank != 3:
        raise ValueError(f"a pair dataset holds images [H, W, C] or batches [B, H, W, C], got element shape {first.shape}")

    def check(x1, x2):
        same = tf.debugging.assert_equal(
            tf.shape(x1), tf.shape(x2), message="pairs must be aligned: a pair's two images differ in shape"
        )
        with tf.control_dependencies([same]):
            return _validated(x1, "the first images of the pairs"), _validated(x2, "the second images of the pairs")

    return _batched(dataset.map(check), batch_size, seed, shuffle_buffer, repeat)


def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def pairs_dataset(
    source, batch_size: int = 64, seed: int = 0, start: int = 0, input_shape: Sequence[int] | None = None
) -> tf.data.Dataset:
    """Training batches ``(x1, x2)`` from any pair source: ``GroundTruthPairs``, a Dataset of ``(x1, x2)``, a tuple of
    two arrays, or a tuple of two image folders.

    ``start`` (batches already consumed) continues a ground-truth stream; other sources reshuffle. ``input_shape``
    (the model's) sets the size folders are read at and is checked against the pairs' shape.
    """
    shape = None if input_shape is None else tuple(int(v) for v in input_shape)
    if isinstance(source, GroundTruthPairs):
        dataset = source.dataset(batch_size, seed, start)
    elif isinstance(source, tf.data.Dataset):
        dataset = dataset_pairs(source, batch_size, seed)
    elif isinstance(source, (tuple, list)) and len(source) == 2 and all(_is_path(side) for side in source):
        image_shape = shape if shape is not None and len(shape) == 3 else (64, 64, 1)
        dataset = folder_pairs(*source, image_shape[:2], image_shape[2], batch_size, seed)
    elif isinstance(source, (tuple, list)) and len(source) == 2 and all(isinstance(s, np.ndarray) for s in source):
        dataset = array_pairs(*source, batch_size, seed)
    elif isinstance(source, GroundTruthData):
        raise TypeError(
            f"a pair model trains on pairs: wrap the data set as GroundTruthPairs({type(source).__name__}(...), k=1) "
            "(tfbetavae.data.pairs.GroundTruthPairs; k='random' draws k per pair)"
        )
    else:
        raise TypeError(
            f"cannot make pairs from {type(source).__name__}; pass a GroundTruthPairs, a tf.data.Dataset of (x1, x2), "
            "a tuple of two aligned arrays or a tuple of two aligned image folders"
        )
    if shape is not None:
        element = tuple(dataset.element_spec[0].shape[1:])
        if len(element) != len(shape) or any(e is not None and e != s for e, s in zip(element, shape)):
            raise ValueError(f"the pairs hold observations of shape {element}, but the model takes {shape}")
    return dataset
