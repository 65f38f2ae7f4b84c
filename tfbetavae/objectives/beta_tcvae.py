"""β-TCVAE (Chen et al. 2018): penalise the total correlation of the aggregate posterior, not the whole KL.

    loss = −E_q[log p(x|z)] + α · I_q(x; z) + β · KL(q(z) ‖ Π_j q(z_j)) + γ · Σ_j KL(q(z_j) ‖ p(z_j))

with the three KL parts estimated on each minibatch by minibatch-weighted sampling (see
``tfbetavae.objectives.total_correlation``). α = β = γ = 1 is the plain VAE; the paper's dSprites setting is
α = γ = 1, β = 6.
"""

from __future__ import annotations

import keras
import tensorflow_probability as tfp

from tfbetavae.checks import non_negative_float
from tfbetavae.model import BetaVAE
from tfbetavae.objectives.total_correlation import check_dataset_size, dataset_size_of, minibatch_weighted_decomposition

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tfbetavae")
class BetaTCVAE(BetaVAE):
    """β-TCVAE: a ``BetaVAE`` (same encoder, decoder, ``encode``/``decode``, export) with the TC-decomposed loss.

    Args:
        dataset_size: N, the number of training examples (for procedural dSprites ``len(data)`` = 737 280). Required;
            ``BetaTCVAE.for_data(data, ...)`` takes it from the data. With minibatch-weighted sampling N only shifts
            the logged MI/TC/dimension-KL values by constants, it does not change the gradients.
        alpha: weight of the index-code mutual information I_q(x; z).
        beta: weight of the total correlation.
        gamma: weight of the dimension-wise KL Σ_j KL(q(z_j) ‖ p(z_j)).
        **kwargs: the other ``BetaVAE`` arguments (latent_dim, input_shape, likelihood, kernel_sizes,
            observation_scale, seed, name, and your own ``encoder``/``decoder`` under the same contract).
            The capacity schedule is not available here.

    Logs ``loss``, ``reconstruction``, ``kl`` (analytic, as for BetaVAE), ``active_dims``, ``mutual_information``,
    ``total_correlation`` and ``dimension_kl`` (all in nats, batch means).
    """

    def __init__(
        self,
        dataset_size: int | None = None,
        alpha: float = 1.0,
        beta: float = 6.0,
        gamma: float = 1.0,
        capacity: float | None = None,
        **kwargs,
    ) -> None:
        if dataset_size is None:
            raise ValueError(
                "BetaTCVAE needs dataset_size, the number of training examples N used by the minibatch-weighted "
                "estimates: pass dataset_size=len(data) (737280 for dSprites) or build it with BetaTCVAE.for_data(data, ...)"
            )
        if capacity is not None:
            raise ValueError("BetaTCVAE does not support the capacity schedule; use BetaVAE(capacity=...) for that")
        dataset_size = check_dataset_size(dataset_size)
        alpha = non_negative_float(alpha, "alpha")
        self.dataset_size = dataset_size
        self.alpha = alpha
        # Created before BetaVAE.__init__, which builds the model: a built Keras model accepts no new state.
        self.mutual_information_tracker = keras.metrics.Mean(name="mutual_information")
        self.total_correlation_tracker = keras.metrics.Mean(name="total_correlation")
        self.dimension_kl_tracker = keras.metrics.Mean(name="dimension_kl")
        super().__init__(beta=beta, gamma=gamma, capacity=None, **kwargs)  # checks beta and gamma, builds the networks

    @classmethod
    def for_data(cls, data, **kwargs) -> BetaTCVAE:
        """A BetaTCVAE whose ``dataset_size`` is ``len(data)`` (a ``GroundTruthData`` has one example per factor combination)."""
        return cls(dataset_size=dataset_size_of(data), **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("capacity", None)
        config.pop("capacity_steps", None)
        return {**config, "dataset_size": self.dataset_size, "alpha": self.alpha}

    @property
    def metrics(self):
        return [
            *super().metrics,
            self.mutual_information_tracker,
            self.total_correlation_tracker,
            self.dimension_kl_tracker,
        ]

    def compute_terms(self, images, training: bool = False) -> dict:
        """BetaVAE's terms plus ``mutual_information``, ``total_correlation`` and ``dimension_kl`` (batch means)."""
        terms = self.vae_terms(images, training)
        parts = minibatch_weighted_decomposition(
            terms["codes"], terms["mean"], terms["log_variance"], self.dataset_size,
            prior_log_density=self.prior.distribution.log_prob,
        )
        loss = (
            terms["reconstruction"]
            + self.alpha * parts["mutual_information"]
            + self.beta * parts["total_correlation"]
            + self.gamma * parts["dimension_kl"]
        )
        return {
            "loss": loss,
            **{key: terms[key] for key in ("reconstruction", "kl", "kl_per_dim")},
            "mutual_information": parts["mutual_information"],
            "total_correlation": parts["total_correlation"],
            "dimension_kl": parts["dimension_kl"],
        }

    def _record(self, terms) -> dict:
        logs = super()._record(terms)
        self.mutual_information_tracker.update_state(terms["mutual_information"])
        self.total_correlation_tracker.update_state(terms["total_correlation"])
        self.dimension_kl_tracker.update_state(terms["dimension_kl"])
        logs["mutual_information"] = self.mutual_information_tracker.result()
        logs["total_correlation"] = self.total_correlation_tracker.result()
        logs["dimension_kl"] = self.dimension_kl_tracker.result()
        return logs
