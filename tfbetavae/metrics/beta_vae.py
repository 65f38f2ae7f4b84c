"""The β-VAE disentanglement score (Higgins et al. 2017).

Idea: if one code dimension captures factor k alone, then in pairs of observations that agree on factor k
that dimension barely changes, so the mean absolute code difference over many such pairs reveals k to a
simple (linear) classifier. The score is that classifier's accuracy.

One metric point: choose factor k uniformly; draw L (``batch_size``) pairs of factor vectors that agree
on factor k (each pair its own common value) and are otherwise independent; render and encode both sides;
``z_diff`` = mean over the L pairs of ``|z1 - z2|``; label ``k``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import (
    Progress,
    check_data,
    choose_factors,
    fixed_factor_groups,
    make_rng,
    points_per_chunk,
    resolve_factors,
)
from tfbetavae.metrics.representation import RepresentFn, as_representation

PROTOCOLS = ("standard", "paper")

# The "paper" protocol's classifier: linear softmax trained with Adagrad (learning rate 1e-2 as in the paper).
_PAPER_LEARNING_RATE = 0.01
_PAPER_MINIBATCH = 64
_PAPER_STEPS = 5000


def beta_vae_batches(
    data: GroundTruthData,
    represent: Any,
    batch_size: int = 64,
    seed: int = 0,
    num_points: int | None = None,
    factors: Sequence[int | str] | None = None,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of β-VAE metric points ``(z_diff float32 [d], k int64)``.

    ``batch_size`` is L, the number of pairs averaged into one point; ``factors`` restricts the labels
    (default: all factors); ``num_points=None`` gives an endless stream. Points are rendered and encoded
    about 2048 images at a time in a generator, unbatched and prefetched, so the encoder always sees large
    batches. The stream is the same for the same seed (and identical to what ``beta_vae_score`` trains on).
    """
    data = check_data(data)
    batch_size = positive_int(batch_size, "batch_size")
    if num_points is not None:
        num_points = positive_int(num_points, "num_points")
    choices = resolve_factors(data, factors)
    represent_fn = as_representation(represent)
    probe = data.sample_observations_from_factors(np.zeros((1, data.num_factors), np.int64), make_rng(seed))
    code_size = represent_fn(probe).shape[1]

    def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield from _points(data, represent_fn, batch_size, make_rng(seed), num_points, choices, None)

    dataset = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec(shape=(None, code_size), dtype=tf.float32),
            tf.TensorSpec(shape=(None,), dtype=tf.int64),
        ),
    ).unbatch()
    if num_points is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_points))
    return dataset.prefetch(tf.data.AUTOTUNE)


def beta_vae_score(
    represent: Any,
    data: GroundTruthData,
    num_train: int = 10000,
    num_eval: int = 5000,
    batch_size: int = 64,
    seed: int = 0,
    protocol: str = "standard",
    progress: bool = True,
    factors: Sequence[int | str] | None = None,
) -> dict[str, float]:
    """β-VAE score: accuracy of a linear classifier predicting the fixed factor from ``z_diff``.

    Two protocols, which give different numbers, so results name the one used:

    * ``"standard"`` (disentanglement_lib, Locatello et al. 2019): labels over all factors, L = 64 pairs per
      point, 10 000 training and 5 000 evaluation points, scikit-learn ``LogisticRegression`` (defaults,
      ``max_iter=1000``) on the posterior-mean codes.
    * ``"paper"`` (Higgins et al. 2017): the labels exclude a factor named ``"shape"`` when the data set has one,
      because the paper reports dSprites over scale, orientation, posX and posY; the classifier is a linear
      softmax layer (no hidden units, low capacity on purpose) trained with Adagrad (learning rate 1e-2,
      minibatches of 64, 5000 steps, zero initialisation, minibatch order from the seed).

    ``factors`` overrides the label set of either protocol. Returns ``{"train_accuracy", "eval_accuracy"}``.
    """
    data = check_data(data)
    num_train = positive_int(num_train, "num_train")
    num_eval = positive_int(num_eval, "num_eval")
    batch_size = positive_int(batch_size, "batch_size")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    choices = _label_factors(data, protocol, factors)
    represent_fn = as_representation(represent)
    rng = make_rng(seed)
    total = num_train + num_eval
    bar = Progress(total, progress, f"β-VAE score ({protocol} protocol): {total} points of {batch_size} pairs")
    chunks = list(_points(data, represent_fn, batch_size, rng, total, choices, bar))
    features = np.concatenate([chunk[0] for chunk in chunks])
    labels = np.concatenate([chunk[1] for chunk in chunks])
    x_train, y_train = features[:num_train], labels[:num_train]
    x_eval, y_eval = features[num_train:], labels[num_train:]
    if protocol == "standard":
        predict = _fit_logistic_regression(x_train, y_train, seed)
    else:
        predict = _fit_softmax_adagrad(x_train, y_train, seed)
    return {
        "train_accuracy": float(np.mean(predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(predict(x_eval) == y_eval)),
    }


def _label_factors(data: GroundTruthData, protocol: str, factors: Sequence[int | str] | None) -> list[int]:
    if factors is not None or protocol == "standard":
        return resolve_factors(data, factors)
    choices = [i for i, name in enumerate(data.factor_names) if name != "shape"]
    if not choices:
        raise ValueError("the paper protocol excludes 'shape', which leaves no factor to predict")
    return choices


def _points(
    data: GroundTruthData,
    represent_fn: RepresentFn,
    batch_size: int,
    rng: np.random.Generator,
    num_points: int | None,
    choices: list[int],
    bar: Progress | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Chunks ``(z_diff [p, d], k [p])`` of metric points, ``num_points`` in all (None: forever)."""
    per_chunk = points_per_chunk(2 * batch_size)
    produced = 0
    while num_points is None or produced < num_points:
        count = per_chunk if num_points is None else min(per_chunk, num_points - produced)
        labels = choose_factors(choices, count, rng)
        pairs = fixed_factor_groups(data, np.repeat(labels, batch_size), 2, rng)
        images = data.sample_observations_from_factors(pairs.reshape(-1, data.num_factors), rng)
        codes = represent_fn(images)  # one call for the whole chunk: count × L × 2 images
        codes = codes.reshape(count, batch_size, 2, codes.shape[1])
        z_diff = np.mean(np.abs(codes[:, :, 0] - codes[:, :, 1]), axis=1)
        produced += count
        if bar is not None:
            bar.add(count)
        yield z_diff.astype(np.float32), labels


def _fit_logistic_regression(x: np.ndarray, y: np.ndarray, seed: int):
    if len(np.unique(y)) < 2:
        return lambda features: np.full(len(features), y[0], np.int64)
    model = LogisticRegression(random_state=seed, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    return model.predict


def _fit_softmax_adagrad(x: np.ndarray, y: np.ndarray, seed: int):
    """A linear softmax classifier trained with (hand-written, deterministic) Adagrad in TensorFlow."""
    classes = np.unique(y)
    if len(classes) < 2:
        return lambda features: np.full(len(features), y[0], np.int64)
    targets = tf.constant(np.searchsorted(classes, y), tf.int64)
    features = tf.constant(x, tf.float32)
    weights = tf.Variable(tf.zeros([x.shape[1], len(classes)]))
    bias = tf.Variable(tf.zeros([len(classes)]))
    variables = [weights, bias]
    accumulators = [tf.Variable(tf.fill(v.shape, 0.1)) for v in variables]  # Adagrad's usual initial value
    order_rng = np.random.default_rng(seed)
    minibatch = min(_PAPER_MINIBATCH, len(x))
    needed = _PAPER_STEPS * minibatch
    epochs = -(-needed // len(x))
    order = np.concatenate([order_rng.permutation(len(x)) for _ in range(epochs)])[:needed]
    order = tf.constant(order.reshape(_PAPER_STEPS, minibatch))

    @tf.function
    def train() -> None:
        for step in tf.range(_PAPER_STEPS):
            index = order[step]
            with tf.GradientTape() as tape:
                logits = tf.matmul(tf.gather(features, index), weights) + bias
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.gather(targets, index), logits=logits)
                )
            for variable, accumulator, gradient in zip(variables, accumulators, tape.gradient(loss, variables)):
                accumulator.assign_add(tf.square(gradient))
                variable.assign_sub(_PAPER_LEARNING_RATE * gradient / (tf.sqrt(accumulator) + 1e-7))

    train()
    w, b = weights.numpy(), bias.numpy()
    return lambda features_: classes[np.argmax(features_ @ w + b, axis=1)]
