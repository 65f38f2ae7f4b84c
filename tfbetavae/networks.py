"""The standard networks: the disentanglement encoder/decoder for images, a small MLP for vectors.

Images (Higgins et al. 2017; Locatello et al. 2019): four stride-2 convolutions (32-32-64-64 filters) with ReLU,
dense 256, then the mean and log-variance of the latent code. The decoder mirrors it and ends in per-pixel
parameters (logits or means). Any height, width and channel count works: each stride-2 "same" convolution
halves a side rounding up, the decoder starts from that small grid, and when the transposed convolutions overshoot
the input's size (28 → 32) a crop brings the output back to it exactly. At sizes that are multiples of 16 nothing is
cropped: 64×64 is the same network, layer for layer and weight for weight, as before sizes were free.

Vectors ``(D,)``: ``MLPEncoder``/``MLPDecoder``, two hidden dense layers each.

``standard_networks(input_shape, latent_dim)`` picks one pair; ``BetaVAE`` uses it when it is given no networks.

Mixed precision: under a ``keras.mixed_precision`` policy (``mixed_bfloat16``, ``mixed_float16``) the layers
compute in the low precision while their weights stay float32, and both networks still return float32 — the
encoder's last (tiny) layer computes in float32 and the decoder casts its output — so the distributions, losses
and KL built from their outputs are float32 under every policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from tfbetavae.checks import positive_int

_FILTERS = (32, 32, 64, 64)


def _positive_ints(shape) -> tuple[int, ...] | None:
    """A shape's entries as ints under the package's one policy (``tfbetavae.checks``), None when it is no shape."""
    try:
        shape = tuple(shape)
    except TypeError:  # None, a number: not a shape at all
        return None
    try:
        return tuple(positive_int(d, "input_shape entry") for d in shape) or None
    except ValueError:  # ArgumentTypeError included: bools, floats, strings
        return None


def validate_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """(height, width, channels) or (features,) of positive ints, or a ValueError naming the problem."""
    shape = _positive_ints(input_shape)
    if shape is None or len(shape) not in (1, 3):
        raise ValueError(
            f"input_shape must be (height, width, channels) for images or (features,) for vectors, "
            f"of positive ints, got {input_shape!r}"
        )
    return shape


def validate_image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """(height, width, channels) of positive ints (any size), or a ValueError naming the problem."""
    shape = validate_input_shape(input_shape)
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels) of positive ints, got {input_shape!r}")
    return shape


def _downsampled(size: int, times: int = len(_FILTERS)) -> int:
    """A side after ``times`` stride-2 "same" convolutions (each rounds up)."""
    for _ in range(times):
        size = -(-size // 2)
    return size


def _validate_kernel_sizes(kernel_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(k) for k in kernel_sizes)
    if len(sizes) != len(_FILTERS) or any(k < 1 for k in sizes):
        raise ValueError(f"kernel_sizes must be {len(_FILTERS)} positive ints, got {kernel_sizes!r}")
    return sizes


class _StandardNetwork(keras.Model):
    """What the four standard networks share: the latent size, the data's shape and the hidden width, saved in the
    config under the keys their constructors take (``shape_key``: ``input_shape`` for encoders, ``output_shape``
    for decoders), so every file saved before this base class existed loads unchanged."""

    shape_key = "input_shape"

    def __init__(self, latent_dim: int, shape: Sequence[int], hidden_units: int, images: bool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.data_shape = validate_image_shape(shape) if images else validate_input_shape(shape)
        self.hidden_units = int(hidden_units)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            self.shape_key: list(self.data_shape),
            "hidden_units": self.hidden_units,
        }


@keras.saving.register_keras_serializable(package="tfbetavae")
class Encoder(_StandardNetwork):
    """Images [B, H, W, C] → (mean, log_variance), each [B, latent_dim]."""

    def __init__(
        self,
        latent_dim: int = 10,
        input_shape: Sequence[int] = (64, 64, 1),
        kernel_sizes: Sequence[int] = (4, 4, 4, 4),
        hidden_units: int = 256,
        **kwargs,
    ) -> None:
        super().__init__(latent_dim, input_shape, hidden_units, images=True, **kwargs)
        self.kernel_sizes = _validate_kernel_sizes(kernel_sizes)
        policy = self.dtype_policy  # the sublayers follow this model's policy (the global one unless dtype= is given)
        self.convs = [
            layers.Conv2D(f, k, strides=2, padding="same", activation="relu", name=f"conv_{i}", dtype=policy)
            for i, (f, k) in enumerate(zip(_FILTERS, self.kernel_sizes))
        ]
        self.flatten = layers.Flatten(dtype=policy)
        self.hidden = layers.Dense(self.hidden_units, activation="relu", name="hidden", dtype=policy)
        # One dense layer for both moments: one matmul instead of two. It computes in the variable dtype (float32
        # under mixed policies): the moments feed the KL directly, and this layer costs < 0.1 % of the FLOPs.
        self.moments = layers.Dense(2 * self.latent_dim, name="moments", dtype=policy.variable_dtype)

    def call(self, images):
        h = images
        for conv in self.convs:
            h = conv(h)
        h = self.hidden(self.flatten(h))
        mean, log_variance = keras.ops.split(self.moments(h), 2, axis=-1)
        return mean, log_variance

    def get_config(self):
        return {**super().get_config(), "kernel_sizes": list(self.kernel_sizes)}


@keras.saving.register_keras_serializable(package="tfbetavae")
class Decoder(_StandardNetwork):
    """Codes [B, latent_dim] → per-pixel parameters [B, H, W, C] (Bernoulli logits or Gaussian means)."""

    shape_key = "output_shape"

    def __init__(
        self,
        latent_dim: int = 10,
        output_shape: Sequence[int] = (64, 64, 1),
        hidden_units: int = 256,
        **kwargs,
    ) -> None:
        super().__init__(latent_dim, output_shape, hidden_units, images=True, **kwargs)
        height, width, channels = self.data_shape
        self.start_shape = (_downsampled(height), _downsampled(width), _FILTERS[-1])
        policy = self.dtype_policy
        self.hidden = layers.Dense(self.hidden_units, activation="relu", name="hidden", dtype=policy)
        self.expand = layers.Dense(
            self.start_shape[0] * self.start_shape[1] * self.start_shape[2], activation="relu", name="expand",
            dtype=policy,
        )
        self.reshape = layers.Reshape(self.start_shape, dtype=policy)
        out_filters = (*reversed(_FILTERS[:-1]), channels)  # 64-32-32-C
        self.deconvs = [
            layers.Conv2DTranspose(
                f, 4, strides=2, padding="same", activation=None if i == len(out_filters) - 1 else "relu",
                name=f"deconv_{i}", dtype=policy,
            )
            for i, f in enumerate(out_filters)
        ]
        # The transposed convolutions end at start·16 ≥ the input's size; crop the overshoot (none at 64×64).
        extra = (self.start_shape[0] * 2 ** len(_FILTERS) - height, self.start_shape[1] * 2 ** len(_FILTERS) - width)
        self.crop = None
        if any(extra):
            cropping = tuple((e // 2, e - e // 2) for e in extra)
            self.crop = layers.Cropping2D(cropping, name="crop", dtype=policy)

    def call(self, codes):
        h = self.reshape(self.expand(self.hidden(codes)))
        for deconv in self.deconvs:
            h = deconv(h)
        if self.crop is not None:
            h = self.crop(h)
        # Parameters leave in the variable dtype (float32 under mixed policies): the likelihood is computed in float32.
        return keras.ops.cast(h, self.dtype_policy.variable_dtype)



@keras.saving.register_keras_serializable(package="tfbetavae")
class MLPEncoder(_StandardNetwork):
    """Vectors [B, D] → (mean, log_variance), each [B, latent_dim]: two ReLU dense layers, then the moments."""

    def __init__(self, latent_dim: int = 10, input_shape: Sequence[int] = (16,), hidden_units: int = 256, **kwargs):
        super().__init__(latent_dim, input_shape, hidden_units, images=False, **kwargs)
        policy = self.dtype_policy
        self.hidden = [
            layers.Dense(self.hidden_units, activation="relu", name=f"hidden_{i}", dtype=policy) for i in range(2)
        ]
        self.moments = layers.Dense(2 * self.latent_dim, name="moments", dtype=policy.variable_dtype)

    def call(self, vectors):
        h = vectors
        for dense in self.hidden:
            h = dense(h)
        mean, log_variance = keras.ops.split(self.moments(h), 2, axis=-1)
        return mean, log_variance



@keras.saving.register_keras_serializable(package="tfbetavae")
class MLPDecoder(_StandardNetwork):
    """Codes [B, latent_dim] → parameters [B, D]: two ReLU dense layers, then a linear layer of D."""

    shape_key = "output_shape"

    def __init__(self, latent_dim: int = 10, output_shape: Sequence[int] = (16,), hidden_units: int = 256, **kwargs):
        super().__init__(latent_dim, output_shape, hidden_units, images=False, **kwargs)
        policy = self.dtype_policy
        self.hidden = [
            layers.Dense(self.hidden_units, activation="relu", name=f"hidden_{i}", dtype=policy) for i in range(2)
        ]
        self.params = layers.Dense(self.data_shape[0], name="params", dtype=policy)

    def call(self, codes):
        h = codes
        for dense in self.hidden:
            h = dense(h)
        return keras.ops.cast(self.params(h), self.dtype_policy.variable_dtype)



def standard_networks(
    input_shape: Sequence[int],
    latent_dim: int,
    kernel_sizes: Sequence[int] = (4, 4, 4, 4),
    hidden_units: int = 256,
    dtype=None,
) -> tuple[keras.Model, keras.Model]:
    """The default (encoder, decoder) for ``input_shape``: convolutional for images, an MLP for vectors."""
    shape = validate_input_shape(input_shape)
    if len(shape) == 3:
        return (
            Encoder(latent_dim, shape, kernel_sizes, hidden_units, name="encoder", dtype=dtype),
            Decoder(latent_dim, shape, hidden_units, name="decoder", dtype=dtype),
        )
    return (
        MLPEncoder(latent_dim, shape, hidden_units, name="encoder", dtype=dtype),
        MLPDecoder(latent_dim, shape, hidden_units, name="decoder", dtype=dtype),
    )
