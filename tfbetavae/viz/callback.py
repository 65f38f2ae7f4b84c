"""``TraversalCallback``: traversal and reconstruction grids in TensorBoard while ``fit`` trains."""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import check_batch
from tfbetavae.viz.traversal import _check_limits, _check_steps, reconstruction_grid, traversal_grid

__all__ = ["TraversalCallback"]


class TraversalCallback(keras.callbacks.Callback):
    """Writes a traversal grid and a reconstruction grid to TensorBoard every ``every`` epochs.

    Image summaries ``traversal`` (seed ``images[0]``, rows ordered by the KL over ``images``) and
    ``reconstructions`` (``images[:num_reconstructions]`` over their reconstructions), step = epoch index,
    go to an event file in ``log_dir``; point TensorBoard at it (or at the run's ``logs/`` folder).
    """

    def __init__(
        self,
        log_dir,
        images,
        every: int = 1,
        limits: Sequence[float] = (-3.0, 3.0),
        steps: int = 10,
        dims: int | Sequence[int] | None = None,
        num_reconstructions: int = 8,
    ) -> None:
        super().__init__()
        positive_int(every, "every")
        self.log_dir = os.fspath(log_dir)
        self.images = check_batch(images)
        self.every = int(every)
        self.limits = _check_limits(limits)
        self.steps = _check_steps(steps)
        self.dims = dims
        self.num_reconstructions = positive_int(num_reconstructions, "num_reconstructions")
        self._writer = None

    def _writer_for(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        return self._writer

    def write(self, step: int) -> None:
        """Writes both grids now, at ``step`` (also usable outside ``fit``)."""
        grid = traversal_grid(self.model, self.images[0], self.limits, self.steps, self.dims, reference=self.images)
        reconstructions = reconstruction_grid(self.model, self.images, self.num_reconstructions)
        with self._writer_for().as_default():
            tf.summary.image("traversal", _uint8(grid)[None], step=step)
            tf.summary.image("reconstructions", _uint8(reconstructions)[None], step=step)
        self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
