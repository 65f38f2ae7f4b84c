"""Section ``pairs``: what a weakly supervised (pair) step costs against an image step.

An Ada-GVAE step encodes two images per example and decodes both, so at the same batch size it should cost about
two image steps. Both sides run their bare ``train_step`` as one tf.function on a fixed batch (64 images against
64 pairs), alternating in every round so that both see the same load.
"""

from __future__ import annotations

from .config import BATCH_SIZE
from .measure import load, paired, summary
from .models import bare_step_runner, make_images, make_model


def bench_pairs(cfg: dict, log) -> dict:
    import keras

    from tfbetavae.objectives import build_model
    from tfbetavae.training import compile_model

    steps = cfg["pairs_steps"]
    images = make_images(BATCH_SIZE)
    image_step = bare_step_runner(make_model("tf_function"), images, steps)
    keras.utils.set_random_seed(0)
    pair_model = build_model("ada-gvae", seed=0)
    compile_model(pair_model)
    pair_step = bare_step_runner(pair_model, (images, make_images(BATCH_SIZE, seed=1)), steps)
    image_rates, pair_rates = [], []
    for _ in range(cfg["pairs_rounds"]):
        image_rates.append(image_step())
        pair_rates.append(pair_step())
    log(f"  pair and image steps done, load {load()}")
    return {
        "batch_size": BATCH_SIZE,
        "steps_per_round": steps,
        "image_step": summary(image_rates),
        "pair_step": summary(pair_rates, unit="pairs_per_s"),
        # Seconds of a pair step over seconds of an image step, per round: the cost of one pair batch in image
        # batches (about 2 expected: twice the encoding and decoding, one optimiser update).
        "pair_step_vs_image_step": round(paired(image_rates, pair_rates), 3),
    }


def run(context) -> dict:
    context.log(f"pair steps (ada-gvae) against image steps, load {load()}")
    return {"pairs": bench_pairs(context.cfg, context.log)}
