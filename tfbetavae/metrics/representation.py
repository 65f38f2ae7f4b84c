"""Turns whatever the user has (a model, a path to one, an exported signature, a function) into images → codes.

Every metric needs the same thing from a model: a function mapping a float32 image batch [n, H, W, C]
to a float32 code matrix [n, d]. Adapting once here, and checking the output once here, means the
metrics never care which of the supported kinds of representation they were handed, and a broken
representation (wrong rank, NaN, wrong count) fails with a message instead of a bad score.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from tfbetavae.checks import non_negative_int, positive_int
from tfbetavae.loading import load

RepresentFn = Callable[[np.ndarray], np.ndarray]

_ADAPTED_MARK = "_tfbetavae_representation"

# What a code is: the posterior mean (the default, what disentanglement_lib's studies score), or one draw of
# z ~ N(mean, exp(log_variance)) per image (its ``sampled_representation``).
REPRESENTATIONS = ("mean", "sampled")


def check_representation(representation: Any) -> str:
    """``representation`` if it is ``"mean"`` or ``"sampled"``, else a ValueError naming the choices."""
    if not isinstance(representation, str) or representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {list(REPRESENTATIONS)}, got {representation!r}")
    return representation


def as_representation(represent: Any, representation: str | None = None, seed: int = 0) -> RepresentFn:
    """A function images → float32 codes [n, d] for any supported kind of representation.

    Accepted, in this order of precedence:

    * a path to a model (a ``.keras`` file, a run folder, a SavedModel version or base folder), opened
      with ``tfbetavae.load``;
    * an object with an ``encode`` method, such as a model ``tfbetavae.load`` returns (``encode`` gives the
      posterior mean); a raw ``tf.saved_model.load`` result uses its ``encode`` signature;
    * a callable returning a dict, such as an exported SavedModel signature: its ``"mean"`` entry is used
      (the codes of the β-VAE family of metrics are posterior means). Concrete functions and anything with a
      ``structured_input_signature`` get the images as the keyword ``images=`` (signatures only take keywords);
      other callables get them positionally;
    * a plain callable returning an array or tensor [n, d].

    A tuple or list result is read as ``(mean, ...)``. The returned function checks every result and raises a
    ``ValueError`` naming the problem when it is not 2-D, has a different count than the images, or is not finite.

    ``representation="sampled"`` makes each code one draw mean + exp(log_variance / 2)·ε, ε ~ N(0, I) from a NumPy
    generator seeded with ``seed``: the same images in the same order give the same codes. It needs the posterior's
    log-variance: ``encode(images, return_log_variance=True)`` of a model, the ``"log_variance"`` entry of a dict
    (an exported ``encode`` signature), or a ``(mean, log_variance)`` pair. ``None`` (the default) leaves a
    function this returned as it is and gives the mean for anything else. Its result carries ``representation``.
    """
    kind = None if representation is None else check_representation(representation)
    if getattr(represent, _ADAPTED_MARK, False):
        if kind is None or (kind == "mean" and represent.representation == "mean"):
            return represent
        return _adapted(represent.moments, kind, seed, represent.__doc__, represent.image_shape)
    if isinstance(represent, (str, os.PathLike)):
        represent = load(represent)
    if isinstance(represent, bytes) or represent is None:
        raise TypeError(f"a representation must be a model with .encode or a callable, got {represent!r}")
    encode = getattr(represent, "encode", None)
    signatures = getattr(represent, "signatures", None)
    if callable(encode):
        target = encode
    elif not callable(represent) and isinstance(signatures, Mapping) and "encode" in signatures:
        target = signatures["encode"]  # a raw tf.saved_model.load() result
    else:
        target = represent
    if not callable(target):
        raise TypeError(
            f"a representation must be a model with an .encode method or a callable images -> codes, "
            f"got an object of type {type(represent).__name__}"
        )
    keyword = _signature_keyword(target)
    is_encode_method = target is encode

    def moments(images: np.ndarray, with_log_variance: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(mean, log-variance or None) of a batch; the log-variance only when asked (a model is then asked for it)."""
        batch = np.asarray(images, dtype=np.float32)
        if keyword is not None:
            output = target(**{keyword: tf.convert_to_tensor(batch)})
        elif with_log_variance and is_encode_method:
            output = _encode_with_log_variance(target, batch)
        else:
            output = target(batch)
        mean, log_variance = _pick_moments(output)
        mean = _check_codes(mean, len(batch))
        if not with_log_variance:
            return mean, None
        if log_variance is None:
            raise ValueError(
                "representation='sampled' needs the posterior's log-variance, and this representation gives codes "
                "only: use a model whose encode(images, return_log_variance=True) works, an exported encode "
                "signature, or a function returning {'mean': ..., 'log_variance': ...}"
            )
        log_variance = _check_codes(log_variance, len(batch))
        if log_variance.shape != mean.shape:
            raise ValueError(f"the log-variance has shape {log_variance.shape}, the mean {mean.shape}")
        return mean, log_variance

    # The images the model takes (None for a plain function): lets a metric read an image folder at the right size.
    shape = getattr(represent, "image_shape", None)
    image_shape = tuple(int(v) for v in shape) if isinstance(shape, (tuple, list)) else None
    doc = f"Codes of {type(represent).__name__} {getattr(represent, '__name__', '')}".rstrip()
    return _adapted(moments, kind or "mean", seed, doc, image_shape)


def _adapted(moments: Callable, representation: str, seed: Any, doc: str | None, image_shape: Any) -> RepresentFn:
    """The images → codes function of a moments reader: its means, or one seeded posterior draw per image."""
    if representation == "mean":

        def represent_fn(images: np.ndarray) -> np.ndarray:
            return moments(images)[0]

    else:
        rng = np.random.default_rng(non_negative_int(seed, "seed"))

        def represent_fn(images: np.ndarray) -> np.ndarray:
            mean, log_variance = moments(images, with_log_variance=True)
            noise = rng.standard_normal(mean.shape)
            return (mean + np.exp(0.5 * log_variance.astype(np.float64)) * noise).astype(np.float32)

    setattr(represent_fn, _ADAPTED_MARK, True)
    represent_fn.moments = moments
    represent_fn.representation = representation
    represent_fn.image_shape = image_shape
    represent_fn.__doc__ = doc if representation == "mean" else f"{doc} (sampled)"
    return represent_fn


def _encode_with_log_variance(encode: Callable, batch: np.ndarray) -> Any:
    """``encode(batch, return_log_variance=True)`` when encode takes that keyword, else ``encode(batch)`` (which may
    return a dict or pair that holds the log-variance)."""
    try:
        parameters = inspect.signature(encode).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_keyword = "return_log_variance" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
    return encode(batch, return_log_variance=True) if takes_keyword else encode(batch)


def encode_in_batches(
    represent_fn: Any, images: np.ndarray, batch_size: int = 256, representation: str | None = None, seed: int = 0
) -> np.ndarray:
    """Codes [n, d] of ``images`` computed ``batch_size`` images at a time, to bound memory on large sets.

    ``representation`` and ``seed`` as in ``as_representation`` (``"sampled"``: one posterior draw per image).
    """
    batch_size = positive_int(batch_size, "batch_size")
    represent_fn = as_representation(represent_fn, representation, seed)
    images = np.asarray(images)
    if images.ndim not in (2, 4):  # images [n, H, W, C] or vectors [n, D]
        raise ValueError(f"images must be [batch, height, width, channels] or vectors [batch, features], got {images.shape}")
    parts = [represent_fn(images[start : start + batch_size]) for start in range(0, len(images), batch_size)]
    if not parts:
        return np.zeros((0, 0), np.float32)
    widths = {part.shape[1] for part in parts}
    if len(widths) != 1:
        raise ValueError(
            f"the representation returned codes of different widths {sorted(widths)} for different batches"
        )
    return np.concatenate(parts, axis=0)


def _signature_keyword(function: Any) -> str | None:
    """The keyword a signature-like function wants its images under, or None for positional calls."""
    is_concrete = isinstance(function, tf.types.experimental.ConcreteFunction)
    if not is_concrete and not hasattr(function, "structured_input_signature"):
        return None
    try:
        _, kwargs = function.structured_input_signature
    except (AttributeError, TypeError, ValueError):
        return "images"
    names = list(kwargs or {})
    if "images" in names or not names:
        return "images"
    if len(names) == 1:
        return names[0]
    raise ValueError(f"cannot tell which input of the signature takes the images: inputs {names}, expected 'images'")


def _pick_moments(output: Any) -> tuple[Any, Any]:
    """(mean, log-variance or None) from what a representation returned: a dict, a tuple, or the codes alone."""
    if isinstance(output, Mapping):
        if "mean" in output:
            return output["mean"], output.get("log_variance")
        if len(output) == 1:
            return next(iter(output.values())), None
        raise ValueError(f"the representation returned a dict without a 'mean' entry (keys {sorted(output)})")
    if isinstance(output, (tuple, list)):
        if not output:
            raise ValueError("the representation returned an empty tuple")
        return output[0], (output[1] if len(output) > 1 else None)
    return output, None


def _check_codes(codes: Any, num_images: int) -> np.ndarray:
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"the representation must return codes of rank 2 [n, d], got shape {array.shape}")
    if array.shape[0] != num_images:
        raise ValueError(f"the representation returned {array.shape[0]} codes for {num_images} images")
    if array.shape[1] < 1:
        raise ValueError("the representation returned codes with zero dimensions [n, 0]")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"the representation must return real numbers, got dtype {array.dtype}")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array)))
        raise ValueError(f"the representation returned {bad} NaN or infinite values")
    return array
