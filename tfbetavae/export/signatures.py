"""The four serving signatures (encode, decode, reconstruct, sample): plain tensors in and out, every input
checked in the graph before any op that could fail on it, an empty batch answered with empty outputs."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

DEFAULT_BASE_DIR = "exported_models/betavae"
KERAS_FILE = "model.keras"
MODEL_CARD_FORMAT = 1
# Second half of the stateless seed of the `sample` signature: (seed, _PRIOR_SEED_SALT).
_PRIOR_SEED_SALT = 20170101
_INT32 = np.iinfo(np.int32)
_MAX_SAMPLE_VALUES = 2**26  # float32 values one `sample` call may return


# --------------------------------------------------------------------------- the graph code

def posterior_noise(images, latent_dim: int):
    """ε ~ N(0, I) of shape [B, latent_dim] used by the ``encode`` signature's ``sample`` output.

    Each row is drawn with ``tf.random.stateless_normal`` from a seed that is the 64-bit fingerprint of that
    image's float32 bytes. The noise is therefore a pure function of the image: the same image gives the same
    sample in every call, process and batch (whatever else is in the batch, e.g. under server-side batching),
    and different images get independent noise.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    seeds = tf.bitcast(tf.reshape(tf.fingerprint(images), [-1, 2, 4]), tf.int32)  # [B, 2]
    return tf.map_fn(
        lambda seed: tf.random.stateless_normal([latent_dim], seed=seed),
        seeds,
        fn_output_signature=tf.TensorSpec([latent_dim], tf.float32),
    )


def prior_codes(num, seed, latent_dim: int):
    """Codes z ~ N(0, I) of shape [num, latent_dim] used by the ``sample`` signature (stateless, seeded)."""
    seed = tf.stack([tf.cast(seed, tf.int32), tf.constant(_PRIOR_SEED_SALT, tf.int32)])
    return tf.random.stateless_normal(tf.stack([tf.cast(num, tf.int32), latent_dim]), seed=seed)


def _shape_text(shape) -> str:
    return "[" + ", ".join("batch" if d is None else str(d) for d in shape) + "]"


def _check_shape(tensor, name: str, shape) -> tf.Tensor:
    """``tensor`` once its runtime shape equals ``shape`` (None: any size); else InvalidArgumentError naming both.

    A signature's TensorSpec is not enforced on callers of the restored function, and with oneDNN on a
    convolution fed a tensor of the wrong rank aborts the process: every later op depends on this check.
    Grappler may fold the rank to the traced one, so EnsureShape (a kernel that reads the real shape) backs the
    assertion; the assertion gives the clearer message where it runs.
    """
    expected = tf.constant([-1 if d is None else d for d in shape], tf.int32)
    actual = tf.raw_ops.Shape(input=tensor, out_type=tf.int32)
    # Padded/cut to len(shape) so the comparison itself works for any rank (no branch: Grappler folds them).
    padded = tf.concat([actual, tf.fill([len(shape)], -2)], 0)[: len(shape)]
    same = tf.logical_and(
        tf.equal(tf.raw_ops.Size(input=actual, out_type=tf.int32), len(shape)),
        tf.reduce_all(tf.equal(padded, expected) | tf.less(expected, 0)),
    )
    check = tf.debugging.Assert(same, [f"{name} must have shape {_shape_text(shape)}, got shape", actual], summarize=8)
    with tf.control_dependencies([check]):
        return tf.ensure_shape(tensor, shape)


def _batch_safe(inputs, compute, filler_shape):
    """``compute(inputs)``, except that an empty batch gives empty outputs: oneDNN's Conv2D fails on zero rows,
    so an empty batch runs on one row of zeros whose result is then dropped."""
    count = tf.shape(inputs)[0]
    safe = tf.cond(count > 0, lambda: inputs, lambda: tf.zeros([1, *filler_shape], inputs.dtype))
    return tf.nest.map_structure(lambda output: output[:count], compute(safe))


def max_sample_num(input_shape) -> int:
    """Largest ``num`` the ``sample`` signature accepts: 2**26 output values (256 MB of float32) per call."""
    return max(1, _MAX_SAMPLE_VALUES // math.prod(input_shape))


def _serving_functions(model) -> dict:
    """name -> (python function, input signature) for every exported signature.

    Each function checks its inputs (rank, shape, finiteness, range, ``num``'s bounds) before any op that
    could crash on them; dtypes are enforced by the signature itself.
    """
    input_shape = tuple(model.image_shape)  # (H, W, C) for images, (D,) for vectors
    latent_dim = model.latent_dim
    image_key = "probabilities" if model.likelihood_name == "bernoulli" else "mean"
    largest = max_sample_num(input_shape)

    def checked_images(images):
        images = _check_shape(images, "images", (None, *input_shape))
        images = tf.debugging.assert_all_finite(images, "images contain NaN or infinite values")
        if len(input_shape) == 3:  # images lie in [0, 1]; vectors may take any finite value
            checks = [
                tf.debugging.assert_greater_equal(images, 0.0, message="images must lie in [0, 1]"),
                tf.debugging.assert_less_equal(images, 1.0, message="images must lie in [0, 1]"),
            ]
            with tf.control_dependencies(checks):
                images = tf.identity(images)
        return images

    def checked_scalar(value, name, low, high):
        value = _check_shape(value, name, ())
        checks = [
            tf.debugging.assert_greater_equal(value, low, message=f"{name} must be >= {low}"),
            tf.debugging.assert_less_equal(value, high, message=f"{name} must be <= {high}"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(value)

    def decoded(z):
        return _batch_safe(z, model.mean_output, (latent_dim,))

    def encode(images):
        def moments_and_sample(batch):
            mean, log_variance = model.posterior_moments(batch)
            sample = mean + tf.exp(0.5 * log_variance) * posterior_noise(batch, latent_dim)
            return {"mean": mean, "log_variance": log_variance, "sample": sample}

        return _batch_safe(checked_images(images), moments_and_sample, input_shape)

    def decode(z):
        z = _check_shape(z, "z", (None, latent_dim))
        z = tf.debugging.assert_all_finite(z, "z contains NaN or infinite values")
        return {image_key: decoded(z)}

    def reconstruct(images):
        def reconstruction(batch):
            return model.mean_output(model.posterior_moments(batch)[0])

        return {"reconstruction": _batch_safe(checked_images(images), reconstruction, input_shape)}

    def sample(num, seed):
        # The checks run before the sampler, or a negative num fails there with TF's own message.
        num = checked_scalar(num, "num", 0, largest)
        seed = _check_shape(seed, "seed", ())
        return {"images": decoded(prior_codes(num, seed, latent_dim))}

    image_spec = tf.TensorSpec([None, *input_shape], tf.float32, name="images")
    return {
        # First endpoint: Keras also publishes it as "serving_default".
        "encode": (encode, [image_spec]),
        "decode": (decode, [tf.TensorSpec([None, latent_dim], tf.float32, name="z")]),
        "reconstruct": (reconstruct, [image_spec]),
        "sample": (sample, [tf.TensorSpec([], tf.int32, name="num"), tf.TensorSpec([], tf.int32, name="seed")]),
    }


# --------------------------------------------------------------------------- folders


def _signature_table(functions: Mapping) -> dict:
    """name -> {"inputs": {name: {shape, dtype}}, "outputs": {...}} from the traced functions."""

    def describe(spec):
        return {"shape": [None if d is None else int(d) for d in spec.shape.as_list()], "dtype": spec.dtype.name}

    table = {}
    for name, function in functions.items():
        concrete = function.get_concrete_function()
        inputs = {spec.name: describe(spec) for spec in concrete.structured_input_signature[0]}
        outputs = {key: describe(tf.TensorSpec.from_tensor(t)) for key, t in concrete.structured_outputs.items()}
        table[name] = {"inputs": inputs, "outputs": outputs}
    table["serving_default"] = {"same_as": "encode"}
    return table
