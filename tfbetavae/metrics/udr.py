"""Unsupervised Disentanglement Ranking (UDR; Duan et al., ICLR 2020): rank trained models without any labels.

Why it works: a disentangled representation is the same in every seed up to the order and sign of its dimensions
(each dimension follows one factor of the data), while entangled ones each mix the factors their own way. So train
a setting with several seeds and compare its models pairwise: the more each informative dimension of one model is
explained by a single dimension of the other, the more the setting disentangles.

Computed as disentanglement_lib's ``compute_udr_sklearn`` computes it:

1. every model encodes the same ``num_points`` observations: its posterior means, and per dimension the KL to
   N(0, 1) averaged over those observations;
2. each model's means are standardised; dimensions with an average KL at or below ``kl_threshold`` (0.01 nats) carry
   no information and are left out;
3. for every ordered pair (a, b), a similarity R[i, j] between a's dimension i and b's dimension j: ``"lasso"``, the
   absolute coefficients of a Lasso regression (``alpha`` 0.1) of b's dimensions on a's; ``"spearman"``, the absolute
   Spearman rank correlation;
4. the pair's score is R's relative strength: the mean over columns of max²/sum and the mean over rows likewise,
   averaged (a row or column of zeros counts 0): 1 when each dimension of one model matches one dimension of the
   other and nothing else. The Lasso's penalty shrinks a perfect match's standardised coefficient from 1 to
   1 − alpha, so a model against a permuted, sign-flipped copy of itself scores exactly 0.9 with ``"lasso"``;
5. a model's UDR is the median of its pair scores against the other seeds of its setting; UDR-A2A (all-to-all) the
   median against every other model of every setting. A setting's score is the median of its models' scores.

A pair in which either model has no informative dimension scores 0 (disentanglement_lib fails on it). Where
disentanglement_lib zeroes dimensions at KL ≤ 0.01 whatever ``kl_filter_threshold`` says, here the chosen threshold
does both, which is the same at the default.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tfbetavae.checks import non_negative_float, positive_float, positive_int
from tfbetavae.loading import closed_form_kl
from tfbetavae.metrics._sampling import Progress
from tfbetavae.metrics.unsupervised import image_chunks

__all__ = ["CORRELATIONS", "UDRResult", "relative_strength", "similarity_matrix", "udr", "udr_from_codes"]

CORRELATIONS = ("lasso", "spearman")
ALL = "all"  # the setting of every model when a plain list is scored
_QUANTILES = {"min": 0, "q1": 25, "median": 50, "q3": 75, "max": 100}


@dataclass(frozen=True)
class UDRResult:
    """What ``udr`` found, per model and per setting, and how it was made.

    ``models`` labels the models in the order given (a mapping's settings one after another), ``settings`` the
    setting of each. ``scores`` is each model's UDR (median over the other seeds of its setting), ``spread`` the
    minimum, quartiles and maximum of those pair scores, ``a2a_scores`` each model's UDR-A2A (median over every
    other model). ``setting_scores`` maps a setting to ``{"udr", "min", "max", "udr_a2a", "models"}``: the median,
    minimum and maximum of its models' UDR, the median of their UDR-A2A, and how many there are. ``pairwise[a, b]``
    is the score of pair (a, b): b's dimensions explained by a's (NaN on the diagonal); a model's scores read its
    column. ``informative_dims`` lists each model's dimensions above the KL threshold.
    """

    models: tuple[str, ...]
    settings: tuple[str, ...]
    scores: tuple[float, ...]
    spread: tuple[dict[str, float], ...]
    a2a_scores: tuple[float, ...]
    setting_scores: dict[str, dict[str, float]]
    pairwise: np.ndarray = field(repr=False)
    informative_dims: tuple[tuple[int, ...], ...]
    made_with: dict[str, Any]

    @property
    def best_setting(self) -> str:
        """The setting with the highest UDR (the first of equals)."""
        return max(self.setting_scores, key=lambda name: self.setting_scores[name]["udr"])

    def as_dict(self) -> dict[str, Any]:
        """Everything as plain Python values, ready for JSON (the diagonal of ``pairwise`` as None)."""
        pairwise = [[None if np.isnan(v) else float(v) for v in row] for row in self.pairwise]
        return {
            "models": [
                {"model": model, "setting": setting, "udr": score, "spread": spread, "udr_a2a": a2a,
                 "informative_dims": list(dims)}
                for model, setting, score, spread, a2a, dims in zip(
                    self.models, self.settings, self.scores, self.spread, self.a2a_scores, self.informative_dims
                )
            ],
            "settings": self.setting_scores,
            "pairwise": pairwise,
            "made_with": self.made_with,
        }


# --------------------------------------------------------------------------- from models
def udr(
    models: Sequence[Any] | Mapping[Any, Sequence[Any]],
    data: Any,
    num_points: int = 1000,
    batch_size: int = 256,
    correlation: str = "lasso",
    kl_threshold: float | None = 0.01,
    alpha: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> UDRResult:
    """UDR of several trained models, scored on ``num_points`` observations drawn from ``data`` (no factors needed).

    ``models`` is a list (every model one setting: seeds of one configuration) or a mapping setting → list of
    models (its seeds), each model anything ``tfbetavae.load`` opens or returns: a ``BetaVAE``, a ``.keras`` path, a
    run folder, an export. ``data`` is anything ``image_chunks`` (``unsupervised.py``) draws images from: a
    GroundTruthData, an array of images, an image folder, a data set name, a ``tf.data.Dataset``. ``batch_size`` is
    the number of images per encoder call. With ``kl_threshold=None`` no dimension is filtered and a model may be any
    function images → codes (``as_representation``).
    """
    labels, settings, members = _flatten(models)
    num_points = positive_int(num_points, "num_points")
    batch_size = positive_int(batch_size, "batch_size")
    _check_options(correlation, kl_threshold, alpha)
    _check_counts(labels, settings)
    encoders = [_encoder(model, label, kl_threshold is not None) for model, label in zip(members, labels)]
    _check_same(labels, [e.latent_dim for e in encoders], "latent sizes", "UDR compares dimensions one to one")
    _check_same(labels, [e.image_shape for e in encoders], "image shapes", "every model must read the same images")
    image_shape = next((e.image_shape for e in encoders if e.image_shape is not None), None)
    bar = Progress(num_points * len(encoders), progress, f"UDR: {len(encoders)} models × {num_points} points")
    codes: list[list[np.ndarray]] = [[] for _ in encoders]
    kl_sums = [0.0 for _ in encoders]
    for images in image_chunks(data, num_points, seed, image_shape=image_shape):
        for index, encoder in enumerate(encoders):
            for start in range(0, len(images), batch_size):
                mean, kl = encoder(images[start : start + batch_size])
                codes[index].append(mean)
                kl_sums[index] = kl_sums[index] + (0.0 if kl is None else kl * len(mean))
            bar.add(len(images))
    kls = None if kl_threshold is None else [total / num_points for total in kl_sums]
    result = udr_from_codes(
        [np.concatenate(parts, axis=0) for parts in codes], kls, settings, correlation, kl_threshold, alpha, labels
    )
    return replace(result, made_with={**result.made_with, "seed": int(seed), "data": type(data).__name__})


@dataclass(frozen=True)
class _Encoder:
    """images → (posterior means [n, d], per-dimension KL averaged over them [d] or None)."""

    encode: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]
    latent_dim: int | None
    image_shape: tuple[int, ...] | None

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.encode(images)


def _encoder(model: Any, label: str, needs_kl: bool) -> _Encoder:
    """Opens ``model`` (a path through ``tfbetavae.load``) and says how to get its means and KLs."""
    if isinstance(model, (str, os.PathLike)):
        from tfbetavae.loading import load  # noqa: PLC0415

        model = load(model)
    latent_dim = getattr(model, "latent_dim", None)
    latent_dim = int(latent_dim) if isinstance(latent_dim, (int, np.integer)) else None
    shape = getattr(model, "image_shape", None)
    shape = tuple(int(v) for v in shape) if isinstance(shape, (tuple, list)) else None
    moments = _moments_function(model)
    if moments is not None:
        def encode(images):
            mean, log_variance = moments(images)
            mean = _checked(mean, len(images), label)
            return mean, closed_form_kl(mean, log_variance)

        return _Encoder(encode, latent_dim, shape)
    if needs_kl:
        raise TypeError(
            f"model {label}: the KL filter needs each model's posterior log-variance, and a {type(model).__name__} "
            "gives none: pass models tfbetavae.load opens (a BetaVAE, a .keras file, a run folder, an export), or "
            "kl_threshold=None to keep every dimension"
        )
    from tfbetavae.metrics.representation import as_representation  # noqa: PLC0415

    represent = as_representation(model)
    return _Encoder(lambda images: (represent(images), None), latent_dim, shape or represent.image_shape)


def _moments_function(model: Any) -> Callable[[np.ndarray], tuple[Any, Any]] | None:
    """images → (mean, log_variance) for a model that gives both, else None."""
    encode = getattr(model, "encode", None)
    if callable(encode) and _takes(encode, "return_log_variance"):
        return lambda images: encode(images, return_log_variance=True)
    signatures = getattr(model, "signatures", None)  # a raw tf.saved_model.load() of an export
    if isinstance(signatures, Mapping) and "encode" in signatures:
        signature = signatures["encode"]
        return lambda images: _mean_and_log_variance(signature(images=_tensor(images)))
    return None


def _takes(function: Callable, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _tensor(images: np.ndarray):
    import tensorflow as tf  # noqa: PLC0415

    return tf.convert_to_tensor(np.asarray(images, np.float32))


def _mean_and_log_variance(outputs: Any) -> tuple[Any, Any]:
    if not isinstance(outputs, Mapping) or not {"mean", "log_variance"} <= set(outputs):
        raise ValueError("the encode signature must return 'mean' and 'log_variance' (a tfbetavae export)")
    return outputs["mean"], outputs["log_variance"]


def _checked(mean: Any, count: int, label: str) -> np.ndarray:
    array = np.asarray(mean, np.float64)
    if array.ndim != 2 or len(array) != count:
        raise ValueError(f"model {label} returned means of shape {array.shape} for {count} images")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"model {label} returned NaN or infinite means")
    return array


# --------------------------------------------------------------------------- from codes
def udr_from_codes(
    codes: Sequence[np.ndarray],
    kls: Sequence[np.ndarray] | None = None,
    settings: Sequence[Any] | None = None,
    correlation: str = "lasso",
    kl_threshold: float | None = 0.01,
    alpha: float = 0.1,
    labels: Sequence[str] | None = None,
) -> UDRResult:
    """UDR of models given by their codes on the same observations ([n, d] each, in the same order) and their
    per-dimension KLs ([d] each; ``kls=None`` needs ``kl_threshold=None``, which keeps every dimension).

    ``settings`` names each model's setting (None: all one setting). This is ``udr`` after encoding; on the same
    inputs it gives disentanglement_lib's ``compute_udr_sklearn`` model scores (one setting) and pair scores.
    """
    n = len(codes)
    labels = [f"[{k}]" for k in range(n)] if labels is None else [str(label) for label in labels]
    settings = [ALL] * n if settings is None else [str(setting) for setting in settings]
    if len(labels) != n or len(settings) != n:
        raise ValueError(f"{n} models' codes but {len(labels)} labels and {len(settings)} settings")
    _check_options(correlation, kl_threshold, alpha)
    _check_counts(labels, settings)
    arrays = [_codes(array, label) for array, label in zip(codes, labels)]
    _check_same(labels, [array.shape[1] for array in arrays], "latent sizes", "UDR compares dimensions one to one")
    _check_same(labels, [array.shape[0] for array in arrays], "numbers of points", "codes must be of the same images")
    masks = _informative(arrays, kls, kl_threshold, labels)
    standardised = [_standardise(array)[:, mask] for array, mask in zip(arrays, masks)]
    pairwise = np.full((n, n), np.nan)
    for a in range(n):
        for b in range(n):
            if a != b:
                matrix = similarity_matrix(standardised[a], standardised[b], correlation, alpha)
                pairwise[a, b] = relative_strength(matrix)
    same = np.array([[s == t for t in settings] for s in settings])
    others = ~np.eye(n, dtype=bool)
    scores = [float(np.median(pairwise[same[:, b] & others[:, b], b])) for b in range(n)]
    spread = [_spread(pairwise[same[:, b] & others[:, b], b]) for b in range(n)]
    a2a = [float(np.median(pairwise[others[:, b], b])) for b in range(n)]
    setting_scores = {}
    for setting in dict.fromkeys(settings):
        members = [k for k in range(n) if settings[k] == setting]
        own = [scores[k] for k in members]
        setting_scores[setting] = {
            "udr": float(np.median(own)), "min": float(np.min(own)), "max": float(np.max(own)),
            "udr_a2a": float(np.median([a2a[k] for k in members])), "models": len(members),
        }
    made_with = {
        "method": "UDR (Duan et al. 2020) as disentanglement_lib's compute_udr_sklearn",
        "correlation": correlation,
        "alpha": float(alpha) if correlation == "lasso" else None,
        "kl_threshold": None if kl_threshold is None else float(kl_threshold),
        "aggregate": "median over pairs",
        "num_points": int(arrays[0].shape[0]),
        "latent_dim": int(arrays[0].shape[1]),
        "models": n,
    }
    return UDRResult(
        models=tuple(labels), settings=tuple(settings), scores=tuple(scores), spread=tuple(spread),
        a2a_scores=tuple(a2a), setting_scores=setting_scores, pairwise=pairwise,
        informative_dims=tuple(tuple(int(i) for i in np.flatnonzero(mask)) for mask in masks), made_with=made_with,
    )


def similarity_matrix(a: np.ndarray, b: np.ndarray, correlation: str = "lasso", alpha: float = 0.1) -> np.ndarray:
    """R[i, j] ≥ 0: how much a's dimension i goes with b's dimension j (codes of the same points, standardised)."""
    if a.shape[1] == 0 or b.shape[1] == 0:
        return np.zeros((a.shape[1], b.shape[1]))
    if correlation == "lasso":
        from sklearn.linear_model import Lasso  # noqa: PLC0415 - scikit-learn loads only for UDR

        coefficients = Lasso(alpha=alpha).fit(a, b).coef_  # [targets, features]; 1-D for one target
        return np.abs(np.reshape(coefficients, (b.shape[1], a.shape[1]))).T
    # Spearman: Pearson correlation of the ranks (ties share their mean rank); a constant dimension correlates 0.
    from scipy.stats import rankdata  # noqa: PLC0415

    ranks_a = rankdata(a, axis=0)
    ranks_b = rankdata(b, axis=0)
    ranks_a -= ranks_a.mean(axis=0)
    ranks_b -= ranks_b.mean(axis=0)
    norms = np.outer(np.linalg.norm(ranks_a, axis=0), np.linalg.norm(ranks_b, axis=0))
    product = ranks_a.T @ ranks_b
    return np.abs(np.divide(product, norms, out=np.zeros_like(product), where=norms > 0))


def relative_strength(matrix: np.ndarray) -> float:
    """Mean over columns of max²/sum and over rows likewise, averaged; an all-zero row or column counts 0, an empty
    matrix (a model without informative dimensions) scores 0."""
    matrix = np.asarray(matrix, np.float64)
    if matrix.size == 0:
        return 0.0

    def along(axis: int) -> float:
        total = matrix.sum(axis=axis)
        peak = matrix.max(axis=axis) ** 2
        return float(np.mean(np.divide(peak, total, out=np.zeros_like(total), where=total > 0)))

    return (along(0) + along(1)) / 2


# --------------------------------------------------------------------------- checks
def _flatten(models: Any) -> tuple[list[str], list[str] | None, list[Any]]:
    """(labels, settings or None for a plain list, models) of ``udr``'s ``models`` argument."""
    if isinstance(models, Mapping):
        labels, settings, members = [], [], []
        names = {}
        for setting, group in models.items():
            name = str(setting)
            if name in names:
                raise ValueError(f"settings {names[name]!r} and {setting!r} have the same name {name!r}")
            names[name] = setting
            group = _as_list(group, f"setting {name!r}")
            for k, model in enumerate(group):
                labels.append(_label(model, f"{name}[{k}]"))
                settings.append(name)
                members.append(model)
        return labels, settings, members
    members = _as_list(models, "models")
    return [_label(model, f"[{k}]") for k, model in enumerate(members)], None, members


def _as_list(group: Any, what: str) -> list[Any]:
    if isinstance(group, (str, os.PathLike, bytes)) or not isinstance(group, Sequence):
        raise TypeError(
            f"{what}: UDR compares several models, so give a list of them (or a mapping setting → list), "
            f"got {type(group).__name__}"
        )
    return list(group)


def _label(model: Any, default: str) -> str:
    return os.fspath(model) if isinstance(model, (str, os.PathLike)) else default


def _check_options(correlation: Any, kl_threshold: Any, alpha: Any) -> None:
    if correlation not in CORRELATIONS:
        raise ValueError(f"unknown correlation {correlation!r}; choose one of {list(CORRELATIONS)}")
    if kl_threshold is not None:
        non_negative_float(kl_threshold, "kl_threshold")
    positive_float(alpha, "alpha")


def _check_counts(labels: list[str], settings: list[str] | None) -> None:
    if len(labels) < 2:
        raise ValueError(f"UDR compares models with one another: give at least 2 models, got {len(labels)}")
    if settings is None:
        return
    for setting in dict.fromkeys(settings):
        count = settings.count(setting)
        if count < 2:
            raise ValueError(
                f"setting {setting!r} has {count} model: UDR compares the seeds of a setting with one another, so "
                "give each setting at least 2 models (or score them all as one list)"
            )


def _check_same(labels: list[str], values: list[Any], what: str, why: str) -> None:
    known = {label: value for label, value in zip(labels, values) if value is not None}
    if len(set(known.values())) > 1:
        listed = ", ".join(f"{label}: {value}" for label, value in known.items())
        raise ValueError(f"the models have different {what} ({listed}); {why}")


def _codes(array: Any, label: str) -> np.ndarray:
    codes = np.asarray(array)
    if codes.ndim != 2 or codes.shape[0] < 2 or codes.shape[1] < 1:
        raise ValueError(f"model {label}: codes must be [points ≥ 2, dimensions ≥ 1], got shape {codes.shape}")
    if not np.issubdtype(codes.dtype, np.number) or np.issubdtype(codes.dtype, np.complexfloating):
        raise ValueError(f"model {label}: codes must be real numbers, got dtype {codes.dtype}")
    codes = codes.astype(np.float64)
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"model {label}: codes contain NaN or infinite values")
    return codes


def _informative(
    arrays: list[np.ndarray], kls: Sequence[np.ndarray] | None, threshold: float | None, labels: list[str]
) -> list[np.ndarray]:
    dims = arrays[0].shape[1]
    if threshold is None:
        return [np.ones(dims, bool) for _ in arrays]
    if kls is None:
        raise ValueError("the KL filter needs each model's per-dimension KL: pass kls, or kl_threshold=None to keep "
                         "every dimension")
    if len(kls) != len(arrays):
        raise ValueError(f"{len(arrays)} models' codes but {len(kls)} KL vectors")
    masks = []
    for kl, label in zip(kls, labels):
        kl = np.asarray(kl, np.float64)
        if kl.shape != (dims,) or not np.all(np.isfinite(kl)):
            raise ValueError(f"model {label}: the KL must be {dims} finite numbers (one per dimension), got {kl!r}")
        masks.append(kl > threshold)
    return masks


def _standardise(codes: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per dimension; a constant dimension becomes zeros (as scikit-learn's StandardScaler)."""
    scale = codes.std(axis=0)
    return (codes - codes.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def _spread(values: np.ndarray) -> dict[str, float]:
    return {name: float(np.percentile(values, q)) for name, q in _QUANTILES.items()}
