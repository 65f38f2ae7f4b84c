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
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf

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

DEFAULT_BASE_DIR = "exported_models/betavae"
KERAS_FILE = "model.keras"
MODEL_CARD_FORMAT = 1
# Second half of the stateless seed of the `sample` signature: (seed, _PRIOR_SEED_SALT).
_PRIOR_SEED_SALT = 20170101
_INT32 = np.iinfo(np.int32)
_MAX_SAMPLE_VALUES = 2**26  # float32 values one `sample` call may return


# --------------------------------------------------------------------------- the graph code
def posterior_noise(images, latent_dim: int):
    """ε ~ N(0, I) of shape [B, latent_dim] used by the ``encode`` signature's ``sample`` output.

    Each row is drawn with ``tf.random.stateless_normal`` from a seed that is the 64-bit fingerprint of that
    image's float32 bytes. The noise is therefore a pure function of the image: the same image gives the same
    sample in every call, process and batch (whatever else is in the batch, e.g. under server-side batching),
    and different images get independent noise.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    seeds = tf.bitcast(tf.reshape(tf.fingerprint(images), [-1, 2, 4]), tf.int32)  # [B, 2]
    return tf.map_fn(
        lambda seed: tf.random.stateless_normal([latent_dim], seed=seed),
        seeds,
        fn_output_signature=tf.TensorSpec([latent_dim], tf.float32),
    )


def prior_codes(num, seed, latent_dim: int):
    """Codes z ~ N(0, I) of shape [num, latent_dim] used by the ``sample`` signature (stateless, seeded)."""
    seed = tf.stack([tf.cast(seed, tf.int32), tf.constant(_PRIOR_SEED_SALT, tf.int32)])
    return tf.random.stateless_normal(tf.stack([tf.cast(num, tf.int32), latent_dim]), seed=seed)


def _shape_text(shape) -> str:
    return "[" + ", ".join("batch" if d is None else str(d) for d in shape) + "]"


def _check_shape(tensor, name: str, shape) -> tf.Tensor:
    """``tensor`` once its runtime shape equals ``shape`` (None: any size); else InvalidArgumentError naming both.

    A signature's TensorSpec is not enforced on callers of the restored function, and with oneDNN on a
    convolution fed a tensor of the wrong rank aborts the process: every later op depends on this check.
    Grappler may fold the rank to the traced one, so EnsureShape (a kernel that reads the real shape) backs the
    assertion; the assertion gives the clearer message where it runs.
    """
    expected = tf.constant([-1 if d is None else d for d in shape], tf.int32)
    actual = tf.raw_ops.Shape(input=tensor, out_type=tf.int32)
    # Padded/cut to len(shape) so the comparison itself works for any rank (no branch: Grappler folds them).
    padded = tf.concat([actual, tf.fill([len(shape)], -2)], 0)[: len(shape)]
    same = tf.logical_and(
        tf.equal(tf.raw_ops.Size(input=actual, out_type=tf.int32), len(shape)),
        tf.reduce_all(tf.equal(padded, expected) | tf.less(expected, 0)),
    )
    check = tf.debugging.Assert(same, [f"{name} must have shape {_shape_text(shape)}, got shape", actual], summarize=8)
    with tf.control_dependencies([check]):
        return tf.ensure_shape(tensor, shape)


def _batch_safe(inputs, compute, filler_shape):
    """``compute(inputs)``, except that an empty batch gives empty outputs: oneDNN's Conv2D fails on zero rows,
    so an empty batch runs on one row of zeros whose result is then dropped."""
    count = tf.shape(inputs)[0]
    safe = tf.cond(count > 0, lambda: inputs, lambda: tf.zeros([1, *filler_shape], inputs.dtype))
    return tf.nest.map_structure(lambda output: output[:count], compute(safe))


def max_sample_num(input_shape) -> int:
    """Largest ``num`` the ``sample`` signature accepts: 2**26 output values (256 MB of float32) per call."""
    return max(1, _MAX_SAMPLE_VALUES // math.prod(input_shape))


def _serving_functions(model) -> dict:
    """name -> (python function, input signature) for every exported signature.

    Each function checks its inputs (rank, shape, finiteness, range, ``num``'s bounds) before any op that
    could crash on them; dtypes are enforced by the signature itself.
    """
    input_shape = tuple(model.image_shape)  # (H, W, C) for images, (D,) for vectors
    latent_dim = model.latent_dim
    image_key = "probabilities" if model.likelihood_name == "bernoulli" else "mean"
    largest = max_sample_num(input_shape)

    def checked_images(images):
        images = _check_shape(images, "images", (None, *input_shape))
        images = tf.debugging.assert_all_finite(images, "images contain NaN or infinite values")
        if len(input_shape) == 3:  # images lie in [0, 1]; vectors may take any finite value
            checks = [
                tf.debugging.assert_greater_equal(images, 0.0, message="images must lie in [0, 1]"),
                tf.debugging.assert_less_equal(images, 1.0, message="images must lie in [0, 1]"),
            ]
            with tf.control_dependencies(checks):
                images = tf.identity(images)
        return images

    def checked_scalar(value, name, low, high):
        value = _check_shape(value, name, ())
        checks = [
            tf.debugging.assert_greater_equal(value, low, message=f"{name} must be >= {low}"),
            tf.debugging.assert_less_equal(value, high, message=f"{name} must be <= {high}"),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(value)

    def decoded(z):
        return _batch_safe(z, model.mean_output, (latent_dim,))

    def encode(images):
        def moments_and_sample(batch):
            mean, log_variance = model.posterior_moments(batch)
            sample = mean + tf.exp(0.5 * log_variance) * posterior_noise(batch, latent_dim)
            return {"mean": mean, "log_variance": log_variance, "sample": sample}

        return _batch_safe(checked_images(images), moments_and_sample, input_shape)

    def decode(z):
        z = _check_shape(z, "z", (None, latent_dim))
        z = tf.debugging.assert_all_finite(z, "z contains NaN or infinite values")
        return {image_key: decoded(z)}

    def reconstruct(images):
        def reconstruction(batch):
            return model.mean_output(model.posterior_moments(batch)[0])

        return {"reconstruction": _batch_safe(checked_images(images), reconstruction, input_shape)}

    def sample(num, seed):
        # The checks run before the sampler, or a negative num fails there with TF's own message.
        num = checked_scalar(num, "num", 0, largest)
        seed = _check_shape(seed, "seed", ())
        return {"images": decoded(prior_codes(num, seed, latent_dim))}

    image_spec = tf.TensorSpec([None, *input_shape], tf.float32, name="images")
    return {
        # First endpoint: Keras also publishes it as "serving_default".
        "encode": (encode, [image_spec]),
        "decode": (decode, [tf.TensorSpec([None, latent_dim], tf.float32, name="z")]),
        "reconstruct": (reconstruct, [image_spec]),
        "sample": (sample, [tf.TensorSpec([], tf.int32, name="num"), tf.TensorSpec([], tf.int32, name="seed")]),
    }


# --------------------------------------------------------------------------- folders
def _fsync_tree(root: Path) -> None:
    """Flushes every file and folder under ``root`` to disk, so the rename publishes complete data."""
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # platforms that cannot open folders (Windows)
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _move(source: Path, target: Path) -> None:
    """Atomic rename of a folder; fails when ``target`` exists and is not empty (POSIX)."""
    os.rename(source, target)


def _publish(staging: Path, final: Path, overwrite: bool) -> None:
    """Renames the complete ``staging`` folder to ``final``; an old ``final`` goes only once that worked."""
    if not final.exists():
        try:
            _move(staging, final)
        except OSError as error:
            if final.exists():  # another export took this version in the meantime
                raise FileExistsError(f"{final} appeared while exporting; nothing was overwritten") from error
            raise
        return
    if not overwrite:
        raise FileExistsError(f"{final} already exists; pass overwrite=True to replace it")
    backup = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
    _move(final, backup)
    try:
        _move(staging, final)
    except BaseException:
        _move(backup, final)  # put the old version back
        raise
    shutil.rmtree(backup, ignore_errors=True)


# --------------------------------------------------------------------------- model card
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


def _signature_table(functions: Mapping) -> dict:
    """name -> {"inputs": {name: {shape, dtype}}, "outputs": {...}} from the traced functions."""

    def describe(spec):
        return {"shape": [None if d is None else int(d) for d in spec.shape.as_list()], "dtype": spec.dtype.name}

    table = {}
    for name, function in functions.items():
        concrete = function.get_concrete_function()
        inputs = {spec.name: describe(spec) for spec in concrete.structured_input_signature[0]}
        outputs = {key: describe(tf.TensorSpec.from_tensor(t)) for key, t in concrete.structured_outputs.items()}
        table[name] = {"inputs": inputs, "outputs": outputs}
    table["serving_default"] = {"same_as": "encode"}
    return table


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
