"""Section ``networks`` (issue #19): the standard 64×64 network's train step against the same step as it was before
#19 (the fixed 64×64 networks written out here as plain Keras layers, the likelihood before it became an object),
alternating in one process: the paired ratio shows whether free sizes and user networks cost speed."""

from __future__ import annotations

import numpy as np

from .config import BATCH_SIZE
from .measure import load, paired, summary
from .models import bare_step_runner, make_images, make_model


def pre_change_networks(latent_dim: int = 10):
    """The standard 64×64 encoder and decoder exactly as they were before sizes became free (issue #19), written
    here as plain Keras layers: four stride-2 convolutions 32-32-64-64 (kernel 4, "same", ReLU), dense 256, one
    dense layer of 2·latent_dim for the moments; the decoder dense 256, dense 4·4·64, reshape, transposed
    convolutions 64-32-32-1 (kernel 4, stride 2, "same"). Under float32 the casts and the dtype policies of the
    old code were no-ops, so they are left out."""
    import keras
    from keras import layers

    class PreChangeEncoder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.convs = [
                layers.Conv2D(f, 4, strides=2, padding="same", activation="relu", name=f"conv_{i}")
                for i, f in enumerate((32, 32, 64, 64))
            ]
            self.flatten = layers.Flatten()
            self.hidden = layers.Dense(256, activation="relu", name="hidden")
            self.moments = layers.Dense(2 * latent_dim, name="moments")

        def call(self, images):
            h = images
            for conv in self.convs:
                h = conv(h)
            mean, log_variance = keras.ops.split(self.moments(self.hidden(self.flatten(h))), 2, axis=-1)
            return mean, log_variance

    class PreChangeDecoder(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(256, activation="relu", name="hidden")
            self.expand = layers.Dense(4 * 4 * 64, activation="relu", name="expand")
            self.reshape = layers.Reshape((4, 4, 64))
            self.deconvs = [
                layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation=None if i == 3 else "relu",
                                       name=f"deconv_{i}")
                for i, f in enumerate((64, 32, 32, 1))
            ]

        def call(self, codes):
            h = self.reshape(self.expand(self.hidden(codes)))
            for deconv in self.deconvs:
                h = deconv(h)
            return h

    return PreChangeEncoder(name="encoder"), PreChangeDecoder(name="decoder")


def make_pre_change_model(seed: int = 0):
    """A BetaVAE whose networks and loss path are the pre-#19 ones: the networks above, and the model's
    ``_moments`` and Bernoulli likelihood as they were written before likelihoods became objects (a tuple unpacked,
    ``tfd.Independent(tfd.Bernoulli(logits))``, ``sigmoid`` for the mean). train_step, the metric trackers, the step
    counter and the NaN monitor did not change in #19, so they are shared. Compiled like ``make_model``."""
    import keras
    import tensorflow as tf
    import tensorflow_probability as tfp

    from tfbetavae.model import LOG_VARIANCE_RANGE, BetaVAE
    from tfbetavae.training import compile_model

    tfd = tfp.distributions

    class PreChangeVAE(BetaVAE):
        def _moments(self, images, training=False):
            mean, log_variance = self.encoder(images, training=training)
            return mean, tf.clip_by_value(log_variance, *LOG_VARIANCE_RANGE)

        def _likelihood_from_params(self, params):
            return tfd.Independent(tfd.Bernoulli(logits=params, dtype=params.dtype), reinterpreted_batch_ndims=3)

        def _mean_image(self, params):
            return tf.sigmoid(params)

    keras.utils.set_random_seed(seed)
    encoder, decoder = pre_change_networks()
    model = PreChangeVAE(seed=seed, encoder=encoder, decoder=decoder)
    compile_model(model)
    return model


def bench_networks(cfg: dict, log) -> dict:
    """The standard 64×64 network after #19 (sizes free, networks and likelihoods as objects) against the same step
    before it, alternating round by round in one process: the paired ratio says whether #19 cost speed.

    Both arms start from the same seed; the weights of the library's model are copied into the pre-change one and
    their reconstructions compared, which checks that the two are the same network weight for weight."""
    images = make_images(BATCH_SIZE)
    steps = cfg["networks_steps"]
    library = make_model("tf_function")
    before = make_pre_change_model()
    shapes = {name: [tuple(v.shape) for v in model.trainable_variables] for name, model in
              (("library", library), ("pre_change", before))}
    if shapes["library"] != shapes["pre_change"]:
        raise RuntimeError(f"the pre-change network differs from the standard one: {shapes}")
    before.set_weights(library.get_weights())
    difference = float(np.max(np.abs(np.asarray(library.reconstruct(images)) - np.asarray(before.reconstruct(images)))))
    runners = {"library": bare_step_runner(library, images, steps), "pre_change": bare_step_runner(before, images, steps)}
    rates = {name: [] for name in runners}
    for _ in range(cfg["networks_rounds"]):
        for name, runner in runners.items():
            rates[name].append(runner())
    log(f"  networks done, load {load()}")
    return {
        "steps_per_round": steps,
        "variables": len(library.variables),
        "parameters": int(sum(np.prod(v.shape) for v in library.variables)),  # the step counter included
        "trainable_parameters": int(sum(np.prod(v.shape) for v in library.trainable_variables)),
        "max_reconstruction_difference": difference,
        "library": summary(rates["library"]),
        "pre_change": summary(rates["pre_change"]),
        "library_vs_pre_change": paired(rates["library"], rates["pre_change"]),
        "library_vs_pre_change_per_round": [round(a / b, 3) for a, b in zip(rates["library"], rates["pre_change"])],
    }


def run(context) -> dict:
    context.log(f"standard 64x64 network after #19 vs before it (alternating), load {load()}")
    return {"networks": bench_networks(context.cfg, context.log)}
