"""Section ``udr``: what choosing β by UDR costs here, per model encoded and per model pair compared.

UDR (tfbetavae.metrics.udr) encodes the same points with every model, then compares every ordered pair of models
with a Lasso regression per pair; a study of S settings × K seeds compares (S·K)·(S·K − 1) ordered pairs (all of
them, for UDR-A2A). The pair cost is timed on codes of the default latent size with every dimension kept (the
KL filter only ever removes dimensions, so this is the most a pair costs).
"""

from __future__ import annotations

import time

import numpy as np

from .config import BATCH_SIZE
from .measure import load, summary


def bench_udr(cfg: dict, model, log) -> dict:
    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.metrics.udr import udr, udr_from_codes

    points, models = cfg["udr_points"], cfg["udr_models"]
    data = ProceduralDSprites()
    udr([model, model], data, num_points=min(points, 2 * BATCH_SIZE), progress=False)  # tracing and start-up
    whole = []
    for _ in range(cfg["udr_rounds"]):
        start = time.perf_counter()
        udr([model] * models, data, num_points=points, progress=False)
        whole.append(time.perf_counter() - start)
    latent_dim = int(model.latent_dim)
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(latent_dim, latent_dim))
    base = rng.normal(size=(points, latent_dim))
    codes = [base @ np.linalg.qr(rng.normal(size=(latent_dim, latent_dim)))[0] + 0.1 * rng.normal(size=base.shape)
             if k else base @ mixing for k in range(models)]
    pair_seconds = []
    for _ in range(cfg["udr_rounds"]):
        start = time.perf_counter()
        udr_from_codes(codes, kl_threshold=None)
        pair_seconds.append((time.perf_counter() - start) / (models * (models - 1)))
    log(f"  UDR timed, load {load()}")
    per_pair = float(np.median(pair_seconds))
    per_model = max(float(np.median(whole)) / models - per_pair * (models - 1), 0.0)
    return {
        "points": points,
        "models": models,
        "latent_dim": latent_dim,
        "whole_udr": summary(whole, unit="seconds"),
        "seconds_per_pair": summary(pair_seconds, unit="seconds"),
        # What remains of the whole call per model once its pairs are taken out: drawing and encoding its points.
        "seconds_per_model_encoded": round(per_model, 4),
        # The paper study's 3 settings × 5 seeds: 15 models, 15 · 14 ordered pairs.
        "paper_study_seconds": round(15 * per_model + 15 * 14 * per_pair, 1),
    }


def run(context) -> dict:
    context.log(f"UDR cost (per model and per pair), load {load()}")
    return {"udr": bench_udr(context.cfg, context.trained_model(), context.log)}
