"""Repetition counts of a full and a quick run, and what every section is handed (``Context``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

BATCH_SIZE = 64

# Repetition counts: rounds (medians are taken over these), steps or items per round.
FULL = {
    "rounds": 7,
    "train_steps": 15,
    "eager_steps": 4,
    "matmul_n": 2048,
    "data_batches": 60,
    "data_rounds": 5,
    "metric_train": 160,
    "metric_eval": 80,
    "metric_rounds": 3,
    "encode_rounds": 7,
    "latency_calls": 200,
    "serving_rounds": 5,
    "serving_batch": 256,
    "fit_steps": 48,
    "fit_rounds": 7,
    "independent_steps": 300,
    "independent_rounds": 3,
    "study_steps": 500,
    "study_grid_steps": 250,
    "study_grid_betas": "1,4",
    "study_rounds": 1,
    "tune_steps": 300,
    "networks_steps": 30,
    "networks_rounds": 9,
    "isa_steps": 32,
    "isa_rounds": 5,
    "profile_calls": 10,
    "profile_rounds": 7,
    "profile_trace_steps": 10,
    "profile_verbose_steps": 5,
    "pairs_steps": 15,
    "pairs_rounds": 7,
    "udr_points": 1000,
    "udr_models": 4,
    "udr_rounds": 3,
}
QUICK = {
    "rounds": 2,
    "train_steps": 2,
    "eager_steps": 1,
    "matmul_n": 512,
    "data_batches": 4,
    "data_rounds": 2,
    "metric_train": 4,
    "metric_eval": 2,
    "metric_rounds": 1,
    "encode_rounds": 2,
    "latency_calls": 10,
    "serving_rounds": 2,
    "serving_batch": 32,
    "fit_steps": 6,
    "fit_rounds": 2,
    "independent_steps": 3,
    "independent_rounds": 1,
    "study_steps": 4,
    "study_grid_steps": 3,
    "study_grid_betas": "1",  # two cells (2 seeds): enough for two workers
    "study_rounds": 1,
    "study_sizes": {
        "beta_vae": {"num_train": 4, "num_eval": 2}, "beta_vae_paper": {"num_train": 4, "num_eval": 2},
        "mig": {"num_train": 100}, "dci": {"num_train": 40, "num_test": 20},
    },
    "tune_steps": 4,
    "tune_sizes": {"num_train": 4, "num_eval": 2},
    "networks_steps": 2,
    "networks_rounds": 2,
    "isa_steps": 4,
    "isa_rounds": 1,
    "profile_calls": 2,
    "profile_rounds": 1,
    "profile_trace_steps": 2,
    "profile_verbose_steps": 1,
    "pairs_steps": 2,
    "pairs_rounds": 2,
    "udr_points": 128,
    "udr_models": 3,
    "udr_rounds": 1,
}
PRECISIONS = ("float32", "bfloat16")
MODES = ("eager", "tf_function", "xla")
DEFAULT_STEPS_PER_EXECUTION = 16


@dataclass
class Context:
    """What a section's ``run`` gets: the repetition counts, the command line's choices and the results so far."""

    cfg: dict
    threads: int
    modes: list = field(default_factory=lambda: list(MODES))
    precisions: list = field(default_factory=lambda: list(PRECISIONS))
    isas: list = field(default_factory=lambda: ["native", "AVX2"])
    with_torch: bool = True
    steps_per_execution: int = DEFAULT_STEPS_PER_EXECUTION
    results: dict = field(default_factory=dict)
    _model: object = None

    @property
    def quick(self) -> bool:
        return self.cfg is QUICK

    @staticmethod
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def trained_model(self):
        """One default model after one training step, shared by the metric, serving and clients sections."""
        if self._model is None:
            from .models import make_images, make_model

            self._model = make_model("tf_function")
            self._model.train_on_batch(make_images(BATCH_SIZE))
        return self._model
