"""Objectives beyond β: β-TCVAE (Chen et al. 2018) and FactorVAE (Kim & Mnih 2018).

Both are ``BetaVAE`` subclasses (same encoder, decoder, ``encode``/``decode``, ``.keras`` saving, export, metrics and
``train()``) that penalise the total correlation of the aggregate posterior q(z) instead of (only) the KL:

* ``BetaTCVAE``: rec + α·MI + β·TC + γ·dimension-wise KL, each estimated by minibatch-weighted sampling;
* ``FactorVAE``: rec + KL + γ·TC, TC estimated by a discriminator trained alongside (two optimisers, one step).

``DIPVAE`` (Kumar et al. 2018; DIP-VAE-I and -II) is one too: rec + KL + a penalty on the distance of the batch
covariance of the codes from the identity.

``AdaGVAE`` and ``AdaMLVAE`` (Locatello et al. 2020) are too, trained on pairs (x1, x2) that share some factors: the
latent dimensions a pair shares (the adaptive threshold, ``shared_dimensions``) take one aggregate of both posteriors.

``build_model(objective, ...)`` builds any of them (and ``BetaVAE``'s β and capacity modes) from an objective's name
in ``OBJECTIVES``; ``objective_name(model)`` names a model's objective.
"""

from tfbetavae.objectives.beta_tcvae import BetaTCVAE
from tfbetavae.objectives.dip_vae import DIPVAE, dip_covariance, dip_penalty
from tfbetavae.objectives.factor_vae import (
    Discriminator,
    FactorVAE,
    default_discriminator_optimizer,
    density_ratio_tc,
    discriminator_terms,
)
from tfbetavae.objectives.factory import OBJECTIVES, TC_WEIGHT, build_model, objective_name
from tfbetavae.objectives.total_correlation import (
    check_dataset_size,
    dataset_size_of,
    gaussian_log_density,
    minibatch_weighted_decomposition,
    minibatch_weighted_tc,
    pairwise_log_density,
    permute_dims,
)
from tfbetavae.objectives.weak import (
    AdaGVAE,
    AdaMLVAE,
    PairVAE,
    average_posteriors,
    pair_posteriors,
    product_of_posteriors,
    shared_dimensions,
)

__all__ = [
    "OBJECTIVES",
    "TC_WEIGHT",
    "AdaGVAE",
    "AdaMLVAE",
    "PairVAE",
    "average_posteriors",
    "pair_posteriors",
    "product_of_posteriors",
    "shared_dimensions",
    "BetaTCVAE",
    "DIPVAE",
    "Discriminator",
    "FactorVAE",
    "check_dataset_size",
    "build_model",
    "dataset_size_of",
    "default_discriminator_optimizer",
    "density_ratio_tc",
    "dip_covariance",
    "dip_penalty",
    "discriminator_terms",
    "gaussian_log_density",
    "minibatch_weighted_decomposition",
    "minibatch_weighted_tc",
    "objective_name",
    "pairwise_log_density",
    "permute_dims",
]
