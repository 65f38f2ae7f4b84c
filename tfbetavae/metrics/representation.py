"""Turns whatever the user has (a model, a path to one, an exported signature, a function) into images → codes.

Every metric needs the same thing from a model: a function mapping a float32 image batch [n, H, W, C]
to a float32 code matrix [n, d]. Adapting once here, and checking the output once here, means the
metrics never care which of the supported kinds of representation they were handed, and a broken
representation (wrong rank, NaN, wrong count) fails with a message instead of a bad score.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from tfbetavae.checks import positive_int
from tfbetavae.loading import load

RepresentFn = Callable[[np.ndarray], np.ndarray]

_ADAPTED_MARK = "_tfbetavae_representation"


def as_representation(represent: Any) -> RepresentFn:
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
    """
    if getattr(represent, _ADAPTED_MARK, False):
        return represent
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

    def represent_fn(images: np.ndarray) -> np.ndarray:
        batch = np.asarray(images, dtype=np.float32)
        if keyword is not None:
            output = target(**{keyword: tf.convert_to_tensor(batch)})
        else:
            output = target(batch)
        return _check_codes(_pick_mean(output), len(batch))

    setattr(represent_fn, _ADAPTED_MARK, True)
    represent_fn.__doc__ = f"Codes of {type(represent).__name__} {getattr(represent, '__name__', '')}".rstrip()
    # The images the model takes (None for a plain function): lets a metric read an image folder at the right size.
    shape = getattr(represent, "image_shape", None)
    represent_fn.image_shape = tuple(int(v) for v in shape) if isinstance(shape, (tuple, list)) else None
    return represent_fn


def encode_in_batches(represent_fn: Any, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Codes [n, d] of ``images`` computed ``batch_size`` images at a time, to bound memory on large sets."""
    batch_size = positive_int(batch_size, "batch_size")
    represent_fn = as_representation(represent_fn)
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


def _pick_mean(output: Any) -> Any:
    if isinstance(output, Mapping):
        if "mean" in output:
            return output["mean"]
        if len(output) == 1:
            return next(iter(output.values()))
        raise ValueError(f"the representation returned a dict without a 'mean' entry (keys {sorted(output)})")
    if isinstance(output, (tuple, list)):
        if not output:
            raise ValueError("the representation returned an empty tuple")
        return output[0]
    return output


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
