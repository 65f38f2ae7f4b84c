"""One model factory: a model from an objective's name and its settings, for the command line, the tuner and studies.

Before it, each of them wrote its own ``if objective == ...`` over ``BetaVAE``, ``BetaTCVAE`` and ``FactorVAE``, and
model cards named the objectives a fourth way. ``build_model`` is now the one place that maps a name to a class and
its settings, and ``objective_name`` the one place that names a model's objective.

Objectives (``OBJECTIVES``):

* ``beta-vae``: rec + β·KL (Higgins et al. 2017); β defaults to 4;
* ``capacity``: rec + γ·|KL − C(step)| (Burgess et al. 2018); needs ``capacity`` (C_max, nats), γ defaults to 1000;
* ``beta-tcvae``: rec + α·MI + β·TC + γ·dimension-wise KL (Chen et al. 2018); needs ``dataset_size``; β (the
  total-correlation weight) defaults to 6;
* ``factor-vae``: rec + β·KL + γ·TC with a discriminator (Kim & Mnih 2018); γ (the total-correlation weight)
  defaults to 35;
* ``dip-vae-i``, ``dip-vae-ii``: rec + KL + λ_od·Σ_{i≠j} C_ij² + λ_d·Σ_i (C_ii − 1)² (Kumar et al. 2018), C the
  batch covariance of the posterior means (I) or of q(z) (II); ``lambda_od`` defaults to 10, ``lambda_d`` to 10·λ_od
  (I) or λ_od (II);
* ``ada-gvae``, ``ada-ml-vae``: rec + β·KL trained on pairs (x1, x2), the latent dimensions a pair shares taking the
  average (GVAE) or the product (ML-VAE) of its two posteriors (Locatello et al. 2020); β defaults to 1. Train them
  on pairs from ``tfbetavae.data.pairs``.

``tc_weight`` names the total-correlation weight whatever the objective calls it (β of ``beta-tcvae``, γ of
``factor-vae``). A setting left at ``None`` takes the class's default, so a model built here has the same config as
one built by hand with the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras

from tfbetavae.model import BetaVAE
from tfbetavae.objective_names import OBJECTIVES
from tfbetavae.objectives.beta_tcvae import BetaTCVAE
from tfbetavae.objectives.dip_vae import DIPVAE
from tfbetavae.objectives.factor_vae import FactorVAE
from tfbetavae.objectives.weak import AdaGVAE, AdaMLVAE, PairVAE

__all__ = ["OBJECTIVES", "TC_WEIGHT", "build_model", "objective_name"]

# Which constructor argument is the total-correlation weight, per objective that has one.
TC_WEIGHT = {"beta-tcvae": "beta", "factor-vae": "gamma"}
# The DIP-VAE objectives, by the dip_type each builds.
DIP_TYPE = {"dip-vae-i": "i", "dip-vae-ii": "ii"}

# The objectives trained on pairs (tfbetavae.objective_names.PAIR_OBJECTIVES), by class.
PAIR_CLASSES = {"ada-gvae": AdaGVAE, "ada-ml-vae": AdaMLVAE}

NetworksFactory = Callable[[tuple[int, ...], int], tuple[Any, Any]]


def _check_objective(objective: Any) -> str:
    if not isinstance(objective, str) or objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    return objective


def build_model(
    objective: str = "beta-vae",
    *,
    beta: float | None = None,
    gamma: float | None = None,
    tc_weight: float | None = None,
    capacity: float | None = None,
    capacity_steps: int | None = None,
    latent_dim: int = 10,
    input_shape: Sequence[int] | None = None,
    likelihood: Any = "bernoulli",
    kernel_sizes: Sequence[int] | None = None,
    observation_scale: float | None = None,
    encoder: keras.layers.Layer | None = None,
    decoder: keras.layers.Layer | None = None,
    networks: NetworksFactory | None = None,
    dataset_size: int | None = None,
    lambda_od: float | None = None,
    lambda_d: float | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> BetaVAE:
    """The (uncompiled) model of ``objective`` with these settings.

    Args:
        objective: one of ``OBJECTIVES``.
        beta, gamma: the class's own weights (see the module docstring); None: the class's default.
        tc_weight: the total-correlation weight of ``beta-tcvae`` (its β) or ``factor-vae`` (its γ); giving it
            and that argument too is an error.
        capacity, capacity_steps: C_max (nats), for ``capacity`` only, and the steps over which C rises (recorded
            but unused by the other objectives, as in ``BetaVAE``).
        latent_dim, input_shape, likelihood, kernel_sizes, observation_scale, seed: as for ``BetaVAE``.
        encoder, decoder: your own networks (``BetaVAE``'s contract); or ``networks``, a function
            ``(input_shape, latent_dim) -> (encoder, decoder)`` called once here (fresh networks per model).
        dataset_size: N, the number of training examples, which ``beta-tcvae`` needs (other objectives ignore it).
        lambda_od, lambda_d: the DIP-VAE weights of the covariance's off-diagonal and diagonal entries (``dip-vae-i``
            and ``dip-vae-ii`` only); None: the class's default.
        **kwargs: further arguments of the class (``alpha`` of ``beta-tcvae``, the ``discriminator_*`` of
            ``factor-vae``, ``name``, ``dtype``).
    """
    objective = _check_objective(objective)
    if tc_weight is not None:
        if objective not in TC_WEIGHT:
            raise ValueError(f"tc_weight is the total-correlation weight of {' and '.join(TC_WEIGHT)}, not of {objective!r}")
        own = TC_WEIGHT[objective]
        if {"beta": beta, "gamma": gamma}[own] is not None:
            raise ValueError(f"give the total-correlation weight of {objective!r} once: tc_weight or {own}, not both")
        beta, gamma = (tc_weight, gamma) if own == "beta" else (beta, tc_weight)
    if objective == "capacity" and capacity is None:
        raise ValueError("objective 'capacity' needs capacity, C_max in nats (e.g. 25)")
    if objective != "capacity" and capacity is not None:
        raise ValueError(f"capacity belongs to objective 'capacity', not {objective!r}")
    dip = {"lambda_od": lambda_od, "lambda_d": lambda_d}
    for key, value in dip.items():
        if value is not None and objective not in DIP_TYPE:
            raise ValueError(f"{key} belongs to objectives {' and '.join(DIP_TYPE)}, not {objective!r}")
    if "dip_type" in kwargs:
        raise ValueError("dip_type comes from the objective's name: use objective 'dip-vae-i' or 'dip-vae-ii'")
    if networks is not None:
        if encoder is not None or decoder is not None:
            raise ValueError("give networks (a factory) or encoder and decoder, not both")
        if input_shape is None:
            raise ValueError("networks needs input_shape: the factory is called with (input_shape, latent_dim)")
        made = networks(tuple(input_shape), latent_dim)
        if not isinstance(made, (tuple, list)) or len(made) != 2:
            raise ValueError(f"networks must return (encoder, decoder), got {type(made).__name__}")
        encoder, decoder = made
    settings = {
        "beta": beta, "gamma": gamma, "capacity": capacity, "capacity_steps": capacity_steps,
        "input_shape": None if input_shape is None else tuple(input_shape), "kernel_sizes": kernel_sizes,
        "observation_scale": observation_scale, "encoder": encoder, "decoder": decoder,
    }
    given = {key: value for key, value in settings.items() if value is not None}
    common = {"latent_dim": latent_dim, "likelihood": likelihood, "seed": seed, **given, **kwargs}
    if objective == "beta-tcvae":
        return BetaTCVAE(dataset_size=dataset_size, **common)
    if objective == "factor-vae":
        return FactorVAE(**common)
    if objective in DIP_TYPE:
        given_dip = {key: value for key, value in dip.items() if value is not None}
        return DIPVAE(dip_type=DIP_TYPE[objective], **given_dip, **common)
    if objective in PAIR_CLASSES:
        return PAIR_CLASSES[objective](**common)
    return BetaVAE(**common)


def objective_name(model: BetaVAE) -> str:
    """The objective of a model, as ``OBJECTIVES`` names it (what model cards and run configs record)."""
    if isinstance(model, FactorVAE):
        return "factor-vae"
    if isinstance(model, BetaTCVAE):
        return "beta-tcvae"
    if isinstance(model, DIPVAE):
        return f"dip-vae-{model.dip_type}"
    if isinstance(model, PairVAE):
        return model.objective
    if isinstance(model, BetaVAE):
        return "beta-vae" if model.capacity is None else "capacity"
    raise TypeError(f"model must be a tfbetavae BetaVAE (or an objective's subclass), got {type(model).__name__}")
