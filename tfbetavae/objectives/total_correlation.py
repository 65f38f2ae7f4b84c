"""Total correlation: minibatch-weighted estimates (Chen et al. 2018) and dimension-wise permutation (Kim & Mnih 2018).

The KL term of a VAE, averaged over the data, splits into three parts (Chen et al. 2018, eq. 2):

    E_p(x)[KL(q(z|x) ‖ p(z))] = I_q(x; z)                 mutual information
                               + KL(q(z) ‖ Π_j q(z_j))     total correlation (TC)
                               + Σ_j KL(q(z_j) ‖ p(z_j))   dimension-wise KL

where q(z) = (1/N) Σ_n q(z|x_n) is the aggregate posterior over a data set of N examples. The
aggregate densities are estimated from a minibatch of M codes z_i ~ q(z|x_i) with minibatch-weighted
sampling (MWS):

    log q(z_i)   ≈ logsumexp_j log q(z_i | x_j)     − log(N·M)
    log q(z_ij)  ≈ logsumexp_k log q(z_ij | x_k)    − log(N·M)       (one dimension j at a time)

so with D latent dimensions the dataset size only enters the three terms as constants:
``log N`` for the mutual information, ``(D − 1)·log N`` for the total correlation and ``−D·log N`` for the
dimension-wise KL (they cancel in the sum, which is a one-sample estimate of the KL). Gradients therefore
do not depend on N; the reported values do. With ``dataset_size=1`` the weights are the plain minibatch
average 1/M, i.e. the estimate of a continuous aggregate posterior by the minibatch mixture.
"""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

from tfbetavae.checks import int_at_least

tfd = tfp.distributions

__all__ = [
    "check_dataset_size",
    "dataset_size_of",
    "gaussian_log_density",
    "minibatch_weighted_decomposition",
    "minibatch_weighted_tc",
    "pairwise_log_density",
    "permute_dims",
]


def check_dataset_size(dataset_size) -> int:
    """``dataset_size`` as a positive int, or a ValueError naming the problem."""
    return int_at_least(dataset_size, "dataset_size", 1, "a positive integer (the number of training examples N)")


def dataset_size_of(data) -> int:
    """The number of examples N of a training source: ``len(data)`` for a GroundTruthData (every factor combination)."""
    try:
        size = len(data)
    except TypeError:
        raise ValueError(
            f"cannot take the dataset size from a {type(data).__name__} (it has no len()); pass dataset_size=N explicitly"
        ) from None
    return check_dataset_size(size)


def gaussian_log_density(samples, mean, log_variance):
    """Element-wise log N(samples; mean, exp(log_variance)); the arguments broadcast against each other."""
    return tfd.Normal(loc=mean, scale=tf.exp(0.5 * log_variance)).log_prob(samples)


def pairwise_log_density(z, mean, log_variance):
    """[M, M, D] tensor whose entry [i, j, d] is log q(z_id | x_j): every code under every posterior of the batch."""
    return gaussian_log_density(z[:, None, :], mean[None, :, :], log_variance[None, :, :])


def minibatch_weighted_decomposition(z, mean, log_variance, dataset_size: int, prior_log_density=None) -> dict:
    """Minibatch-weighted estimates of the three parts of the KL, each averaged over the batch.

    Args:
        z: codes [M, D], one sample of q(z|x_i) per example.
        mean, log_variance: the diagonal Gaussian posteriors q(z|x_i), each [M, D].
        dataset_size: N, the number of examples the minibatch is drawn from.
        prior_log_density: function z [M, D] → element-wise log p(z_id) [M, D]; default the standard normal.

    Returns a dict of scalars ``mutual_information``, ``total_correlation``, ``dimension_kl`` (their sum is a
    one-sample estimate of the average KL) and the per-example [M] log densities ``log_q_z_given_x``,
    ``log_q_z``, ``log_prod_q_zj`` and ``log_p_z`` they are built from.
    """
    dataset_size = check_dataset_size(dataset_size)
    z = tf.convert_to_tensor(z, tf.float32)
    mean = tf.convert_to_tensor(mean, tf.float32)
    log_variance = tf.convert_to_tensor(log_variance, tf.float32)
    batch = tf.cast(tf.shape(z)[0], tf.float32)
    log_weight = tf.math.log(batch) + math.log(dataset_size)  # log(N·M)

    pairwise = pairwise_log_density(z, mean, log_variance)  # [M, M, D]
    log_q_z = tf.reduce_logsumexp(tf.reduce_sum(pairwise, axis=2), axis=1) - log_weight
    log_prod_q_zj = tf.reduce_sum(tf.reduce_logsumexp(pairwise, axis=1) - log_weight, axis=1)
    log_q_z_given_x = tf.reduce_sum(gaussian_log_density(z, mean, log_variance), axis=1)
    if prior_log_density is None:
        log_p_elements = tfd.Normal(loc=tf.zeros_like(z), scale=tf.ones_like(z)).log_prob(z)
    else:
        log_p_elements = prior_log_density(z)
    log_p_z = tf.reduce_sum(log_p_elements, axis=1)
    return {
        "mutual_information": tf.reduce_mean(log_q_z_given_x - log_q_z),
        "total_correlation": tf.reduce_mean(log_q_z - log_prod_q_zj),
        "dimension_kl": tf.reduce_mean(log_prod_q_zj - log_p_z),
        "log_q_z_given_x": log_q_z_given_x,
        "log_q_z": log_q_z,
        "log_prod_q_zj": log_prod_q_zj,
        "log_p_z": log_p_z,
    }


def minibatch_weighted_tc(z, mean, log_variance, dataset_size: int):
    """Minibatch-weighted estimate of the total correlation KL(q(z) ‖ Π_j q(z_j)) of the aggregate posterior (nats)."""
    return minibatch_weighted_decomposition(z, mean, log_variance, dataset_size)["total_correlation"]


def permute_dims(z, seed):
    """Each column of ``z`` [M, D] shuffled independently across the batch (Kim & Mnih 2018, Algorithm 1).

    Samples of the result follow Π_j q(z_j) when the rows of ``z`` follow q(z): every marginal is kept, the
    dependence between dimensions is destroyed. Stateless: the same ``seed`` (shape [2] integers, as for
    ``tf.random.stateless_*``) gives the same permutations. Each column's permutation is the argsort of its own
    stateless uniform keys, which works inside XLA and on every device.
    """
    z = tf.convert_to_tensor(z)
    keys = tf.random.stateless_uniform(tf.shape(z), seed=seed)
    order = tf.argsort(keys, axis=0)  # [M, D]: a uniformly random permutation of 0..M-1 per column
    return tf.experimental.numpy.take_along_axis(z, order, axis=0)
