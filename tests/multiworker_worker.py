"""One process of the two-worker training test: trains a few steps and records weights and losses.

Usage: python multiworker_worker.py OUT.json [TASK_INDEX PORT0 PORT1]   (no task → single process)
"""

import json
import os
import sys

out = sys.argv[1]
if len(sys.argv) > 2:
    index, ports = int(sys.argv[2]), sys.argv[3:5]
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbetavae import BetaVAE, dsprites  # noqa: E402
from tfbetavae.training import compile_model, make_strategy, train  # noqa: E402

strategy = make_strategy("multiworker" if len(sys.argv) > 2 else "default")
keras.utils.set_random_seed(0)
with strategy.scope():
    model = compile_model(BetaVAE(latent_dim=3, seed=0), learning_rate=1e-3)


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.sums, self.losses = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.sums.append(float(sum(np.abs(w.numpy()).sum() for w in self.model.trainable_weights)))
        self.losses.append(float(logs["loss"]))


record = Record()
run_dir = os.environ.get("RUN_DIR")
train(model, dsprites(), steps=6, batch_size=16, steps_per_epoch=3, seed=0, callbacks=[record], verbose=0,
      run_dir=run_dir)
with open(out, "w") as handle:
    json.dump({"sums": record.sums, "losses": record.losses, "replicas": strategy.num_replicas_in_sync}, handle)
