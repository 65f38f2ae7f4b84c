"""Weakly supervised disentanglement from pairs (Locatello et al. 2020, "Weakly-Supervised Disentanglement Without
Compromises"): Ada-GVAE and Ada-ML-VAE.

Training data are pairs (x1, x2) of observations known to share some of their generative factors, without being told
which or how many. Both images are encoded; the latent dimensions whose posteriors barely differ are judged shared
and both posteriors are replaced, on those dimensions, by one aggregate of the two; each image is then reconstructed
from a sample of its (partly aggregated) posterior:

    δ_i = KL(q(z_i|x1) ‖ q(z_i|x2)),   shared = {i : δ_i < ½ (max_j δ_j + min_j δ_j)}      (the adaptive threshold)
    loss = ½ Σ_{v=1,2} ( −E_q̃v[log p(x_v|z)] + β · KL(q̃(z|x_v) ‖ p(z)) )

The aggregate is what tells the two methods apart:

* Ada-GVAE (after the Group-VAE of Hosoya 2019): the average, mean (μ1 + μ2)/2 and variance (σ1² + σ2²)/2;
* Ada-ML-VAE (after the ML-VAE of Bouchacourt et al. 2018): the product of the two Gaussians' precisions, mean
  (μ1/σ1² + μ2/σ2²) / (1/σ1² + 1/σ2²), with variance 2σ1²σ2²/(σ1² + σ2²) (the harmonic mean of the two variances:
  twice the product's variance, as in disentanglement_lib's ``MLVae``).

This follows disentanglement_lib (``methods/weak/weak_vae.py``, ``GroupVAEArgmax`` and ``MLVaeArgmax``): the two
reconstructions and the two KL terms are averaged, so β = 1 is the ELBO of each image; the threshold splits each pair's
δ into two equal-width bins, and a pair whose δ are all equal (e.g. two identical images) aggregates every dimension.

The trained encoder is an ordinary one: ``encode``, ``.keras`` files, export, metrics and pictures take single images.
Only training (``fit``, ``tfbetavae.train``) takes pairs: batches ``(x1, x2)`` of the same shape, e.g. from
``tfbetavae.data.pairs``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfbetavae.model import BetaVAE

tfd = tfp.distributions

__all__ = [
    "AdaGVAE", "AdaMLVAE", "PairVAE", "average_posteriors", "pair_posteriors", "product_of_posteriors",
    "shared_dimensions",
]

_LOG_2 = 0.6931471805599453


def _floats(*values) -> list[tf.Tensor]:
    """Tensors, arrays or nested lists as float32 tensors (the functions below are public and take any of them)."""
    return [tf.cast(value, tf.float32) if isinstance(value, tf.Tensor) else tf.constant(value, tf.float32) for value in values]


def shared_dimensions(mean_1, log_variance_1, mean_2, log_variance_2) -> tf.Tensor:
    """Which latent dimensions each pair shares, by the adaptive threshold: a boolean [B, latent_dim].

    δ_i = KL(N(μ1_i, σ1_i²) ‖ N(μ2_i, σ2_i²)) per dimension; a dimension is shared when its δ lies below the midpoint
    of the pair's smallest and largest δ. When all δ of a pair are equal, every dimension is shared.
    """
    mean_1, log_variance_1, mean_2, log_variance_2 = _floats(mean_1, log_variance_1, mean_2, log_variance_2)
    first = tfd.Normal(mean_1, tf.exp(0.5 * log_variance_1))
    second = tfd.Normal(mean_2, tf.exp(0.5 * log_variance_2))
    divergence = tfd.kl_divergence(first, second)
    low = tf.reduce_min(divergence, axis=-1, keepdims=True)
    high = tf.reduce_max(divergence, axis=-1, keepdims=True)
    differs = tf.logical_and(divergence >= 0.5 * (low + high), high > low)
    return tf.logical_not(differs)


def average_posteriors(mean_1, log_variance_1, mean_2, log_variance_2) -> tuple[tf.Tensor, tf.Tensor]:
    """Ada-GVAE's aggregate: mean and log-variance of the averaged parameters, (μ1 + μ2)/2 and (σ1² + σ2²)/2."""
    mean_1, log_variance_1, mean_2, log_variance_2 = _floats(mean_1, log_variance_1, mean_2, log_variance_2)
    mean = 0.5 * (mean_1 + mean_2)
    log_variance = tf.math.reduce_logsumexp(tf.stack([log_variance_1, log_variance_2]), axis=0) - _LOG_2
    return mean, log_variance


def product_of_posteriors(mean_1, log_variance_1, mean_2, log_variance_2) -> tuple[tf.Tensor, tf.Tensor]:
    """Ada-ML-VAE's aggregate: the precision-weighted mean, and the harmonic mean of the variances 2σ1²σ2²/(σ1² + σ2²).

    Written with precisions in log space, so very small or large variances neither overflow nor divide by zero.
    """
    mean_1, log_variance_1, mean_2, log_variance_2 = _floats(mean_1, log_variance_1, mean_2, log_variance_2)
    weight_1 = tf.sigmoid(log_variance_2 - log_variance_1)  # (1/σ1²) / (1/σ1² + 1/σ2²)
    mean = weight_1 * mean_1 + (1.0 - weight_1) * mean_2
    log_precision_sum = tf.math.reduce_logsumexp(tf.stack([-log_variance_1, -log_variance_2]), axis=0)
    return mean, _LOG_2 - log_precision_sum


def pair_posteriors(mean_1, log_variance_1, mean_2, log_variance_2, aggregate=average_posteriors):
    """The two posteriors a pair trains with: ``((mean_1, log_variance_1), (mean_2, log_variance_2), shared)``.

    On the dimensions ``shared_dimensions`` judges shared both take ``aggregate``'s posterior (``average_posteriors``
    for Ada-GVAE, ``product_of_posteriors`` for Ada-ML-VAE); elsewhere each keeps its own.
    """
    shared = shared_dimensions(mean_1, log_variance_1, mean_2, log_variance_2)
    common_mean, common_log_variance = aggregate(mean_1, log_variance_1, mean_2, log_variance_2)
    first = (tf.where(shared, common_mean, mean_1), tf.where(shared, common_log_variance, log_variance_1))
    second = (tf.where(shared, common_mean, mean_2), tf.where(shared, common_log_variance, log_variance_2))
    return first, second, shared


class PairVAE(BetaVAE):
    """A ``BetaVAE`` trained on pairs with the adaptive threshold; subclasses choose the aggregate.

    Args:
        beta: weight of the KL term (disentanglement_lib's ``beta``: required there, and its own test configuration
            binds 1, the ELBO of each image).
        **kwargs: the other ``BetaVAE`` arguments (latent_dim, input_shape, likelihood, kernel_sizes,
            observation_scale, seed, name, dtype, and your own ``encoder``/``decoder`` under the same contract).
            The capacity schedule is not available here.

    Logs ``loss``, ``reconstruction`` and ``kl`` (averaged over both images of a pair), ``active_dims`` and
    ``shared_dims`` (the number of dimensions judged shared, averaged over pairs).
    """

    objective = ""  # the name OBJECTIVES gives it, set by each subclass
    trains_on_pairs = True  # tfbetavae.train feeds it tfbetavae.data.pairs.pairs_dataset(data)

    def __init__(self, beta: float = 1.0, capacity: float | None = None, gamma: float | None = None, **kwargs) -> None:
        if capacity is not None:
            raise ValueError(f"{type(self).__name__} does not support the capacity schedule; use BetaVAE(capacity=...)")
        if gamma is not None:
            raise ValueError(f"{type(self).__name__} has no gamma: its one weight is beta, on the KL")
        # Created before BetaVAE.__init__, which builds the model: a built Keras model accepts no new state.
        self.shared_dims_tracker = keras.metrics.Mean(name="shared_dims")
        super().__init__(beta=beta, capacity=None, **kwargs)

    @staticmethod
    def aggregate(mean_1, log_variance_1, mean_2, log_variance_2):
        """The one posterior a shared dimension takes in both images: (mean, log_variance)."""
        raise NotImplementedError

    def get_config(self):
        config = super().get_config()
        for key in ("capacity", "capacity_steps", "gamma"):
            config.pop(key, None)
        return config

    @property
    def metrics(self):
        return [*super().metrics, self.shared_dims_tracker]

    def pair_terms(self, first, second, training: bool = False) -> dict:
        """Loss, reconstruction and KL (batch means over both images), kl_per_dim [2B, latent_dim] of the aggregated
        posteriors, and the shared dimensions [B, latent_dim] of each pair."""
        count = tf.shape(first)[0]
        # One pass of the networks over both images (the same as two passes for networks without batch statistics).
        mean, log_variance = self._moments(tf.concat([first, second], axis=0), training=training)
        mean_1, mean_2 = mean[:count], mean[count:]
        log_variance_1, log_variance_2 = log_variance[:count], log_variance[count:]
        first_posterior, second_posterior, shared = pair_posteriors(
            mean_1, log_variance_1, mean_2, log_variance_2, self.aggregate
        )
        mean = tf.concat([first_posterior[0], second_posterior[0]], axis=0)
        log_variance = tf.concat([first_posterior[1], second_posterior[1]], axis=0)
        posterior = self._gaussian(mean, log_variance)
        codes = posterior.sample(seed=self.sampling_seed(0 if training else 1))  # independent draws for both images
        likelihood = self._likelihood_from_params(self.decoder(codes, training=training))
        images = tf.cast(tf.concat([first, second], axis=0), tf.float32)
        kl_per_dim = tfd.kl_divergence(posterior.distribution, self.prior.distribution)
        reconstruction = -tf.reduce_mean(likelihood.log_prob(images))
        kl = tf.reduce_mean(tf.reduce_sum(kl_per_dim, axis=-1))
        return {
            "loss": reconstruction + self.beta * kl,
            "reconstruction": reconstruction,
            "kl": kl,
            "kl_per_dim": kl_per_dim,
            "shared": shared,
        }

    def compute_terms(self, pairs, training: bool = False) -> dict:
        """``pair_terms`` of a pair batch ``(x1, x2)``."""
        return self.pair_terms(*self._pair_from(pairs), training=training)

    def _pair_from(self, data):
        """(x1, x2) as float32 from a batch ``(x1, x2)`` (or Keras' ``((x1, x2),)``), or a ValueError naming it."""
        # Keras packs a batch as (x, y, sample_weight) in train_on_batch/test_on_batch: drop the empty places.
        while isinstance(data, (tuple, list)) and len(data) > 1 and data[-1] is None:
            data = data[:-1]
        while isinstance(data, (tuple, list)) and len(data) == 1:
            data = data[0]
        if not isinstance(data, (tuple, list)) or len(data) != 2:
            got = f"a tuple of {len(data)}" if isinstance(data, (tuple, list)) else f"{type(data).__name__}"
            raise ValueError(
                f"{type(self).__name__} trains on pairs: batches (x1, x2) of two aligned image batches, got {got} "
                "(build pairs with tfbetavae.data.pairs)"
            )
        first, second = (tf.cast(side, tf.float32) for side in data)
        if first.shape.rank is not None and second.shape.rank is not None and first.shape[1:] != second.shape[1:]:
            raise ValueError(f"a pair's two images must have the same shape, got {first.shape[1:]} and {second.shape[1:]}")
        return first, second

    def _record(self, terms) -> dict:
        self.shared_dims_tracker.update_state(tf.reduce_sum(tf.cast(terms["shared"], tf.float32), axis=-1))
        logs = super()._record(terms)
        # The shape BetaVAE gives its logs: a scalar, or [1] under multi-worker training.
        logs["shared_dims"] = tf.reshape(self.shared_dims_tracker.result(), tf.shape(logs["loss"]))
        return logs

    def train_step(self, data):
        first, second = self._pair_from(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.pair_terms(first, second, training=True)
            # As BetaVAE.train_step: each replica contributes loss / replicas; scale_loss unscales under float16.
            scaled_loss = self.optimizer.scale_loss(terms["loss"] / replicas)
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self._count_step(terms["loss"])
        return self._record(terms)

    def test_step(self, data):
        return self._record(self.compute_terms(data, training=False))


@keras.saving.register_keras_serializable(package="tfbetavae")
class AdaGVAE(PairVAE):
    """Ada-GVAE: shared dimensions take the average of the two posteriors (see the module docstring)."""

    objective = "ada-gvae"
    aggregate = staticmethod(average_posteriors)


@keras.saving.register_keras_serializable(package="tfbetavae")
class AdaMLVAE(PairVAE):
    """Ada-ML-VAE: shared dimensions take the precision-weighted product of the two posteriors (module docstring)."""

    objective = "ada-ml-vae"
    aggregate = staticmethod(product_of_posteriors)
