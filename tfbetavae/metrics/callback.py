"""Disentanglement scores during ``fit``, written into the epoch logs.

Putting the scores into ``logs`` (rather than printing them) is what makes them reach History, TensorBoard,
CSVLogger, EarlyStopping and KerasTuner objectives, all of which read the logs of the callbacks after ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from tfbetavae.checks import positive_int
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics._sampling import check_data, make_rng
from tfbetavae.metrics.evaluation import check_metric_names, evaluate, route_kwargs, scoring_record
from tfbetavae.metrics.representation import check_representation


class DisentanglementCallback(keras.callbacks.Callback):
    """Scores ``self.model`` (its ``encode``, else the model itself) with the chosen metrics during training.

    Scores are computed on the first epoch of each ``fit``, then every ``every`` epochs (epochs ``every - 1``, ``2·every - 1``,
    ... counting from 0) and on the last epoch; on the other epochs the last values are carried forward, so
    every epoch's logs hold the same keys (``beta_vae_eval_accuracy``, ``mig``, ...; see ``evaluate``).
    The same ``seed`` is used each time, so changes between epochs come from the model, not the sampling.
    ``metric_kwargs`` are passed on as in ``evaluate`` (for example ``num_train=2000`` or
    ``mig={"num_bins": 10}``); progress bars are off unless ``progress=True`` is given.

    The logs hold numbers only (TensorBoard, KerasTuner and EarlyStopping read them), so how the scores were made
    lives beside them: ``callback.scoring`` and the ``History`` that ``fit`` returns (``history.scoring``) hold
    ``{"protocol", "metric_sizes", "seed"}`` (see ``tfbetavae.metrics.scoring_record``).

    ``representation="sampled"`` scores one posterior draw per image instead of the posterior mean (the model's
    ``encode(images, return_log_variance=True)`` gives the moments); the draws are seeded with ``seed``, so they are
    the same noise at every scoring, and the record says ``"representation": "sampled"``.
    """

    def __init__(
        self,
        data: GroundTruthData,
        metrics: str | Sequence[str] = ("beta_vae",),
        every: int = 1,
        seed: int = 0,
        representation: str = "mean",
        **metric_kwargs: Any,
    ) -> None:
        super().__init__()
        self.data = check_data(data)
        self.metrics = check_metric_names(metrics)
        self.every = positive_int(every, "every")
        make_rng(seed)  # validates the seed now rather than at the end of the first epoch
        self.seed = int(seed)
        self.representation = check_representation(representation)
        self.metric_kwargs = {"progress": False, **metric_kwargs}
        route_kwargs(self.metrics, self.metric_kwargs)  # unknown keywords fail here, before training starts
        self.scoring = scoring_record(self.metrics, self.seed, self.representation, **self.metric_kwargs)
        self.last_scores: dict[str, float] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.last_scores = {}  # each fit starts with fresh scores

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._due(epoch):
            scores = evaluate(
                self.model, self.data, self.metrics, self.seed, representation=self.representation, **self.metric_kwargs
            )
            self.last_scores = {key: float(value) for key, value in scores.items()}
        if logs is not None:
            logs.update(self.last_scores)
        self._label_history()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._label_history()  # Keras sets model.history after the first epoch's callbacks, ours included

    def _label_history(self) -> None:
        history = getattr(self.model, "history", None)
        if isinstance(history, keras.callbacks.History):
            history.scoring = self.scoring

    def _due(self, epoch: int) -> bool:
        last_epoch = (self.params or {}).get("epochs")
        return (
            not self.last_scores
            or (epoch + 1) % self.every == 0
            or (last_epoch is not None and epoch == last_epoch - 1)
        )
