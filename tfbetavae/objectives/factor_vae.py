"""FactorVAE (Kim & Mnih 2018): the VAE loss plus γ · total correlation, estimated by a discriminator.

A discriminator D learns to tell codes z ~ q(z) (class 0) from codes whose dimensions were shuffled
independently across the batch, i.e. samples of Π_j q(z_j) (class 1). At its optimum
log(D(z) / (1 − D(z))) = log q(z) − log Π_j q(z_j), so with two logits

    TC ≈ E_q(z)[logit_0(z) − logit_1(z)]            (density-ratio trick)
    loss_VAE = −E_q[log p(x|z)] + β · KL(q(z|x) ‖ p(z)) + γ · TC          (β = 1 in the paper)
    loss_D   = ½ · (CE(D(z), 0) + CE(D(permute_dims(z)), 1))

Both updates happen in one ``train_step``: the VAE optimiser (from ``compile``) on the encoder/decoder, the
discriminator optimiser (Adam(1e-4, β₁=0.5, β₂=0.9) by default, as in the paper) on the discriminator, each
with the discriminator as it was before this step. Kim & Mnih permute a second minibatch; here the permuted
codes are those of the same minibatch, shuffled with fresh stateless noise, so every batch serves both players.

Under a mixed-precision policy the discriminator's hidden layers compute in the low precision and its logits in
float32; under ``mixed_float16`` its optimiser is wrapped in a ``LossScaleOptimizer`` too (the saved config holds
the unwrapped optimiser, so a model saved under one policy loads under another).
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from tfbetavae.checks import non_negative_float, positive_int
from tfbetavae.model import BetaVAE
from tfbetavae.objectives.total_correlation import permute_dims

tfd = tfp.distributions

DEFAULT_DISCRIMINATOR_LEARNING_RATE = 1e-4


def default_discriminator_optimizer() -> keras.optimizers.Optimizer:
    """Kim & Mnih's discriminator optimiser: Adam(1e-4, β₁ = 0.5, β₂ = 0.9)."""
    return keras.optimizers.Adam(DEFAULT_DISCRIMINATOR_LEARNING_RATE, beta_1=0.5, beta_2=0.9)


def _for_policy(optimizer, policy) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a LossScaleOptimizer under ``mixed_float16`` (float16 gradients underflow without it)."""
    if policy.name == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _unwrapped(optimizer) -> keras.optimizers.Optimizer:
    return optimizer.inner_optimizer if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else optimizer


@keras.saving.register_keras_serializable(package="tfbetavae")
class Discriminator(keras.Model):
    """Codes [B, latent_dim] → two logits [B, 2]: class 0 "drawn from q(z)", class 1 "dimensions permuted".

    ``depth`` dense layers of ``units`` units with leaky ReLU (``negative_slope``), then a dense layer to the
    two logits. The paper's discriminator is depth 6, 1000 units, slope 0.2.
    """

    def __init__(self, latent_dim: int = 10, units: int = 1000, depth: int = 6, negative_slope: float = 0.2, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = positive_int(latent_dim, "latent_dim")
        self.units = positive_int(units, "discriminator_units")
        self.depth = positive_int(depth, "discriminator_depth")
        self.negative_slope = non_negative_float(negative_slope, "negative_slope")
        policy = self.dtype_policy
        self.hidden = [layers.Dense(self.units, name=f"dense_{i}", dtype=policy) for i in range(self.depth)]
        self.activation = layers.LeakyReLU(negative_slope=self.negative_slope, dtype=policy)
        # Logits in the variable dtype (float32 under mixed policies): the TC estimate and cross-entropy use them.
        self.logits = layers.Dense(2, name="logits", dtype=policy.variable_dtype)
        self.build((None, self.latent_dim))

    def build(self, input_shape=None):
        if self.built:
            return
        self.call(tf.zeros((1, self.latent_dim)))  # calling the sublayers creates their weights
        self.built = True

    def call(self, codes):
        h = codes
        for dense in self.hidden:
            h = self.activation(dense(h))
        return self.logits(h)

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "units": self.units,
            "depth": self.depth,
            "negative_slope": self.negative_slope,
        }


def discriminator_terms(discriminator, real, permuted, training: bool = False):
    """Cross-entropy (mean over both sets) and accuracy of ``discriminator`` on ``real`` codes [B, D] (class 0)
    vs ``permuted`` codes [B', D] (class 1)."""
    logits = discriminator(tf.concat([real, permuted], axis=0), training=training)
    labels = tf.concat([tf.zeros(tf.shape(real)[:1], tf.int32), tf.ones(tf.shape(permuted)[:1], tf.int32)], axis=0)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))
    return loss, accuracy


def density_ratio_tc(discriminator, codes, training: bool = False):
    """The density-ratio estimate of the total correlation: mean over ``codes`` of logit_0 − logit_1 (nats)."""
    logits = discriminator(codes, training=training)
    return tf.reduce_mean(logits[:, 0] - logits[:, 1])


@keras.saving.register_keras_serializable(package="tfbetavae")
class FactorVAE(BetaVAE):
    """FactorVAE: a ``BetaVAE`` (same encoder, decoder, ``encode``/``decode``, export) plus a TC discriminator.

    Args:
        gamma: weight of the total-correlation term (Kim & Mnih use 35 on dSprites).
        beta: weight of the KL term (1 in the paper; other values give "β-FactorVAE").
        discriminator_units, discriminator_depth, discriminator_negative_slope: the discriminator's width, number
            of hidden layers and leaky-ReLU slope (paper: 1000, 6, 0.2).
        discriminator_optimizer: a Keras optimiser, its name or serialised config; default Adam(1e-4, 0.5, 0.9).
            It is built here, saved with the model (config and state) and used for the discriminator only;
            ``compile(optimizer=...)`` sets the VAE's optimiser as usual.
        **kwargs: the other ``BetaVAE`` arguments (latent_dim, input_shape, likelihood, kernel_sizes,
            observation_scale, seed, name, and your own ``encoder``/``decoder`` under the same contract).
            The capacity schedule is not available here.

    Logs ``loss`` (the VAE's), ``reconstruction``, ``kl``, ``active_dims``, ``total_correlation`` (the
    discriminator's estimate), ``discriminator_loss`` and ``discriminator_accuracy``.
    """

    def __init__(
        self,
        gamma: float = 35.0,
        beta: float = 1.0,
        discriminator_units: int = 1000,
        discriminator_depth: int = 6,
        discriminator_negative_slope: float = 0.2,
        discriminator_optimizer=None,
        capacity: float | None = None,
        **kwargs,
    ) -> None:
        if capacity is not None:
            raise ValueError("FactorVAE does not support the capacity schedule; use BetaVAE(capacity=...) for that")
        self._discriminator_spec = {
            "units": positive_int(discriminator_units, "discriminator_units"),
            "depth": positive_int(discriminator_depth, "discriminator_depth"),
            "negative_slope": non_negative_float(discriminator_negative_slope, "discriminator_negative_slope"),
        }
        if discriminator_optimizer is None:
            discriminator_optimizer = default_discriminator_optimizer()
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        # Created before BetaVAE.__init__, which builds the model: a built Keras model accepts no new state.
        self.total_correlation_tracker = keras.metrics.Mean(name="total_correlation")
        self.discriminator_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.discriminator_accuracy_tracker = keras.metrics.Mean(name="discriminator_accuracy")
        super().__init__(beta=beta, gamma=gamma, capacity=None, **kwargs)  # checks beta and gamma, calls build()

    def build(self, input_shape=None):
        """Creates the encoder/decoder weights (BetaVAE.build), the discriminator and its optimiser's slots."""
        if self.built:
            return
        self.discriminator = Discriminator(
            self.latent_dim, **self._discriminator_spec, name="discriminator", dtype=self.dtype_policy
        )
        self.discriminator_optimizer = _for_policy(self.discriminator_optimizer, self.dtype_policy)
        super().build(input_shape)
        # Slots exist from the start, so a saved model's optimiser state loads into a fresh instance.
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def compile(self, optimizer="rmsprop", discriminator_optimizer=None, **kwargs):
        """Keras ``compile`` (``optimizer`` trains the encoder/decoder); ``discriminator_optimizer`` replaces the
        discriminator's optimiser when given."""
        super().compile(optimizer=optimizer, **kwargs)
        if discriminator_optimizer is not None:
            self.discriminator_optimizer = _for_policy(keras.optimizers.get(discriminator_optimizer), self.dtype_policy)
            self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        # Keras would build the VAE optimiser over every trainable variable, the discriminator's included; it only
        # ever updates the encoder and decoder, and a fixed variable list makes its saved state load back.
        if self.optimizer is not None and not self.optimizer.built:
            self.optimizer.build(self.vae_variables)

    def compile_from_config(self, config):
        """Recompiles a loaded model (Keras skips this for models that override ``compile``)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def get_config(self):
        config = super().get_config()
        config.pop("capacity", None)
        config.pop("capacity_steps", None)
        return {
            **config,
            "discriminator_units": self.discriminator.units,
            "discriminator_depth": self.discriminator.depth,
            "discriminator_negative_slope": self.discriminator.negative_slope,
            "discriminator_optimizer": keras.optimizers.serialize(_unwrapped(self.discriminator_optimizer)),
        }

    @property
    def metrics(self):
        return [
            *super().metrics,
            self.total_correlation_tracker,
            self.discriminator_loss_tracker,
            self.discriminator_accuracy_tracker,
        ]

    @property
    def vae_variables(self) -> list:
        """The trainable variables of the encoder, decoder and likelihood (a learned scale): what the VAE optimiser
        updates."""
        return [
            *self.encoder.trainable_variables,
            *self.decoder.trainable_variables,
            *self.likelihood_layer.trainable_variables,
        ]

    def compute_terms(self, images, training: bool = False) -> dict:
        """The VAE's terms with ``loss`` = rec + β·KL + γ·TC, plus the discriminator's loss and accuracy.

        The discriminator terms see the codes through ``stop_gradient``: they train the discriminator only.
        """
        terms = self.vae_terms(images, training)
        total_correlation = density_ratio_tc(self.discriminator, terms["codes"], training=training)
        loss = terms["reconstruction"] + self.beta * terms["kl"] + self.gamma * total_correlation

        real = tf.stop_gradient(terms["codes"])
        permuted = permute_dims(real, self.sampling_seed(2))
        discriminator_loss, discriminator_accuracy = self.discriminator_terms(real, permuted, training=training)
        return {
            "loss": loss,
            **{key: terms[key] for key in ("reconstruction", "kl", "kl_per_dim")},
            "total_correlation": total_correlation,
            "discriminator_loss": discriminator_loss,
            "discriminator_accuracy": discriminator_accuracy,
        }

    def discriminator_terms(self, real, permuted, training: bool = False):
        """The discriminator's loss and accuracy on codes (class 0) vs permuted codes (class 1)."""
        return discriminator_terms(self.discriminator, real, permuted, training=training)

    def train_step(self, data):
        images = self._images_from(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape(persistent=True) as tape:
            terms = self.compute_terms(images, training=True)
            # Gradients are summed across replicas; scale_loss is the identity except under a LossScaleOptimizer.
            vae_loss = self.optimizer.scale_loss(terms["loss"] / replicas)
            discriminator_loss = self.discriminator_optimizer.scale_loss(terms["discriminator_loss"] / replicas)
        vae_variables = self.vae_variables
        discriminator_variables = self.discriminator.trainable_variables
        vae_gradients = tape.gradient(vae_loss, vae_variables)
        discriminator_gradients = tape.gradient(discriminator_loss, discriminator_variables)
        del tape
        self.optimizer.apply_gradients(zip(vae_gradients, vae_variables))
        self.discriminator_optimizer.apply_gradients(zip(discriminator_gradients, discriminator_variables))
        self._count_step(terms["loss"])
        return self._record(terms)

    def _record(self, terms) -> dict:
        logs = super()._record(terms)
        self.total_correlation_tracker.update_state(terms["total_correlation"])
        self.discriminator_loss_tracker.update_state(terms["discriminator_loss"])
        self.discriminator_accuracy_tracker.update_state(terms["discriminator_accuracy"])
        logs["total_correlation"] = self.total_correlation_tracker.result()
        logs["discriminator_loss"] = self.discriminator_loss_tracker.result()
        logs["discriminator_accuracy"] = self.discriminator_accuracy_tracker.result()
        return logs
