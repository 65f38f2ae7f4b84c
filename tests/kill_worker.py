"""A deterministic training run for the kill -9 test: python kill_worker.py RUN_DIR OUT.npy"""

import sys

import numpy as np

from tfbetavae import BetaVAE, dsprites
from tfbetavae.training import make_deterministic, train

run_dir, out = sys.argv[1], sys.argv[2]
make_deterministic(3)
model = BetaVAE(latent_dim=4, capacity=8.0, capacity_steps=30, seed=3)
train(model, dsprites(), steps=30, batch_size=16, steps_per_epoch=3, seed=3, run_dir=run_dir, verbose=0)
np.save(out, np.concatenate([w.numpy().ravel().astype(np.float64) for w in model.weights]))
