"""BetaVAE: a Keras 3 model whose loss is written in TensorFlow Probability distributions.

The networks produce tensors; the model turns them into ``tfd`` distributions — posterior q(z|x),
prior p(z), likelihood p(x|z) — and minimises

    loss = −E_q[log p(x|z)] + β · KL(q(z|x) ‖ p(z))                      (Higgins et al. 2017)
    loss = −E_q[log p(x|z)] + γ · |KL(q(z|x) ‖ p(z)) − C(step)|           (Burgess et al. 2018)

with the reconstruction term summed over pixels and averaged over the batch, and the KL summed over
latent dimensions and averaged over the batch. That reduction fixes what β means: β = 1 is the ELBO of
a plain VAE, whatever the image size.

Mixed precision (``keras.mixed_precision`` policies ``mixed_bfloat16`` / ``mixed_float16``, or
``tfbetavae.precision.use_precision``): the encoder and decoder compute in the low precision and return
float32, so distributions, losses, KL, the capacity schedule, the metric trackers and the optimizer state are
float32 under every policy. ``train_step`` scales the loss through ``optimizer.scale_loss`` (a
``LossScaleOptimizer`` under ``mixed_float16``). A model follows the global policy when it is created (or
loaded); ``dtype=`` pins a policy, which is then saved with it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfbetavae import likelihoods as _likelihoods
from tfbetavae.checks import non_negative_float, positive_float, positive_int
from tfbetavae.data.ground_truth import check_batch
from tfbetavae.likelihoods import LIKELIHOODS, Likelihood
from tfbetavae.networks import standard_networks, validate_input_shape

tfd = tfp.distributions

__all__ = ["LIKELIHOODS", "BetaVAE"]
# exp(±15) keeps variances inside float32's comfortable range: no overflow in exp, no zero scale.
LOG_VARIANCE_RANGE = (-15.0, 15.0)
ACTIVE_KL_THRESHOLD = 0.01  # nats; a dimension whose average KL is below this carries no information


class _FirstNonFiniteStep(keras.metrics.Metric):
    """The first training step whose loss was NaN or infinite (0: none yet), and that loss, kept in the graph.

    ``StopOnNonFiniteLoss`` reads it instead of converting every step's loss on the host. A metric, so
    ``.keras`` files do not store it (Keras saves no metric state); it is left out of ``BetaVAE.metrics`` so it
    is neither logged nor reset at each epoch. Across replicas it holds the first replica's view.
    """

    def __init__(self, name: str = "first_nonfinite_step", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.step = self.add_variable(
            shape=(), initializer="zeros", dtype="int64", aggregation="only_first_replica", name="step"
        )
        self.loss = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", aggregation="only_first_replica", name="loss"
        )

    def update_state(self, loss, step):
        loss = tf.cast(loss, tf.float32)
        first = tf.logical_and(tf.equal(self.step, 0), tf.logical_not(tf.math.is_finite(loss)))
        self.step.assign(tf.where(first, tf.cast(step, tf.int64), self.step))
        self.loss.assign(tf.where(first, loss, self.loss))

    def result(self):
        return self.step


class _VectorMean(keras.metrics.Metric):
    """Running mean of a vector (here: the KL of each latent dimension)."""

    def __init__(self, size: int, name: str = "vector_mean", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(size,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        values = tf.reshape(tf.cast(values, self.dtype), (-1, self.total.shape[0]))
        self.total.assign_add(tf.reduce_sum(values, axis=0))
        self.count.assign_add(tf.cast(tf.shape(values)[0], self.dtype))

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)


def _multi_worker(strategy) -> bool:
    extended = strategy.extended
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and extended._in_multi_worker_mode()


def _shape_text(shape, batch: bool = True) -> str:
    """[batch, 28, 28, 1] for a batched shape (its first entry is the batch), [28, 28, 1] for an event shape."""
    dims = [str(d) for d in shape]
    if batch and dims:
        dims[0] = "batch"
    return "[" + ", ".join(dims) + "]"


def _declared_input_shape(encoder) -> tuple[int, ...] | None:
    """The input shape a functional/Sequential encoder declares (without the batch), None when it declares none."""
    try:
        shape = encoder.input_shape if encoder is not None else None
    except (AttributeError, ValueError):  # subclassed models and unbuilt layers have none
        return None
    if isinstance(shape, tuple) and len(shape) > 1 and all(isinstance(d, int) for d in shape[1:]):
        return tuple(shape[1:])
    return None


@keras.saving.register_keras_serializable(package="tfbetavae")
class BetaVAE(keras.Model):
    """β-VAE with its own ``train_step``/``test_step``, so ``model.fit(dataset)`` works with any callback.

    Your own networks (``encoder=``, ``decoder=``): any Keras model or layer (Sequential, functional, subclassed).

    * The encoder maps inputs [B, *input_shape] to either a ``(mean, log_variance)`` pair, each [B, latent_dim],
      or one tensor [B, 2 * latent_dim], which is split in half (mean first).
    * The decoder maps codes [B, latent_dim] to the likelihood's parameters [B, *input_shape] (logits for
      ``bernoulli``, means for ``gaussian``).

    The contract is checked once, when the model is built: a mismatch is one ValueError naming the network, the
    expected shape and the actual one. Without networks the standard ones of ``tfbetavae.networks`` are built
    (convolutional for images of any size, an MLP for vectors). To save a model whose networks are custom classes,
    register them with ``keras.saving.register_keras_serializable``.

    Args:
        latent_dim: number of latent dimensions.
        input_shape: (height, width, channels) for images or (features,) for vectors. Default: the encoder's
            input shape when it declares one, else (64, 64, 1).
        beta: weight of the KL term (1 = plain VAE). Ignored when ``capacity`` is set.
        likelihood: a name in ``tfbetavae.likelihoods.LIKELIHOODS`` (``"bernoulli"``, ``"continuous_bernoulli"``,
            ``"gaussian"``, ``"gaussian_learned_scale"``, ``"laplace"``), a ``Likelihood`` or a callable
            ``params -> tfd.Distribution`` whose event shape is the input's shape.
        capacity: Burgess et al.'s C_max in nats; enables loss = rec + γ·|KL − C(step)|.
        capacity_steps: steps over which C rises linearly from 0 to C_max.
        gamma: weight of the capacity term.
        kernel_sizes: kernels of the four encoder convolutions (disentanglement_lib uses (4, 4, 2, 2)).
        observation_scale: scale of the Gaussian and Laplace likelihoods (the learned scale's start).
        seed: seed of the sampling noise in training.
        encoder, decoder: your own networks (see above); None builds the standard one.
    """

    card = None  # the model protocol's model card (tfbetavae.loading.VAEModel): only exports carry one

    def __init__(
        self,
        latent_dim: int = 10,
        input_shape: Sequence[int] | None = None,
        beta: float = 4.0,
        likelihood: str | Likelihood = "bernoulli",
        capacity: float | None = None,
        capacity_steps: int = 10_000,
        gamma: float = 1000.0,
        kernel_sizes: Sequence[int] = (4, 4, 4, 4),
        observation_scale: float = 0.1,
        seed: int | None = None,
        encoder: keras.layers.Layer | None = None,
        decoder: keras.layers.Layer | None = None,
        **kwargs,
    ) -> None:
        # A dtype policy given here is pinned and saved; without one the model follows the global policy.
        self._pinned_dtype = kwargs.get("dtype")
        super().__init__(**kwargs)
        latent_dim = positive_int(latent_dim, "latent_dim")
        for role, network in (("encoder", encoder), ("decoder", decoder)):
            if network is not None and not callable(network):
                raise TypeError(f"{role} must be a Keras model or layer, got {type(network).__name__}")
        capacity_steps = positive_int(capacity_steps, "capacity_steps")
        self.latent_dim = latent_dim
        if input_shape is None:
            input_shape = _declared_input_shape(encoder) or (64, 64, 1)
        self.image_shape = validate_input_shape(input_shape)  # the input's shape, images or vectors
        self.beta = non_negative_float(beta, "beta")
        self.capacity = None if capacity is None else non_negative_float(capacity, "capacity")
        self.capacity_steps = capacity_steps
        self.gamma = non_negative_float(gamma, "gamma")
        self.observation_scale = positive_float(observation_scale, "observation_scale")
        self.kernel_sizes = tuple(kernel_sizes)
        self.likelihood_layer = _likelihoods.get(likelihood, self.observation_scale)
        self._likelihood_by_name = isinstance(likelihood, str)  # saved as its name; anything else as an object
        self.seed = seed
        # Sampling noise is a pure function of (seed, step): a resumed run draws exactly the noise the
        # uninterrupted run would have drawn. With seed=None the base comes from Python's global
        # generator, which keras.utils.set_random_seed seeds.
        self._seed_base = int(seed) if seed is not None else random.randrange(2**30)
        self.custom_networks = (encoder is not None, decoder is not None)
        if encoder is None or decoder is None:
            standard = standard_networks(self.image_shape, self.latent_dim, kernel_sizes, dtype=self.dtype_policy)
            encoder = standard[0] if encoder is None else encoder
            decoder = standard[1] if decoder is None else decoder
        self.encoder = encoder
        self.decoder = decoder
        # Steps taken so far; a variable so the capacity schedule survives checkpoints and resume.
        self.step_counter = self.add_weight(
            shape=(), initializer="zeros", dtype="int64", trainable=False, name="step_counter"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.kl_per_dim_tracker = _VectorMean(self.latent_dim, name="kl_per_dim")
        self.nonfinite_monitor = _FirstNonFiniteStep()
        self.build((None, *self.image_shape))

    # ----------------------------------------------------------------- building and config
    def build(self, input_shape=None):
        """Creates every weight now (fit() never calls the model; saving/export need it built) and checks the
        networks' contract once: a mismatch is one ValueError naming the network and both shapes."""
        if self.built:
            return
        self.likelihood_layer.build(self.image_shape)
        batch = 2
        inputs = tf.zeros((batch, *self.image_shape))
        moments = self._call_network("encoder", self.encoder, inputs)
        mean, log_variance = self._split_moments(moments, check=True)
        params = self._call_network("decoder", self.decoder, mean)
        expected = (batch, *self.likelihood_layer.param_shape(self.image_shape))
        if tuple(params.shape) != expected:
            raise ValueError(
                f"decoder must map codes [batch, {self.latent_dim}] to the likelihood's parameters of shape "
                f"{_shape_text(expected)}, got {_shape_text(params.shape)}"
            )
        self._check_likelihood(params)
        self.built = True

    @staticmethod
    def _call_network(role: str, network, inputs):
        try:
            return network(inputs)
        except Exception as error:  # noqa: BLE001 - a user network fails in many ways; say which and on what
            text = " ".join(str(error).split())[:300]
            raise ValueError(
                f"{role} cannot take inputs of shape {_shape_text(inputs.shape)}: {type(error).__name__}: {text}"
            ) from None

    def _split_moments(self, outputs, check: bool = False):
        """(mean, log_variance) from an encoder's output: a pair, or one tensor [B, 2·latent_dim] split in half."""
        if isinstance(outputs, (tuple, list)) and len(outputs) == 2:
            mean, log_variance = outputs
            if check:
                for name, value in (("mean", mean), ("log_variance", log_variance)):
                    if tuple(value.shape)[1:] != (self.latent_dim,):
                        raise ValueError(
                            f"encoder must return (mean, log_variance) of shape [batch, {self.latent_dim}] each, "
                            f"got {name} of shape {_shape_text(value.shape)}"
                        )
        else:
            if check and (isinstance(outputs, (tuple, list, dict)) or tuple(outputs.shape)[1:] != (2 * self.latent_dim,)):
                got = (
                    f"a {type(outputs).__name__} of {len(outputs)} outputs" if isinstance(outputs, (tuple, list, dict))
                    else f"shape {_shape_text(outputs.shape)}"
                )
                raise ValueError(
                    f"encoder must return (mean, log_variance) of shape [batch, {self.latent_dim}] each or one tensor "
                    f"of shape [batch, {2 * self.latent_dim}], got {got}"
                )
            mean, log_variance = tf.split(outputs, 2, axis=-1)
        return tf.cast(mean, tf.float32), tf.cast(log_variance, tf.float32)

    def _check_likelihood(self, params) -> None:
        try:
            distribution = self.likelihood_layer.distribution(params)
        except (TypeError, ValueError) as error:
            raise ValueError(f"likelihood cannot use the decoder's output: {' '.join(str(error).split())}") from None
        event = tuple(distribution.event_shape)
        if event != self.image_shape or tuple(distribution.batch_shape) != tuple(params.shape[:1]):
            raise ValueError(
                f"likelihood must give a distribution of event shape {_shape_text(self.image_shape, False)} and "
                f"batch shape [batch], got event shape {_shape_text(event, False)} and batch shape "
                f"{_shape_text(distribution.batch_shape, False)} (wrap per-element distributions in tfd.Independent)"
            )

    @property
    def likelihood_name(self) -> str:
        """The likelihood's name (``bernoulli``, ``gaussian``, ...; a callable's name for a callable)."""
        return self.likelihood_layer.kind

    def get_config(self):
        config = super().get_config()  # name, trainable, dtype
        if self._pinned_dtype is None:
            # Without dtype= the model follows the global policy where it is loaded, as it did where it was made.
            config.pop("dtype", None)
        likelihood = self.likelihood_layer
        config.update({
            "latent_dim": self.latent_dim,
            "input_shape": list(self.image_shape),
            "beta": self.beta,
            "likelihood": likelihood.kind if self._likelihood_by_name else keras.saving.serialize_keras_object(likelihood),
            "capacity": self.capacity,
            "capacity_steps": self.capacity_steps,
            "gamma": self.gamma,
            "kernel_sizes": list(self.kernel_sizes),
            "observation_scale": self.observation_scale,
            "seed": self.seed,
        })
        # Only user networks are saved in the config; without them (every file saved before) the standard
        # networks are rebuilt from the settings above.
        for role, custom in zip(("encoder", "decoder"), self.custom_networks):
            if custom:
                config[role] = keras.saving.serialize_keras_object(getattr(self, role))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder", "likelihood"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, self.kl_per_dim_tracker]

    # ----------------------------------------------------------------- distributions
    def _moments(self, images, training=False):
        mean, log_variance = self._split_moments(self.encoder(images, training=training))
        return mean, tf.clip_by_value(log_variance, *LOG_VARIANCE_RANGE)

    def posterior_moments(self, images, training=False):
        """(mean, log_variance) of q(z|x), each [B, latent_dim], the log-variance clipped to a safe range."""
        return self._moments(images, training=training)

    def mean_output(self, codes, training=False):
        """E[x | z] for codes [B, latent_dim]: the likelihood's mean, [B, *input_shape] (graph code, no checks)."""
        return self._mean_image(self.decoder(codes, training=training))

    @staticmethod
    def _gaussian(mean, log_variance) -> tfd.Distribution:
        return tfd.Independent(tfd.Normal(loc=mean, scale=tf.exp(0.5 * log_variance)), reinterpreted_batch_ndims=1)

    def posterior(self, images) -> tfd.Distribution:
        """q(z|x): a diagonal Gaussian over the latent code, batch shape [B], event shape [latent_dim]."""
        return self._gaussian(*self._moments(images))

    @property
    def prior(self) -> tfd.Distribution:
        """p(z): the standard normal over the latent code."""
        zeros = tf.zeros((self.latent_dim,))
        return tfd.Independent(tfd.Normal(loc=zeros, scale=tf.ones_like(zeros)), reinterpreted_batch_ndims=1)

    def _likelihood_from_params(self, params) -> tfd.Distribution:
        return self.likelihood_layer.distribution(tf.cast(params, tf.float32))

    def likelihood(self, codes) -> tfd.Distribution:
        """p(x|z): the likelihood's distribution, event shape the input's shape."""
        return self._likelihood_from_params(self.decoder(codes))

    def _mean_image(self, params):
        return self.likelihood_layer.mean(tf.cast(params, tf.float32))

    # ----------------------------------------------------------------- loss
    def capacity_target(self):
        """C(step) of the capacity schedule (0 when capacity is off)."""
        if self.capacity is None:
            return tf.constant(0.0)
        progress = tf.cast(self.step_counter, tf.float32) / float(self.capacity_steps)
        return self.capacity * tf.minimum(progress, 1.0)

    def sampling_seed(self, stream: int = 0):
        """A stateless TFP seed [2] for this step: (seed, stream, replica) and the step counter.

        Different streams give independent noise for different uses within one step.
        """
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        base = tf.cast(self._seed_base + 7919 * stream, tf.int32) + tf.cast(replica, tf.int32) * 104729
        return tf.stack([base, tf.cast(self.step_counter, tf.int32)])

    def vae_terms(self, images, training: bool = False) -> dict:
        """What every objective shares: a posterior sample and the VAE's reconstruction and KL.

        Returns mean, log_variance, codes (a sample of q(z|x)), reconstruction and kl (batch means) and
        kl_per_dim [B, latent_dim]. Subclasses (β-TCVAE, FactorVAE) build their losses on it.
        """
        mean, log_variance = self._moments(images, training=training)
        posterior = self._gaussian(mean, log_variance)
        codes = posterior.sample(seed=self.sampling_seed(0 if training else 1))
        likelihood = self._likelihood_from_params(self.decoder(codes, training=training))
        kl_per_dim = tfd.kl_divergence(posterior.distribution, self.prior.distribution)
        return {
            "mean": mean,
            "log_variance": log_variance,
            "codes": codes,
            "reconstruction": -tf.reduce_mean(likelihood.log_prob(images)),
            "kl": tf.reduce_mean(tf.reduce_sum(kl_per_dim, axis=-1)),
            "kl_per_dim": kl_per_dim,
        }

    def compute_terms(self, images, training: bool = False) -> dict:
        """Loss, reconstruction and KL (batch means) and the KL of each dimension [B, latent_dim]."""
        terms = self.vae_terms(images, training)
        if self.capacity is None:
            loss = terms["reconstruction"] + self.beta * terms["kl"]
        else:
            loss = terms["reconstruction"] + self.gamma * tf.abs(terms["kl"] - self.capacity_target())
        return {"loss": loss, **{key: terms[key] for key in ("reconstruction", "kl", "kl_per_dim")}}

    @staticmethod
    def _images_from(data):
        """Accepts batches of images, (images, anything) tuples, or dicts with an 'image(s)' key."""
        if isinstance(data, dict):  # no for/else here: AutoGraph cannot convert it and warns at every trace
            key = next((key for key in ("images", "image") if key in data), None)
            if key is None:
                raise ValueError(f"a dict batch needs an 'image' or 'images' key, got keys {sorted(data)}")
            data = data[key]
        while isinstance(data, (tuple, list)):
            data = data[0]
        return tf.cast(data, tf.float32)

    def _record(self, terms) -> dict:
        self.loss_tracker.update_state(terms["loss"])
        self.reconstruction_tracker.update_state(terms["reconstruction"])
        self.kl_tracker.update_state(terms["kl"])
        self.kl_per_dim_tracker.update_state(terms["kl_per_dim"])
        logs = {
            "loss": self.loss_tracker.result(),
            "reconstruction": self.reconstruction_tracker.result(),
            "kl": self.kl_tracker.result(),
            "active_dims": tf.reduce_sum(
                tf.cast(self.kl_per_dim_tracker.result() > ACTIVE_KL_THRESHOLD, tf.float32)
            ),
        }
        if self.capacity is not None:
            logs["capacity"] = self.capacity_target()
        if _multi_worker(tf.distribute.get_strategy()):
            # Keras reduces multi-worker logs with strategy.reduce(MEAN, axis=0), which needs rank >= 1.
            logs = {key: tf.reshape(value, [1]) for key, value in logs.items()}
        return logs

    def train_step(self, data):
        images = self._images_from(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            terms = self.compute_terms(images, training=True)
            # Gradients are summed across replicas, so each replica contributes loss / replicas. scale_loss is
            # the identity except under a LossScaleOptimizer (mixed_float16), whose apply_gradients unscales.
            scaled_loss = self.optimizer.scale_loss(terms["loss"] / replicas)
        gradients = tape.gradient(scaled_loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self._count_step(terms["loss"])
        return self._record(terms)

    def _count_step(self, loss) -> None:
        """Advances the step counter and remembers the first step whose loss was not finite."""
        self.nonfinite_monitor.update_state(loss, self.step_counter + 1)
        self.step_counter.assign_add(1)

    def test_step(self, data):
        return self._record(self.compute_terms(self._images_from(data), training=False))

    # ----------------------------------------------------------------- tensors in, tensors out
    def call(self, images, training=False):
        """Reconstruction (mean image) decoded from the posterior mean."""
        mean, _ = self._moments(images, training=training)
        return self._mean_image(self.decoder(mean, training=training))

    def _checked(self, images):
        if isinstance(images, tf.Tensor) and not tf.executing_eagerly():
            return tf.cast(images, tf.float32)
        return tf.convert_to_tensor(check_batch(images, self.image_shape))

    def _check_codes(self, codes):
        array = np.asarray(codes, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.latent_dim:
            raise ValueError(f"codes must have shape [batch, {self.latent_dim}], got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError("codes contain NaN or infinite values")
        return tf.convert_to_tensor(array)

    @tf.function(reduce_retracing=True)
    def _encode_graph(self, images):
        return self._moments(images)

    @tf.function(reduce_retracing=True)
    def _decode_graph(self, codes):
        return self._mean_image(self.decoder(codes))

    def encode(self, images, return_log_variance: bool = False):
        """Posterior mean [B, latent_dim] (and log-variance when asked) of a batch of images in [0, 1]."""
        mean, log_variance = self._encode_graph(self._checked(images))
        return (mean, log_variance) if return_log_variance else mean

    def decode(self, codes):
        """Mean image [B, H, W, C] (pixel probabilities for Bernoulli) for a batch of codes."""
        return self._decode_graph(self._check_codes(codes))

    def reconstruct(self, images):
        """decode(encode(images)): the mean reconstruction."""
        return self._decode_graph(self._encode_graph(self._checked(images))[0])

    def sample(self, num: int, seed: int | None = None):
        """``num`` images decoded from codes drawn from the prior."""
        codes = self.prior.sample(positive_int(num, "num"), seed=seed)
        return self._decode_graph(codes)

    def kl_per_dimension(self, images) -> np.ndarray:
        """Average KL of each latent dimension over ``images``: which dimensions are in use."""
        mean, log_variance = self._encode_graph(self._checked(images))
        kl = tfd.kl_divergence(self._gaussian(mean, log_variance).distribution, self.prior.distribution)
        return tf.reduce_mean(kl, axis=0).numpy()
