"""A tiny study run as a subprocess by tests/test_study.py (kill-and-resume, local chief + 2 workers).

Usage: python tests/study_process.py STUDY_DIR [WORKERS]. Two β values × two seeds, scored at steps 10, 20
and 30 with MIG and the β-VAE score at toy sizes (quick, not meaningful numbers), on ``small_networks``: these
tests are about the grid's bookkeeping across processes, and the MLP pair traces in a fraction of the time of the
standard networks (which tests/test_study.py's in-process toy study trains). The plan names the factory, so local
workers import it: the caller puts tests/ on their PYTHONPATH.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TINY = {
    "betas": [1, 4],
    "seeds": [0, 1],
    "eval_steps": [10, 20, 30],
    "latent_dims": 4,
    "batch_size": 8,
    "scores": ["beta_vae", "mig"],
    "metric_sizes": {"beta_vae": {"num_train": 20, "num_eval": 10}, "mig": {"num_train": 200}},
    "fast": True,
}


def small_networks(input_shape, latent_dim):
    """A user's own networks for a study (tests/test_study.py): a flat MLP pair, built fresh per call."""
    import keras

    encoder = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(2 * latent_dim)])
    size = 1
    for side in input_shape:
        size *= side
    decoder = keras.Sequential([keras.layers.Dense(32, activation="relu"), keras.layers.Dense(size),
                                keras.layers.Reshape(tuple(input_shape))])
    return encoder, decoder


def main() -> int:
    from tfbetavae.studies import study

    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    study(sys.argv[1], workers=workers, threads=1, networks="study_process:small_networks", **TINY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
