"""DIP-VAE (Kumar et al. 2018): the plain VAE loss plus a penalty that pushes the codes' covariance towards I.

    loss = −E_q[log p(x|z)] + KL(q(z|x) ‖ p(z)) + λ_od · Σ_{i≠j} C_ij² + λ_d · Σ_i (C_ii − 1)²

A disentangled prior p(z) = N(0, I) has uncorrelated dimensions; DIP-VAE asks the inferred codes to match its
covariance ("disentangled inferred prior"). C is estimated over each minibatch of M examples:

* DIP-VAE-I:  C = Cov[μ(x)], the covariance of the posterior means;
* DIP-VAE-II: C = Cov[μ(x)] + E[diag σ²(x)], the covariance of the aggregate posterior q(z) = E_x q(z|x).

Both covariances divide by M (not M − 1), as disentanglement_lib does. The KL weight is 1: the penalty is added to
the ordinary VAE loss. disentanglement_lib writes λ_d = lambda_d_factor · λ_od; its unsupervised study sweeps
λ_od ∈ {1, 2, 5, 10, 20, 50} with lambda_d_factor 10 for DIP-VAE-I and 1 for DIP-VAE-II (the paper's choices).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tfbetavae.checks import non_negative_float
from tfbetavae.model import BetaVAE

__all__ = ["DIP_TYPES", "LAMBDA_D_FACTOR", "DIPVAE", "dip_covariance", "dip_penalty"]

DIP_TYPES = ("i", "ii")
# λ_d / λ_od when λ_d is not given: disentanglement_lib's unsupervised_study_v1 sweep (and Kumar et al.).
LAMBDA_D_FACTOR = {"i": 10.0, "ii": 1.0}
DEFAULT_LAMBDA_OD = 10.0  # inside the sweep's {1, 2, 5, 10, 20, 50}; disentanglement_lib's own tests train with it


def _check_dip_type(dip_type) -> str:
    if dip_type not in DIP_TYPES:
        raise ValueError(f"dip_type must be 'i' (DIP-VAE-I) or 'ii' (DIP-VAE-II), got {dip_type!r}")
    return dip_type


def dip_covariance(mean, log_variance, dip_type: str = "i") -> tf.Tensor:
    """The batch covariance C [D, D] (float32) that DIP-VAE regularises, from posterior moments [M, D].

    ``"i"``: covariance of the means; ``"ii"``: that plus the mean posterior variance on the diagonal. Both are
    population covariances (divided by M).
    """
    dip_type = _check_dip_type(dip_type)
    mean = tf.cast(mean, tf.float32)
    centred = mean - tf.reduce_mean(mean, axis=0, keepdims=True)
    count = tf.cast(tf.shape(mean)[0], tf.float32)
    covariance = tf.matmul(centred, centred, transpose_a=True) / count
    if dip_type == "ii":
        covariance += tf.linalg.diag(tf.reduce_mean(tf.exp(tf.cast(log_variance, tf.float32)), axis=0))
    return covariance


def dip_penalty(covariance, lambda_od: float, lambda_d: float) -> dict:
    """λ_od · Σ_{i≠j} C_ij² + λ_d · Σ_i (C_ii − 1)², with its two unweighted sums.

    Returns ``{"penalty", "off_diagonal", "diagonal"}`` (float32 scalars): ``off_diagonal`` = Σ_{i≠j} C_ij²,
    ``diagonal`` = Σ_i (C_ii − 1)².
    """
    covariance = tf.cast(covariance, tf.float32)
    entries = tf.linalg.diag_part(covariance)
    off_diagonal = tf.reduce_sum(tf.square(covariance - tf.linalg.diag(entries)))  # exact zeros on the diagonal
    diagonal = tf.reduce_sum(tf.square(entries - 1.0))
    return {
        "penalty": lambda_od * off_diagonal + lambda_d * diagonal,
        "off_diagonal": off_diagonal,
        "diagonal": diagonal,
    }


@keras.saving.register_keras_serializable(package="tfbetavae")
class DIPVAE(BetaVAE):
    """DIP-VAE-I or -II: a ``BetaVAE`` (same encoder, decoder, ``encode``/``decode``, export) with the DIP penalty.

    Args:
        dip_type: ``"i"`` (covariance of the posterior means) or ``"ii"`` (covariance of q(z)).
        lambda_od: weight of the off-diagonal entries' squares. Default 10.
        lambda_d: weight of the diagonal entries' squared distance to 1. Default ``LAMBDA_D_FACTOR[dip_type] ·
            lambda_od`` (10·λ_od for I, λ_od for II, as in disentanglement_lib's study); the config saves the value.
        **kwargs: the other ``BetaVAE`` arguments (latent_dim, input_shape, likelihood, kernel_sizes,
            observation_scale, seed, name, and your own ``encoder``/``decoder`` under the same contract).
            ``beta``, ``gamma`` and the capacity schedule are not available: the KL weight is 1.

    Logs ``loss``, ``reconstruction``, ``kl``, ``active_dims``, ``dip_penalty`` (the weighted penalty),
    ``dip_off_diagonal`` (Σ_{i≠j} C_ij²) and ``dip_diagonal`` (Σ_i (C_ii − 1)²), batch means.
    """

    def __init__(
        self,
        dip_type: str = "i",
        lambda_od: float = DEFAULT_LAMBDA_OD,
        lambda_d: float | None = None,
        beta: float | None = None,
        gamma: float | None = None,
        capacity: float | None = None,
        **kwargs,
    ) -> None:
        for name, value in (("beta", beta), ("gamma", gamma), ("capacity", capacity)):
            if value is not None:
                raise ValueError(
                    f"DIPVAE takes no {name}: its loss is the plain VAE's (KL weight 1) plus the covariance penalty, "
                    "weighted by lambda_od and lambda_d"
                )
        self.dip_type = _check_dip_type(dip_type)
        self.lambda_od = non_negative_float(lambda_od, "lambda_od")
        if lambda_d is None:
            lambda_d = LAMBDA_D_FACTOR[self.dip_type] * self.lambda_od
        self.lambda_d = non_negative_float(lambda_d, "lambda_d")
        # Created before BetaVAE.__init__, which builds the model: a built Keras model accepts no new state.
        self.dip_penalty_tracker = keras.metrics.Mean(name="dip_penalty")
        self.dip_off_diagonal_tracker = keras.metrics.Mean(name="dip_off_diagonal")
        self.dip_diagonal_tracker = keras.metrics.Mean(name="dip_diagonal")
        super().__init__(beta=1.0, capacity=None, **kwargs)

    def get_config(self):
        config = super().get_config()
        for key in ("beta", "gamma", "capacity", "capacity_steps"):
            config.pop(key, None)
        return {**config, "dip_type": self.dip_type, "lambda_od": self.lambda_od, "lambda_d": self.lambda_d}

    @property
    def metrics(self):
        return [*super().metrics, self.dip_penalty_tracker, self.dip_off_diagonal_tracker, self.dip_diagonal_tracker]

    def compute_terms(self, images, training: bool = False) -> dict:
        """BetaVAE's terms with ``loss`` = rec + KL + DIP penalty, plus the penalty and its two sums."""
        terms = self.vae_terms(images, training)
        covariance = dip_covariance(terms["mean"], terms["log_variance"], self.dip_type)
        parts = dip_penalty(covariance, self.lambda_od, self.lambda_d)
        return {
            "loss": terms["reconstruction"] + terms["kl"] + parts["penalty"],
            **{key: terms[key] for key in ("reconstruction", "kl", "kl_per_dim")},
            "dip_penalty": parts["penalty"],
            "dip_off_diagonal": parts["off_diagonal"],
            "dip_diagonal": parts["diagonal"],
        }

    def _record(self, terms) -> dict:
        logs = super()._record(terms)
        for key, tracker in (
            ("dip_penalty", self.dip_penalty_tracker),
            ("dip_off_diagonal", self.dip_off_diagonal_tracker),
            ("dip_diagonal", self.dip_diagonal_tracker),
        ):
            tracker.update_state(terms[key])
            logs[key] = tf.reshape(tracker.result(), tf.shape(logs["loss"]))  # [1] where BetaVAE made it so
        return logs
