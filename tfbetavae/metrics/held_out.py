"""The training objective's terms on held-out images: how well a model reconstructs data it did not train on.

Tuning trials and study runs report them beside the disentanglement scores, so a score always comes with the
reconstruction it cost (nats per image, as the loss counts them).
"""

from __future__ import annotations

import numpy as np


def held_out_terms(model, data, num_images: int, seed: int, batch_size: int = 256) -> dict[str, float]:
    """Mean reconstruction, KL and loss (nats per image) and the number of active latent dimensions.

    ``model`` is a ``BetaVAE`` (or an objective built on it: ``compute_terms`` is what is averaged). The images are
    ``data.sample(num_images)`` drawn from ``seed`` for data that samples (a GroundTruthData, an ``ImageSet``), else
    ``num_images`` drawn from any image source (``tfbetavae.metrics.unsupervised.image_chunks``: an array, a
    ``tf.data.Dataset``, a folder). A dimension is active when its mean KL exceeds
    ``tfbetavae.model.ACTIVE_KL_THRESHOLD``.
    """
    if hasattr(data, "sample"):
        images = data.sample(num_images, np.random.default_rng([seed, 7919]))[1]
    else:
        from tfbetavae.metrics.unsupervised import image_chunks

        images = np.concatenate(list(image_chunks(data, num_images, seed, image_shape=tuple(model.image_shape))))
    return terms_on_images(model, images, batch_size)


def terms_on_images(model, images: np.ndarray, batch_size: int = 256) -> dict[str, float]:
    """``held_out_terms`` on the given images (for a model trained on pairs, its β-VAE terms on single images)."""
    from tfbetavae.model import ACTIVE_KL_THRESHOLD

    totals = {"reconstruction": 0.0, "kl": 0.0, "loss": 0.0}
    kl_per_dim = np.zeros(model.latent_dim)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        if getattr(model, "trains_on_pairs", False):  # held-out single images: the β-VAE terms of its encoder
            terms = dict(model.vae_terms(batch, training=False))
            terms["loss"] = terms["reconstruction"] + float(model.beta) * terms["kl"]
        else:
            terms = model.compute_terms(batch, training=False)
        for key in totals:
            totals[key] += float(terms[key]) * len(batch)
        kl_per_dim += np.sum(np.asarray(terms["kl_per_dim"], dtype=np.float64), axis=0)
    results = {key: value / len(images) for key, value in totals.items()}
    results["active_dims"] = float(np.sum(kl_per_dim / len(images) > ACTIVE_KL_THRESHOLD))
    return results
