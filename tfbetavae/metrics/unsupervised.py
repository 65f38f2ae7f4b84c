"""Unsupervised scores: how much the code dimensions depend on one another, measured without any labels.

Locatello et al. (2019) gave every model of their study three numbers that need no ground-truth factors, only the
posterior means of observations (disentanglement_lib's ``unsupervised_metrics``). With Σ the covariance of the means
and D = diag Σ:

* **Gaussian total correlation**: KL(N(0, Σ) ‖ N(0, D)), the total correlation of a Gaussian fitted to the means:
  ½(Σ log Σᵢᵢ − log det Σ), which is −½ log det of the correlation matrix. 0 for uncorrelated dimensions; it ignores
  the scale of each dimension.
* **Gaussian Wasserstein correlation**: the squared 2-Wasserstein distance between the same two Gaussians,
  2 tr Σ − 2 tr (D^½ Σ D^½)^½; its normalised form divides it by tr Σ, so rescaling every code leaves it unchanged.
* **mutual information score**: the plug-in mutual information (nats) of every pair of distinct dimensions, each cut
  into ``num_bins`` equal-width bins as MIG cuts them, averaged over the d(d − 1) ordered pairs.

All are 0 for independent dimensions and grow as dimensions share information: lower is a more factorised code. None
says whether the dimensions follow the data's factors (an encoder that ignores its input scores 0 on the first three).

Because they need no factors, they work on any data images can be drawn from (``image_chunks``): a GroundTruthData
(its factors are not used), an array of images or vectors, an image folder, a data set name, a ``tf.data.Dataset``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData, check_images
from tfbetavae.data.image_set import ImageSet, first_image_shape
from tfbetavae.metrics._sampling import CHUNK_IMAGES, Progress, make_rng
from tfbetavae.metrics.mig import discretise, mutual_information
from tfbetavae.metrics.representation import as_representation, encode_in_batches

__all__ = [
    "KEYS",
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "image_chunks",
    "mutual_info_score",
    "resolve_source",
    "unsupervised",
    "unsupervised_from_codes",
]

KEYS = (
    "gaussian_total_correlation",
    "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm",
    "mutual_info_score",
)

ACCEPTED_DATA = (
    "a GroundTruthData, an array of images [N, H, W, C] (uint8 or floats in [0, 1]) or vectors [N, D], "
    "an image folder, a data set name such as 'dsprites', or a tf.data.Dataset of images"
)


def unsupervised(
    represent: Any,
    data: Any,
    num_train: int = 10000,
    batch_size: int = 256,
    num_bins: int = 20,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """The four unsupervised scores of ``represent`` on ``num_train`` observations drawn from ``data``.

    ``data`` needs no factors (see ``image_chunks``); ``batch_size`` is the number of images per encoder call.
    Returns ``{"gaussian_total_correlation", "gaussian_wasserstein_correlation",
    "gaussian_wasserstein_correlation_norm", "mutual_info_score"}``.
    """
    num_train = positive_int(num_train, "num_train")
    batch_size = positive_int(batch_size, "batch_size")
    num_bins = positive_int(num_bins, "num_bins")
    represent_fn = as_representation(represent)
    bar = Progress(num_train, progress, f"Unsupervised scores: {num_train} points")
    parts = []
    for images in image_chunks(data, num_train, seed, image_shape=getattr(represent_fn, "image_shape", None)):
        parts.append(encode_in_batches(represent_fn, images, batch_size))
        bar.add(len(images))
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:
        raise ValueError(f"the representation returned codes of different widths {sorted(widths)} for different batches")
    return unsupervised_from_codes(np.concatenate(parts, axis=0), num_bins)


def unsupervised_from_codes(codes: np.ndarray, num_bins: int = 20) -> dict[str, float]:
    """The four unsupervised scores of given codes [n, d] (what ``unsupervised`` computes after encoding)."""
    codes = _checked_codes(codes)
    num_bins = positive_int(num_bins, "num_bins")
    covariance = np.cov(codes, rowvar=False)
    wasserstein = gaussian_wasserstein_correlation(covariance)
    total = float(np.trace(covariance))
    return {
        "gaussian_total_correlation": gaussian_total_correlation(covariance),
        "gaussian_wasserstein_correlation": wasserstein,
        # Every dimension constant: no variance to put the distance in proportion to, and no dependence either.
        "gaussian_wasserstein_correlation_norm": wasserstein / total if total > 0 else 0.0,
        "mutual_info_score": mutual_info_score(codes, num_bins),
    }


def gaussian_total_correlation(covariance: np.ndarray) -> float:
    """Total correlation (nats) of N(0, covariance): −½ log det of its correlation matrix.

    A dimension of zero variance is a constant, independent of the rest: it is left out (its log variance would be
    −∞). Dimensions that are exact linear functions of others give ``inf``.
    """
    covariance = np.asarray(covariance, np.float64)
    variances = np.diag(covariance)
    varying = variances > 0
    if varying.sum() < 2:
        return 0.0
    scale = np.sqrt(variances[varying])
    correlation = covariance[np.ix_(varying, varying)] / np.outer(scale, scale)
    sign, log_det = np.linalg.slogdet(correlation)
    return float(-0.5 * log_det) if sign > 0 else float("inf")


def gaussian_wasserstein_correlation(covariance: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between N(0, Σ) and N(0, diag Σ): 2 tr Σ − 2 tr (D^½ Σ D^½)^½.

    The root's trace is the sum of the square roots of the eigenvalues of the symmetric D^½ Σ D^½ (the same as those
    of D Σ, whose matrix square root disentanglement_lib takes), so the result is real.
    """
    covariance = np.asarray(covariance, np.float64)
    root_variances = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    symmetric = root_variances[:, None] * covariance * root_variances[None, :]
    eigenvalues = np.clip(np.linalg.eigvalsh(symmetric), 0.0, None)
    return float(2.0 * np.trace(covariance) - 2.0 * np.sum(np.sqrt(eigenvalues)))


def mutual_info_score(codes: np.ndarray, num_bins: int = 20) -> float:
    """Mean plug-in mutual information (nats) over the ordered pairs of distinct dimensions of codes [n, d]."""
    codes = _checked_codes(codes)
    binned = discretise(codes, positive_int(num_bins, "num_bins"))
    dims = binned.shape[1]
    total = sum(
        mutual_information(binned[:, i], binned[:, j]) for i in range(dims) for j in range(i + 1, dims)
    )
    return float(2.0 * total / (dims * dims - dims))  # each unordered pair stands for both of its orders


def _checked_codes(codes: Any) -> np.ndarray:
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"codes must be a 2-D array [points, dimensions], got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"codes must be real numbers, got dtype {array.dtype}")
    if array.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 points, got {array.shape[0]}")
    if array.shape[1] < 2:
        raise ValueError(
            f"the unsupervised scores measure dependence between code dimensions: need at least 2, got {array.shape[1]}"
        )
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError("codes contain NaN or infinite values")
    return array


# --------------------------------------------------------------------------- images from any source
def image_chunks(
    data: Any,
    num: int,
    seed: int = 0,
    chunk_size: int = CHUNK_IMAGES,
    image_shape: tuple[int, ...] | None = None,
) -> Iterator[np.ndarray]:
    """``num`` observations drawn at random from ``data``, ``chunk_size`` at a time: float32 images in [0, 1] (or
    vectors), the same ones for the same seed.

    ``data`` may be a GroundTruthData (rendered from random factors, which are then dropped), an array of images
    [N, H, W, C] (uint8 or floats in [0, 1]) or vectors [N, D] (drawn uniformly with replacement, as
    disentanglement_lib draws from a finite data set), an image folder or a data set name (read with
    ``tfbetavae.data.sources.resolve_data``; a folder's files are resized to ``image_shape``, else to the size of
    its first file) or a ``tf.data.Dataset`` of images (shuffled with a buffer of 10,000, repeated as needed).
    """
    num = positive_int(num, "number of points")
    chunk_size = min(positive_int(chunk_size, "chunk_size"), num)
    rng = make_rng(seed)
    if isinstance(data, (str, os.PathLike)):
        data = resolve_source(data)
    if isinstance(data, ImageSet):  # a study's images without factors
        data = data.images
    sizes = [min(chunk_size, num - start) for start in range(0, num, chunk_size)]
    if isinstance(data, GroundTruthData):
        for size in sizes:
            yield data.sample(size, rng)[1].astype(np.float32)
    elif isinstance(data, np.ndarray):
        yield from _array_chunks(data, sizes, rng)
    elif isinstance(data, Path):
        yield from _dataset_chunks(_folder_dataset(data, image_shape, chunk_size, int(seed)), sizes)
    elif _is_tf_dataset(data):
        from tfbetavae.data.pipeline import dataset_pipeline  # noqa: PLC0415

        yield from _dataset_chunks(dataset_pipeline(data, chunk_size, int(seed), repeat=True), sizes)
    else:
        raise TypeError(f"cannot draw images from {type(data).__name__}: give {ACCEPTED_DATA}")


def resolve_source(spec: str | os.PathLike) -> Any:
    """A folder as itself (its images are read), anything else as ``resolve_data`` reads it (a data set name)."""
    if Path(spec).is_dir():
        return Path(spec)
    from tfbetavae.data.sources import resolve_data  # noqa: PLC0415

    return resolve_data(os.fspath(spec))


def _array_chunks(array: np.ndarray, sizes: list[int], rng: np.random.Generator) -> Iterator[np.ndarray]:
    if array.ndim == 3:
        raise ValueError(f"an array of images must be [N, H, W, C], got shape {array.shape} (one channel? add it: "
                         "images[..., None])")
    if array.ndim not in (2, 4):
        raise ValueError(f"an array of images must be [N, H, W, C] (or vectors [N, D]), got shape {array.shape}")
    if len(array) == 0:
        raise ValueError("the array holds no images")
    for size in sizes:
        chosen = array[rng.integers(0, len(array), size=size)]
        if array.ndim == 4:
            yield check_images(chosen)
            continue
        vectors = np.asarray(chosen, np.float32)
        if not np.all(np.isfinite(vectors)):
            raise ValueError("the vectors contain NaN or infinite values")
        yield vectors


def _folder_dataset(folder: Path, image_shape: tuple[int, ...] | None, chunk_size: int, seed: int):
    from tfbetavae.data.pipeline import image_folder_dataset  # noqa: PLC0415

    if image_shape is None:
        image_shape = first_image_shape(folder)
    if len(image_shape) != 3:
        raise ValueError(f"an image folder gives images, but the model takes vectors of shape {tuple(image_shape)}")
    height, width, channels = (int(v) for v in image_shape)
    return image_folder_dataset(folder, (height, width), channels, chunk_size, seed, repeat=True)


def _dataset_chunks(dataset, sizes: list[int]) -> Iterator[np.ndarray]:
    batches = iter(dataset)
    for size in sizes:
        yield np.asarray(next(batches))[:size].astype(np.float32)


def _is_tf_dataset(data: Any) -> bool:
    if "tensorflow" not in type(data).__module__:
        return False
    import tensorflow as tf  # noqa: PLC0415

    return isinstance(data, tf.data.Dataset)
