"""Likelihoods p(x | z): one object that knows its parameter shape and builds its distribution.

In the style of TFP's distribution layers, a ``Likelihood`` turns the decoder's output (its parameters, in the
input's shape) into a ``tfd.Distribution`` whose event shape is the input's shape, so −log p(x | z) is in nats,
summed over the event. By name (``get(name)``):

* ``"bernoulli"``: per-element Bernoulli with logits (binary-ish data such as dSprites);
* ``"continuous_bernoulli"``: TFP's ``ContinuousBernoulli`` with logits, the normalised likelihood for data in
  [0, 1] (Loaiza-Ganem & Cunningham 2019);
* ``"gaussian"``: Normal with the decoder's output as mean and a fixed scale (``observation_scale``);
* ``"gaussian_learned_scale"``: the same with one trainable scale per channel (per feature for vectors), starting
  at ``observation_scale``;
* ``"laplace"``: Laplace with a fixed scale.

Or any callable ``params -> tfd.Distribution`` (``FunctionLikelihood``); register it with
``keras.saving.register_keras_serializable`` so models that use it save and load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfbetavae.checks import positive_float

tfd = tfp.distributions

__all__ = [
    "LIKELIHOODS",
    "Bernoulli",
    "ContinuousBernoulli",
    "FunctionLikelihood",
    "Gaussian",
    "LearnedScaleGaussian",
    "Laplace",
    "Likelihood",
    "get",
]

# exp(±7) bounds a learned scale: it cannot collapse to 0 (infinite density) nor overflow.
_LOG_SCALE_RANGE = (-7.0, 7.0)


@keras.saving.register_keras_serializable(package="tfbetavae")
class Likelihood(keras.layers.Layer):
    """Base: ``distribution(params)`` is p(x | z) with event shape ``event_shape`` (set by ``build``).

    Subclasses give ``elementwise(params)``, one distribution per element; the base makes the elements one event.
    ``mean_key`` names the mean in exported signatures.
    """

    kind = "custom"
    mean_key = "mean"

    def build(self, event_shape: Sequence[int]) -> None:
        self.event_shape = tuple(int(d) for d in event_shape)
        self.built = True

    def param_shape(self, event_shape: Sequence[int]) -> tuple[int, ...]:
        """The decoder's output shape (without the batch) for data of ``event_shape``: the same shape."""
        return tuple(event_shape)

    def elementwise(self, params) -> tfd.Distribution:
        raise NotImplementedError

    def distribution(self, params) -> tfd.Distribution:
        """p(x | z) for a batch of parameters [B, *event_shape]: batch shape [B], event shape ``event_shape``."""
        return tfd.Independent(self.elementwise(params), reinterpreted_batch_ndims=len(self.event_shape))

    def mean(self, params):
        """E[x | z]: what ``decode`` and pictures show."""
        return self.distribution(params).mean()

    def call(self, params):  # a layer must be callable; the model uses distribution() and mean()
        return self.mean(params)


@keras.saving.register_keras_serializable(package="tfbetavae")
class Bernoulli(Likelihood):
    """Per-element Bernoulli with logits; its mean is the probability of 1."""

    kind = "bernoulli"
    mean_key = "probabilities"

    def elementwise(self, params):
        return tfd.Bernoulli(logits=params, dtype=params.dtype)

    def mean(self, params):
        return tf.sigmoid(params)


@keras.saving.register_keras_serializable(package="tfbetavae")
class ContinuousBernoulli(Likelihood):
    """TFP's ContinuousBernoulli with logits: a normalised density on [0, 1] (Loaiza-Ganem & Cunningham 2019)."""

    kind = "continuous_bernoulli"

    def elementwise(self, params):
        return tfd.ContinuousBernoulli(logits=params)


@keras.saving.register_keras_serializable(package="tfbetavae")
class Gaussian(Likelihood):
    """Normal(mean = params, scale = ``scale``), the scale fixed."""

    kind = "gaussian"

    def __init__(self, scale: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = positive_float(scale, "observation_scale")

    def elementwise(self, params):
        return tfd.Normal(loc=params, scale=tf.cast(self.scale, params.dtype))

    def mean(self, params):
        return params

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="tfbetavae")
class Laplace(Gaussian):
    """Laplace(loc = params, scale = ``scale``), the scale fixed: an L1 reconstruction in nats."""

    kind = "laplace"

    def elementwise(self, params):
        return tfd.Laplace(loc=params, scale=tf.cast(self.scale, params.dtype))


@keras.saving.register_keras_serializable(package="tfbetavae")
class LearnedScaleGaussian(Gaussian):
    """Normal(mean = params, scale = one trainable scale per channel), starting at ``scale``.

    One scale per channel (the last axis; per feature for vectors) is learned with the networks: the
    reconstruction/KL balance is then calibrated rather than set by a fixed scale.
    """

    kind = "gaussian_learned_scale"

    def build(self, event_shape):
        super().build(event_shape)
        self.log_scale = self.add_weight(
            shape=(self.event_shape[-1],), initializer=keras.initializers.Constant(math.log(self.scale)),
            name="log_scale", dtype="float32",
        )

    def elementwise(self, params):
        log_scale = tf.clip_by_value(tf.cast(self.log_scale, params.dtype), *_LOG_SCALE_RANGE)
        return tfd.Normal(loc=params, scale=tf.exp(log_scale))


@keras.saving.register_keras_serializable(package="tfbetavae")
class FunctionLikelihood(Likelihood):
    """Any callable ``params -> tfd.Distribution`` whose event shape is the input's shape.

    The model checks the event shape once, when it is built. To save a model with it, register the function
    with ``keras.saving.register_keras_serializable``.
    """

    def __init__(self, function: Callable, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(function, dict):  # a saved config
            function = keras.saving.deserialize_keras_object(function)
        if not callable(function):
            raise TypeError(f"a likelihood function must be callable, got {type(function).__name__}")
        self.function = function
        self.kind = getattr(function, "__name__", type(function).__name__)

    def distribution(self, params):
        distribution = self.function(params)
        if not isinstance(distribution, tfd.Distribution):
            raise TypeError(
                f"the likelihood function {self.kind} must return a tfp.distributions.Distribution, "
                f"got {type(distribution).__name__}"
            )
        return distribution

    def get_config(self):
        return {**super().get_config(), "function": keras.saving.serialize_keras_object(self.function)}


_BY_NAME = {
    cls.kind: cls for cls in (Bernoulli, ContinuousBernoulli, Gaussian, LearnedScaleGaussian, Laplace)
}
LIKELIHOODS = tuple(_BY_NAME)


def get(identifier, observation_scale: float = 0.1) -> Likelihood:
    """A ``Likelihood`` from a name in ``LIKELIHOODS``, a ``Likelihood``, a saved config or a callable."""
    if isinstance(identifier, Likelihood):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS} or a callable, got {identifier!r}")
        cls = _BY_NAME[identifier]
        if issubclass(cls, Gaussian):
            return cls(observation_scale, name="likelihood")
        return cls(name="likelihood")
    if isinstance(identifier, dict):
        likelihood = keras.saving.deserialize_keras_object(identifier)
        if not isinstance(likelihood, Likelihood):
            raise TypeError(f"a likelihood config must describe a Likelihood, got {type(likelihood).__name__}")
        return likelihood
    if callable(identifier):
        return FunctionLikelihood(identifier, name="likelihood")
    raise ValueError(f"likelihood must be one of {LIKELIHOODS} or a callable, got {identifier!r}")
