"""Section ``tune``: the scoring share of a default ``tfbetavae tune`` trial."""

from __future__ import annotations

import time

from .measure import load


def bench_tune(cfg: dict, log) -> dict:
    """What scoring costs in a default ``tfbetavae tune`` trial, measured as the study section measures a study's.

    A trial of the default hypermodel (β-VAE score at the tuner's sizes, the metric catalogue's ``tune`` preset,
    plus the held-out
    reconstruction and KL) trains ``tune_steps`` steps, then is scored the way a trial is scored
    (``BetaVAEHyperModel.evaluate_model``); the share is extrapolated to the default trial's 1,000 steps. The share
    at the paper's sizes (10,000 + 5,000 points) is estimated from the same seconds per scored image.
    """
    import keras_tuner as kt

    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.training import train
    from tfbetavae.tuning import BetaVAEHyperModel
    from tfbetavae.tuning.sizes import scored_images, sizes_in_effect

    data = ProceduralDSprites()
    hypermodel = BetaVAEHyperModel(data, metric_kwargs=cfg.get("tune_sizes"))
    paper = BetaVAEHyperModel(data, paper_sizes=True)
    model = hypermodel.build(kt.HyperParameters())
    train(model, data, steps=2, verbose=0)  # tracing and pipeline start-up
    steps = cfg["tune_steps"]
    start = time.perf_counter()
    train(model, data, steps=steps, seed=1, verbose=0)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()  # scored once, tracing included: every trial builds (and traces) a new model
    hypermodel.evaluate_model(model, data)
    score_seconds = time.perf_counter() - start
    log(f"  tune trial scoring share measured, load {load()}")

    def images(which) -> int:
        return which.num_eval_images + scored_images(which.metric, sizes_in_effect(which.metric, which.metric_kwargs))

    per_trial = train_seconds / steps * hypermodel.steps
    paper_seconds = score_seconds / images(hypermodel) * images(paper)
    return {
        "metric": hypermodel.metric,
        "sizes": sizes_in_effect(hypermodel.metric, hypermodel.metric_kwargs),
        "trial_steps": hypermodel.steps,
        "seconds_per_step": round(train_seconds / steps, 5),
        "seconds_per_scoring": round(score_seconds, 2),
        "share_default_trial": round(score_seconds / (score_seconds + per_trial), 4),
        "paper_sizes_seconds_estimate": round(paper_seconds, 1),
        "paper_sizes_share_estimate": round(paper_seconds / (paper_seconds + per_trial), 4),
    }


def run(context) -> dict:
    context.log(f"tune trial cost (scoring share at the tuner's sizes), load {load()}")
    return {"tune": bench_tune(context.cfg, context.log)}
