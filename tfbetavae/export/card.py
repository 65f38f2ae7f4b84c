"""The model card (``model_card.json``): settings, training information, scores with how they were made, the
signatures and their input checks, and library versions."""

from __future__ import annotations

import datetime
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbetavae.export.signatures import KERAS_FILE, MODEL_CARD_FORMAT
from tfbetavae.loading import MODEL_CARD_FILE


def _json_ready(value, where: str = "model card"):
    """Plain JSON types from NumPy scalars/arrays, paths, tuples and nested mappings; a clear error otherwise."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist(), where)
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(str(value))  # float32(0.1) -> 0.1, not 0.10000000149011612
    if isinstance(value, np.generic):
        return _json_ready(value.item(), where)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the information readable
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{where} holds {type(value).__name__} {value!r}, which cannot be written as JSON")


def _versions() -> dict:
    import keras  # noqa: PLC0415 - only exporting needs Keras
    import tensorflow_probability as tfp  # noqa: PLC0415

    import tfbetavae  # noqa: PLC0415

    return {
        "tfbetavae": tfbetavae.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_probability": tfp.__version__,
        "numpy": np.__version__,
    }


def _check_card_inputs(scores, training_info) -> None:
    """Fails before anything is written when scores/training_info cannot go into the model card."""
    if scores is not None and not isinstance(scores, Mapping):
        raise TypeError(f"scores must be a mapping of name -> value, got {type(scores).__name__}")
    if training_info is not None and not isinstance(training_info, Mapping):
        raise TypeError(f"training_info must be a mapping, got {type(training_info).__name__}")
    _json_ready(scores, "scores")
    _json_ready(training_info, "training_info")


def _portable(value):
    """``value`` with every absolute path cut to its last part: a card travels to other machines, and the folder
    layout of the one that trained the model is nobody else's business (``/home/me/runs/b4`` → ``b4``)."""
    if isinstance(value, Mapping):
        return {k: _portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return os.path.basename(os.path.normpath(value)) or value
    return value


def _model_card(model, version: int, signatures: dict, scores, training_info, scoring=None) -> dict:
    from tfbetavae.objectives import objective_name  # noqa: PLC0415 - exporting needs the model code; loading does not

    training = _portable(dict(training_info or {}))
    card = {
        "format": "tfbetavae-export",
        "format_version": MODEL_CARD_FORMAT,
        "version": version,
        "exported_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": {
            "class": type(model).__name__,
            "name": model.name,
            "latent_dim": model.latent_dim,
            "input_shape": list(model.image_shape),
            "likelihood": model.likelihood_name,
            "objective": objective_name(model),  # as tfbetavae.objectives.OBJECTIVES names it
            "beta": model.beta,
            "capacity": model.capacity,
            "capacity_steps": model.capacity_steps,
            "gamma": model.gamma,
            "observation_scale": model.observation_scale,
            "dtype_policy": model.dtype_policy.name,  # compute precision of the graph; signatures are float32
            "config": model.get_config(),
        },
        "step_counter": int(model.step_counter.numpy()),
        "training": {"data": training.get("data"), "steps": training.get("steps"), **training},
        "scores": None if scores is None else dict(scores),
        # How the scores were made (protocol, metric sizes, seed): None when the exporter was not told.
        "scoring": None if scores is None or scoring is None else dict(scoring),
        "signatures": signatures,
        "files": {"saved_model": "saved_model.pb", "keras": KERAS_FILE, "model_card": MODEL_CARD_FILE},
        "versions": _versions(),
    }
    return _json_ready(card)


def _write_model_card(folder: Path, card: dict) -> None:
    with open(folder / MODEL_CARD_FILE, "w", encoding="utf-8") as handle:
        json.dump(card, handle, indent=2, sort_keys=False)
        handle.write("\n")
