"""Section ``metric``: images encoded per second inside ``beta_vae_score`` against ``model.encode`` alone."""

from __future__ import annotations

from .config import BATCH_SIZE, QUICK
from .measure import load, summary, timed
from .models import make_images


def bare_encoders(cfg: dict, model, sizes) -> dict:
    """size -> a function returning model.encode's images/s on a fixed batch of that size (about 4096 images)."""
    functions = {}
    for size in sizes:
        batch = make_images(size, seed=1)
        model.encode(batch)
        calls = 1 if cfg is QUICK else max(1, 4096 // size)
        functions[size] = lambda b=batch, n=calls: n * len(b) / timed(lambda: model.encode(b), n)
    return functions


def metric_rate(cfg: dict, model, data) -> float:
    """Encoded images/s inside beta_vae_score: 2 · batch_size · (num_train + num_eval) images over the wall time."""
    from tfbetavae.metrics import beta_vae_score

    num_train, num_eval = cfg["metric_train"], cfg["metric_eval"]
    seconds = timed(
        lambda: beta_vae_score(
            model, data, num_train=num_train, num_eval=num_eval, batch_size=BATCH_SIZE, seed=0, progress=False
        )
    )
    return 2 * BATCH_SIZE * (num_train + num_eval) / seconds


def bench_metric(cfg: dict, model) -> dict:
    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.metrics import beta_vae_score
    from tfbetavae.metrics._sampling import CHUNK_IMAGES

    data = ProceduralDSprites()
    beta_vae_score(model, data, num_train=2, num_eval=1, batch_size=BATCH_SIZE, seed=0, progress=False)  # warm-up
    bare = bare_encoders(cfg, model, (BATCH_SIZE, CHUNK_IMAGES))
    metric_rates, bare_rates = [], {size: [] for size in bare}
    for _ in range(cfg["metric_rounds"]):  # metric and bare encoder back to back in every round
        metric_rates.append(metric_rate(cfg, model, data))
        for _ in range(max(1, cfg["encode_rounds"] // cfg["metric_rounds"])):
            for size, function in bare.items():
                bare_rates[size].append(function())
    result = {
        "num_train": cfg["metric_train"],
        "num_eval": cfg["metric_eval"],
        "batch_size": BATCH_SIZE,
        "encoded_images": 2 * BATCH_SIZE * (cfg["metric_train"] + cfg["metric_eval"]),
        "beta_vae_score": summary(metric_rates),
        "bare_encoder_batch_64": summary(bare_rates[BATCH_SIZE]),
        f"bare_encoder_batch_{CHUNK_IMAGES}": summary(bare_rates[CHUNK_IMAGES]),
        "metric_encode_call_size": CHUNK_IMAGES,
    }
    rate = result["beta_vae_score"]["images_per_s"]
    result["ratio_vs_bare_encoder"] = rate / result["bare_encoder_batch_64"]["images_per_s"]
    result[f"ratio_vs_bare_encoder_batch_{CHUNK_IMAGES}"] = (
        rate / result[f"bare_encoder_batch_{CHUNK_IMAGES}"]["images_per_s"]
    )
    return result


def run(context) -> dict:
    context.log(f"metric evaluation, load {load()}")
    return {"metric": bench_metric(context.cfg, context.trained_model())}
