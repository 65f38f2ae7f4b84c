"""A tiny β search run as a subprocess by tests/test_tuning.py (resume after kill, chief/worker loopback).

Every trial appends ``start <β> <pid>`` and ``done <β> <pid>`` lines to ``--log``. The score is the planted
``-|log β - log 4|`` so no metric runs. A chief or standalone process writes ``results_table`` to ``--results``.
KerasTuner's distributed mode is switched on by the KERASTUNER_* environment variables the test sets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfbetavae.data import ProceduralDSprites  # noqa: E402
from tfbetavae.tuning import BetaVAEHyperModel, is_worker, results_table, search  # noqa: E402


def planted_score(model, data, seed):
    return -abs(math.log(model.beta) - math.log(4.0))


def small_networks(hp):
    """An MLP pair for 64×64×1 sprites: these processes test the search's bookkeeping (resume, chief and workers),
    not the networks, and the MLP traces in a fraction of the standard networks' time."""
    import keras

    latent_dim = hp.get("latent_dim")
    encoder = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(2 * latent_dim)])
    decoder = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(64 * 64),
                                keras.layers.Reshape((64, 64, 1))])
    return encoder, decoder


class LoggingHyperModel(BetaVAEHyperModel):
    def __init__(self, *args, log_path: str, trial_sleep: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_path = log_path
        self.trial_sleep = trial_sleep

    def _log(self, event: str, beta: float) -> None:
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(f"{event} {beta:g} {os.getpid()}\n")
            handle.flush()
            os.fsync(handle.fileno())

    def fit(self, hp, model, *args, **kwargs):
        self._log("start", model.beta)
        results = super().fit(hp, model, *args, **kwargs)
        time.sleep(self.trial_sleep)
        self._log("done", model.beta)
        return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--project", default="search")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--log", required=True)
    parser.add_argument("--results", default=None)
    parser.add_argument("--trial-sleep", type=float, default=0.0)
    parser.add_argument("--num-workers", type=int, default=None)
    args = parser.parse_args()
    hypermodel = LoggingHyperModel(
        ProceduralDSprites(),
        steps=args.steps,
        betas=[1, 2, 4, 8, 16],
        latent_dim=2,
        batch_size=8,
        num_eval_images=16,
        objective=planted_score,
        log_path=args.log,
        trial_sleep=args.trial_sleep,
        build_networks=small_networks,
    )
    tuner = search(directory=args.dir, project_name=args.project, max_trials=args.trials, hypermodel=hypermodel,
                   num_workers=args.num_workers, chief_timeout=300)
    if args.results and not is_worker():
        with open(args.results, "w", encoding="utf-8") as handle:
            json.dump(results_table(tuner), handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
