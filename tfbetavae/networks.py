"""The standard disentanglement encoder and decoder (Higgins et al. 2017; Locatello et al. 2019).

Encoder: four stride-2 convolutions (32-32-64-64 filters) with ReLU, dense 256, then the mean and
log-variance of the latent code. Decoder: the mirror image, ending in per-pixel logits (or means).
Both are Keras 3 subclassed models returning plain tensors; the distributions are built from those
tensors by ``BetaVAE``.

Mixed precision: under a ``keras.mixed_precision`` policy (``mixed_bfloat16``, ``mixed_float16``) the layers
compute in the low precision while their weights stay float32, and both networks still return float32 — the
encoder's last (tiny) layer computes in float32 and the decoder casts its logits — so the distributions, losses
and KL built from their outputs are float32 under every policy.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

_FILTERS = (32, 32, 64, 64)
_DOWNSAMPLING = 2 ** len(_FILTERS)


def validate_image_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """(height, width, channels) with height and width multiples of 16, or a ValueError naming the problem."""
    try:
        shape = tuple(input_shape)
    except TypeError:  # None, a number: not a shape at all
        shape = ()
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(f"input_shape must be (height, width, channels) of positive ints, got {input_shape!r}")
    height, width, _ = shape
    if height % _DOWNSAMPLING or width % _DOWNSAMPLING:
        raise ValueError(
            f"input_shape height and width must be multiples of {_DOWNSAMPLING} (four stride-2 layers), got {shape}"
        )
    return shape


def _validate_kernel_sizes(kernel_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(k) for k in kernel_sizes)
    if len(sizes) != len(_FILTERS) or any(k < 1 for k in sizes):
        raise ValueError(f"kernel_sizes must be {len(_FILTERS)} positive ints, got {kernel_sizes!r}")
    return sizes


@keras.saving.register_keras_serializable(package="tfbetavae")
class Encoder(keras.Model):
    """Images [B, H, W, C] in [0, 1] → (mean, log_variance), each [B, latent_dim]."""

    def __init__(
        self,
        latent_dim: int = 10,
        input_shape: Sequence[int] = (64, 64, 1),
        kernel_sizes: Sequence[int] = (4, 4, 4, 4),
        hidden_units: int = 256,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.image_shape = validate_image_shape(input_shape)
        self.kernel_sizes = _validate_kernel_sizes(kernel_sizes)
        self.hidden_units = int(hidden_units)
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
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "input_shape": list(self.image_shape),
            "kernel_sizes": list(self.kernel_sizes),
            "hidden_units": self.hidden_units,
        }


@keras.saving.register_keras_serializable(package="tfbetavae")
class Decoder(keras.Model):
    """Codes [B, latent_dim] → per-pixel parameters [B, H, W, C] (Bernoulli logits or Gaussian means)."""

    def __init__(
        self,
        latent_dim: int = 10,
        output_shape: Sequence[int] = (64, 64, 1),
        hidden_units: int = 256,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.latent_dim = int(latent_dim)
        self.image_shape = validate_image_shape(output_shape)
        self.hidden_units = int(hidden_units)
        height, width, channels = self.image_shape
        self.start_shape = (height // _DOWNSAMPLING, width // _DOWNSAMPLING, _FILTERS[-1])
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

    def call(self, codes):
        h = self.reshape(self.expand(self.hidden(codes)))
        for deconv in self.deconvs:
            h = deconv(h)
        # Logits leave in the variable dtype (float32 under mixed policies): the likelihood is computed in float32.
        return keras.ops.cast(h, self.dtype_policy.variable_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "output_shape": list(self.image_shape),
            "hidden_units": self.hidden_units,
        }
