"""SavedModel export of a trained BetaVAE, in TensorFlow Serving's ``BASE/VERSION/`` layout.

``export_saved_model(model)`` writes ``exported_models/betavae/<next version>/`` holding

* the SavedModel (``saved_model.pb``, ``variables/``, ``assets/``) with four signatures that take and return
  plain tensors — ``encode`` (also ``serving_default``), ``decode``, ``reconstruct`` and ``sample``;
* ``model.keras``: the Keras model, to fine-tune (``keras.models.load_model`` after ``import tfbetavae.model``);
* ``model_card.json``: settings, training information, scores, input checks and library versions;
* with ``tflite=True``, ``model.tflite`` for LiteRT (see ``tfbetavae.litert``).

Every signature checks its inputs' shape and values before any op that could fail on them (a wrong rank used
to abort the process inside oneDNN), and answers an empty batch with empty outputs.

A version is written into a hidden temporary folder beside it and renamed into place once complete, so
neither a crash nor a server polling the base folder ever sees a half-written version.

Open an export with ``tfbetavae.load(path)`` (a version folder, or a base folder for its highest version);
``tf.saved_model.load`` and TensorFlow Serving read it with TensorFlow alone. ``load_exported`` and
``ExportedBetaVAE`` are deprecated.

The parts: ``signatures`` (the serving functions), ``card`` (the model card), ``publishing`` (the atomic
version folder).
"""


from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfbetavae.export.card import (  # noqa: F401
    _check_card_inputs,
    _json_ready,
    _model_card,
    _portable,
    _versions,
    _write_model_card,
)
from tfbetavae.export.publishing import _fsync_dir, _fsync_tree, _move, _publish  # noqa: F401
from tfbetavae.export.signatures import (  # noqa: F401
    _MAX_SAMPLE_VALUES,
    _PRIOR_SEED_SALT,
    DEFAULT_BASE_DIR,
    KERAS_FILE,
    MODEL_CARD_FORMAT,
    _batch_safe,
    _check_shape,
    _serving_functions,
    _shape_text,
    _signature_table,
    max_sample_num,
    posterior_noise,
    prior_codes,
)
from tfbetavae.loading import MODEL_CARD_FILE, SIGNATURES, SavedModelVAE, check_version, latest_version

__all__ = [
    "DEFAULT_BASE_DIR",
    "KERAS_FILE",
    "MODEL_CARD_FILE",
    "SIGNATURES",
    "ExportedBetaVAE",
    "export_saved_model",
    "latest_version",
    "load_exported",
    "max_sample_num",
    "posterior_noise",
    "prior_codes",
]


def _verify(folder: Path, model) -> None:
    """Loads the written SavedModel and checks it reproduces the in-memory model on a probe batch."""
    loaded = tf.saved_model.load(os.fspath(folder))
    functions = _serving_functions(model)
    rng = np.random.default_rng(0)
    probe = {
        "encode": {"images": tf.constant(rng.random((2, *model.image_shape), dtype=np.float32))},
        "decode": {"z": tf.constant(rng.standard_normal((2, model.latent_dim), dtype=np.float32))},
        "sample": {"num": tf.constant(2), "seed": tf.constant(0)},
    }
    for name, inputs in probe.items():
        written = loaded.signatures[name](**inputs)
        # Traced like the export: under bfloat16/float16 compute, eager kernels round differently from graph ones.
        expected = tf.function(functions[name][0])(*inputs.values())
        for key, value in expected.items():
            error = float(np.max(np.abs(written[key].numpy() - value.numpy())))
            if not error <= 1e-5:
                raise RuntimeError(f"the SavedModel in {folder} does not reproduce the model: {name}/{key} is off by {error}")


# --------------------------------------------------------------------------- export


def export_saved_model(
    model,
    base_dir=DEFAULT_BASE_DIR,
    version: int | None = None,
    overwrite: bool = False,
    scores: Mapping | None = None,
    training_info: Mapping | None = None,
    tflite: bool = False,
    scoring: Mapping | None = None,
) -> Path:
    """Writes ``base_dir/VERSION/`` (SavedModel + ``model.keras`` + ``model_card.json``) and returns its path.

    Args:
        model: a built ``BetaVAE``.
        base_dir: the model's base folder (TensorFlow Serving's ``--model_base_path``).
        version: positive integer; default: one more than the largest numeric version there (1 when none).
        overwrite: replace an existing version (the old one is removed only after the new one is complete).
        scores: optional mapping of metric name -> value, copied into the model card.
        training_info: optional mapping (e.g. the training run's config with ``"data"`` and ``"steps"``).
        tflite: also write ``model.tflite`` (LiteRT, built-in ops only: see ``tfbetavae.litert``) and its card section.
        scoring: how ``scores`` were made, ``{"protocol", "metric_sizes", "seed"}`` (see
            ``tfbetavae.metrics.scoring_record``); the card keeps it beside them as ``scoring``.

    Raises:
        TypeError: ``model`` is not a BetaVAE, or scores/training_info are not JSON-writable mappings.
        ValueError: the model is not built, or ``version`` is not a positive integer.
        FileExistsError: the version exists and ``overwrite`` is False.
    """
    import keras  # noqa: PLC0415 - exporting needs Keras and the model code; loading does not

    from tfbetavae.model import BetaVAE  # noqa: PLC0415

    if not isinstance(model, BetaVAE):
        raise TypeError(f"model must be a tfbetavae BetaVAE, got {type(model).__name__}")
    if not model.built:
        raise ValueError("model is not built; build it (BetaVAE builds itself in __init__) before exporting")
    _check_card_inputs(scores, training_info)
    if scoring is not None and not isinstance(scoring, Mapping):
        raise TypeError(f"scoring must be a mapping (protocol, metric_sizes, seed), got {type(scoring).__name__}")
    _json_ready(scoring, "scoring")
    base = Path(base_dir)
    if base.exists() and not base.is_dir():
        raise NotADirectoryError(f"base_dir {base} exists and is not a folder")
    if version is None:
        version = (latest_version(base) or 0) + 1
    version = check_version(version)
    final = base / str(version)
    if final.exists() and not overwrite:
        raise FileExistsError(
            f"{final} already exists; pass overwrite=True to replace it, or version=None to write "
            f"version {(latest_version(base) or 0) + 1}"
        )
    base.mkdir(parents=True, exist_ok=True)

    # mkdir, not tempfile.mkdtemp: the folder is renamed into place, so it must get the umask's usual mode
    # (0755), not mkdtemp's 0700, or a server running as another user cannot read the version.
    staging = base / f".tmp-{version}-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        functions = {
            name: archive.add_endpoint(name, function, input_signature=signature)
            for name, (function, signature) in _serving_functions(model).items()
        }
        archive.write_out(os.fspath(staging), verbose=False)
        model.save(staging / KERAS_FILE)
        card = _model_card(model, version, _signature_table(functions), scores, training_info, scoring)
        card["input_checks"] = {  # what a client can rely on the graph to refuse (docs/export-serving.md)
            "signatures": "wrong rank or shape, NaN or infinite values, images outside [0, 1], num < 0 or > "
            "sample_max_num: InvalidArgumentError naming the problem; wrong dtype: refused by the signature; "
            "an empty batch gives empty outputs",
            "sample_max_num": max_sample_num(model.image_shape),
        }
        if tflite:
            from tfbetavae.litert import TFLITE_FILE, tflite_card, write_tflite  # noqa: PLC0415

            write_tflite(model, staging / TFLITE_FILE)
            card["tflite"] = _json_ready(tflite_card(model))
            card["files"]["tflite"] = TFLITE_FILE
        _write_model_card(staging, card)
        _verify(staging, model)
        _fsync_tree(staging)
        _publish(staging, final, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_dir(base)
    return final


# --------------------------------------------------------------------------- deprecated


class ExportedBetaVAE(SavedModelVAE):
    """Deprecated: the old interface of ``load_exported`` (dicts of NumPy out). Use ``tfbetavae.load``."""

    def __init__(self, path=DEFAULT_BASE_DIR) -> None:
        warnings.warn(
            "load_exported and ExportedBetaVAE are deprecated; use tfbetavae.load (encode returns the mean, "
            "the raw signatures are at .signatures)", DeprecationWarning, stacklevel=3,
        )
        super().__init__(path)

    @property
    def model_card(self) -> dict:
        return self.card or {}

    def encode(self, images) -> dict:
        return self._run("encode", images=self._checked_images(images))

    def decode(self, z) -> dict:
        return {self._image_key: super().decode(z)}

    def reconstruct(self, images) -> dict:
        return {"reconstruction": super().reconstruct(images)}

    def sample(self, num: int, seed: int = 0) -> dict:
        return {"images": super().sample(num, seed)}


def load_exported(path=DEFAULT_BASE_DIR) -> ExportedBetaVAE:
    """Deprecated alias of ``tfbetavae.load`` that keeps the old dict-returning methods."""
    return ExportedBetaVAE(path)
