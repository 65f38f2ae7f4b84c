"""Section ``data``: the training pipeline over the procedural renderer and over a real-layout npz, against what
training consumes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from .config import BATCH_SIZE, QUICK
from .measure import load, summary, timed


def write_real_layout_npz(folder: Path, sizes=(1, 3, 6, 8, 8, 8)) -> Path:
    """A dSprites-layout npz (imgs uint8 [N, 64, 64], latents_classes [N, 6], latents_values) on a reduced grid.

    Rows are in dSprites order (row = classes in mixed radix); images are the procedural sprites of those classes.
    """
    import itertools

    from tfbetavae.data import ProceduralDSprites

    classes = np.array(list(itertools.product(*[range(s) for s in sizes])), dtype=np.int64)
    images = ProceduralDSprites().sample_observations_from_factors(classes[:, 1:], np.random.default_rng(0))
    path = folder / "dsprites_real_layout.npz"
    np.savez(path, imgs=images[..., 0].astype(np.uint8), latents_classes=classes, latents_values=classes / 2.0)
    return path


def pipeline_rate(dataset, batches: int, rounds: int) -> list[float]:
    iterator = iter(dataset)
    for _ in range(3):
        next(iterator)
    rates = []
    for _ in range(rounds):
        count = 0

        def pull():
            nonlocal count
            count += int(next(iterator).shape[0])

        seconds = timed(pull, batches)
        rates.append(count / seconds)
    return rates


def bench_data(cfg: dict, consumption: float | None) -> dict:
    from tfbetavae.data import ProceduralDSprites, load_dsprites_npz, training_dataset

    result = {}
    with tempfile.TemporaryDirectory() as folder:
        npz = write_real_layout_npz(Path(folder), (1, 3, 2, 4, 4, 4) if cfg is QUICK else (1, 3, 6, 8, 8, 8))
        arrays = load_dsprites_npz(npz)
        sources = {"procedural": ProceduralDSprites(), "npz": arrays}
        rates = {name: [] for name in sources}
        datasets = {name: training_dataset(source, BATCH_SIZE, seed=0) for name, source in sources.items()}
        for _ in range(cfg["data_rounds"]):
            for name, dataset in datasets.items():
                rates[name] += pipeline_rate(dataset, cfg["data_batches"], 1)
        for name in sources:
            result[name] = summary(rates[name])
        result["npz"]["images_in_file"] = len(arrays)
    if consumption:
        result["training_consumption_images_per_s"] = consumption
        for name in sources:
            result[f"{name}_vs_training"] = result[name]["images_per_s"] / consumption
    return result


def run(context) -> dict:
    context.log(f"data pipeline, load {load()}")
    consumption = context.results.get("training", {}).get("tf_function", {}).get("images_per_s")
    return {"data": bench_data(context.cfg, consumption)}
