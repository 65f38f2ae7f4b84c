"""One way to open a trained model, wherever it lies: ``tfbetavae.load(path)``.

``path`` may be a ``.keras`` file, a training run folder (its ``model.keras``; for an unfinished run its
``checkpoints/last.keras``, with a warning), a SavedModel version folder (``saved_model.pb``) or a SavedModel
base folder (its highest numeric version, or ``version=``). Whatever it opens speaks one small protocol
(``VAEModel``): ``encode``, ``decode``, ``reconstruct``, ``kl_per_dimension``, ``latent_dim``, ``image_shape``
and ``card``. A ``BetaVAE`` (and every ``tfbetavae.objectives`` model) speaks it itself; a SavedModel is
wrapped in ``SavedModelVAE``. Metrics, pictures, export and the commands all open models here, so they
accept the same paths and fail with the same one-line errors (see docs/models.md).

At top level this module imports only the standard library, NumPy and TensorFlow: opening a SavedModel needs no
other part of the package, no Keras model code and no TensorFlow Probability. Run folders take their layout
from ``tfbetavae.runs`` when they are opened. ``.keras`` files and run folders import the model
code when they are opened.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

__all__ = [
    "MODEL_CARD_FILE",
    "SIGNATURES",
    "Location",
    "ModelLoadError",
    "SavedModelVAE",
    "VAEModel",
    "as_model",
    "check_version",
    "closed_form_kl",
    "latest_version",
    "load",
    "locate",
    "numeric_versions",
]

SIGNATURES = ("encode", "decode", "reconstruct", "sample")
MODEL_CARD_FILE = "model_card.json"
EXPECTED = "a .keras file, a training run folder, or a SavedModel version or base folder"
_METHODS = ("encode", "decode", "reconstruct", "kl_per_dimension")
_ATTRIBUTES = ("latent_dim", "image_shape", "card")
_INT32 = np.iinfo(np.int32)

logger = logging.getLogger("tfbetavae.loading")


class ModelLoadError(ValueError):
    """A path that exists but holds no model this library can open; the message names the path and why."""


@runtime_checkable
class VAEModel(Protocol):
    """What every opened model offers; NumPy arrays or tensors in, array-likes out."""

    latent_dim: int
    image_shape: tuple[int, int, int]
    card: dict | None  # the model card of an export, else None

    def encode(self, images, return_log_variance: bool = False): ...  # mean [n, d] (, log-variance [n, d])

    def decode(self, codes): ...  # mean image [n, H, W, C]

    def reconstruct(self, images): ...  # decode(encode(images))

    def kl_per_dimension(self, images) -> np.ndarray: ...  # average KL of each dimension [d]


# --------------------------------------------------------------------------- where a path points
@dataclass(frozen=True)
class Location:
    """What ``load`` would open: ``kind`` is "keras", "run", "checkpoint" (an unfinished run) or "saved_model";
    ``path`` the file or version folder read; ``given`` the path as passed."""

    kind: str
    path: Path
    given: Path


def check_version(version: Any) -> int:
    """``version`` as a positive int (an export folder's number), or an error naming it."""
    # Imported here: at top level this module needs no other tfbetavae module (a SavedModel opens without them).
    from tfbetavae.checks import positive_int  # noqa: PLC0415

    return positive_int(version, "version")


def numeric_versions(base: Path) -> list[int]:
    """Versions TensorFlow Serving would see: sub-folders whose name is a decimal integer."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(
        int(entry.name) for entry in base.iterdir() if entry.is_dir() and entry.name.isascii() and entry.name.isdigit()
    )


def latest_version(base_dir) -> int | None:
    """Largest numeric version folder under ``base_dir`` (None when there is none)."""
    versions = numeric_versions(Path(base_dir))
    return versions[-1] if versions else None


def _unknown_version(base: Path, version: int, versions: list[int]) -> ModelLoadError:
    listed = ", ".join(map(str, versions)) or "none"
    return ModelLoadError(f"{base}: no version {version} in this SavedModel base folder (versions here: {listed})")


def locate(path: str | os.PathLike, version: int | None = None) -> Location:
    """Where ``load(path, version)`` would read from, with its errors, without opening anything."""
    if isinstance(path, (bytes, bytearray)) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"expected a path to a model ({EXPECTED}), got {type(path).__name__}")
    given = Path(path)
    version = None if version is None else check_version(version)
    if not given.exists():
        versions = numeric_versions(given.parent)
        if given.name.isdigit() and versions and version is None:
            raise _unknown_version(given.parent, int(given.name), versions)
        raise FileNotFoundError(f"model not found: {given} does not exist (expected {EXPECTED})")
    if version is not None and not (given.is_dir() and numeric_versions(given)):
        raise ModelLoadError(f"{given}: version={version} needs a SavedModel base folder (numeric version folders)")
    if given.is_file():
        if given.suffix != ".keras":
            raise ModelLoadError(f"{given}: not a model file (expected {EXPECTED})")
        return Location("keras", given, given)
    if (given / "saved_model.pb").is_file():
        return Location("saved_model", given, given)
    versions = numeric_versions(given)
    if versions:
        if version is not None and version not in versions:
            raise _unknown_version(given, version, versions)
        return Location("saved_model", given / str(version or versions[-1]), given)
    from tfbetavae.runs import RUN_CHECKPOINT, RUN_MODEL  # noqa: PLC0415 - a SavedModel opens without the package

    config = run_config(given)
    if (given / RUN_MODEL).is_file():
        return Location("run", given / RUN_MODEL, given)
    if (given / RUN_CHECKPOINT).is_file():
        return Location("checkpoint", given / RUN_CHECKPOINT, given)
    if config is not None or (given / RUN_CHECKPOINT.parent).is_dir():
        raise ModelLoadError(
            f"{given}: an unfinished training run with no checkpoint yet (expected {RUN_MODEL} or {RUN_CHECKPOINT})"
        )
    interrupted = any(entry.name.startswith(".tmp-") for entry in given.iterdir())
    hint = "; only an interrupted export's hidden .tmp-* folder" if interrupted else ""
    raise ModelLoadError(
        f"{given}: no model in this folder{hint} (expected model.keras, saved_model.pb or numeric version folders)"
    )


def run_config(folder: Path) -> dict | None:
    """A run folder's ``config.json`` (None when there is none), refused when corrupt or of another run format:
    ``tfbetavae.runs.read_run_config`` in its strict mode, its error a ``ModelLoadError``."""
    from tfbetavae.runs import RUN_CONFIG, read_run_config  # noqa: PLC0415 - a SavedModel opens without the package

    if not (Path(folder) / RUN_CONFIG).is_file():
        return None
    try:
        return read_run_config(folder, strict=True)
    except ValueError as error:
        raise ModelLoadError(str(error)) from None


def load_model(path: str | os.PathLike) -> VAEModel:
    """Deprecated alias of ``load``, which opens SavedModel exports too (see docs/models.md)."""
    import warnings  # noqa: PLC0415

    warnings.warn("tfbetavae.load_model is deprecated; use tfbetavae.load", DeprecationWarning, stacklevel=2)
    return load(path)


# --------------------------------------------------------------------------- opening
def load(path: str | os.PathLike, version: int | None = None, custom_objects: dict | None = None) -> VAEModel:
    """The model at ``path`` (see the module docstring), speaking the ``VAEModel`` protocol.

    ``custom_objects`` (name -> class or function) passes through to Keras for a ``.keras`` file whose networks
    or likelihood are user classes that are not registered. Raises FileNotFoundError for a missing path, ``ModelLoadError`` (a ValueError) for anything else that is
    not an openable model — each a one-line message naming the path and what was expected.
    """
    location = locate(path, version)
    if location.kind == "saved_model":
        return SavedModelVAE(location.path)
    model = _load_keras(location.path, custom_objects)
    if location.kind == "checkpoint":
        from tfbetavae.runs import RUN_CHECKPOINT, RUN_MODEL  # noqa: PLC0415

        config = run_config(location.given) or {}
        logger.warning(
            "%s is an unfinished training run (no %s): opening its last checkpoint %s, step %s of %s",
            location.given, RUN_MODEL, RUN_CHECKPOINT, _step(model), config.get("steps", "?"),
        )
    return model


def as_model(model_or_path: Any) -> VAEModel:
    """``model_or_path`` itself when it speaks the protocol, ``load(it)`` when it is a path; else a TypeError."""
    if isinstance(model_or_path, (str, os.PathLike)):
        return load(model_or_path)
    missing = _missing_members(model_or_path)
    if missing:
        raise TypeError(
            f"expected a tfbetavae model or a path to one; {type(model_or_path).__name__} lacks {', '.join(missing)}"
        )
    return model_or_path


def _missing_members(model: Any) -> list[str]:
    missing = [name for name in _METHODS if not callable(getattr(model, name, None))]
    missing += [name for name in _ATTRIBUTES if not hasattr(model, name)]
    latent_dim = getattr(model, "latent_dim", None)
    if "latent_dim" not in missing and (isinstance(latent_dim, bool) or not isinstance(latent_dim, (int, np.integer))):
        missing.append("an integer latent_dim")
    return missing


def _one_line(error: Any, limit: int = 200) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _step(model) -> str:
    counter = getattr(model, "step_counter", None)
    return "?" if counter is None else str(int(counter.numpy()))


def _keras_class(path: Path) -> tuple[str, bool]:
    """(class name, whether Keras can find that class here) from the archive's config.json."""
    import keras  # noqa: PLC0415

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        registered, module = config.get("registered_name"), str(config.get("module") or "")
        known = registered is None or module.startswith("keras") or keras.saving.get_registered_object(registered)
        return str(config["class_name"]), bool(known)
    except Exception as error:  # noqa: BLE001 - zip, CRC, JSON and key errors all mean the same here
        raise ModelLoadError(
            f"{path}: not a valid .keras file (corrupt or truncated: unreadable config.json, {_one_line(error, 80)})"
        ) from None


def _load_keras(path: Path, custom_objects: dict | None = None) -> VAEModel:
    """A ``.keras`` file, refused with one message per way it can be wrong. Keras' safe_mode stays on."""
    import keras  # noqa: PLC0415 - only .keras files need Keras and the model code

    import tfbetavae.objectives  # noqa: F401, PLC0415 - registers BetaVAE, BetaTCVAE and FactorVAE

    if not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path}: not a valid .keras file (corrupt or truncated: not a zip archive)")
    class_name, known = _keras_class(path)
    expected = "expected a tfbetavae BetaVAE or another model with encode, decode, kl_per_dimension"
    if not known:
        raise ModelLoadError(f"{path}: a Keras model of unknown class {class_name}, not a tfbetavae VAE ({expected})")
    try:
        model = keras.models.load_model(path, custom_objects=custom_objects, safe_mode=True)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for damaged archives
        unknown = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
        if unknown:
            raise ModelLoadError(
                f"{path}: the model uses {unknown.group(1)}, which is not registered here: import the module that "
                "defines it (decorated with @keras.saving.register_keras_serializable()) or pass "
                f"custom_objects={{{unknown.group(1)!r}: {unknown.group(1)}}}"
            ) from None
        raise ModelLoadError(f"{path}: not a valid .keras file (corrupt or truncated: {_one_line(error)})") from None
    if _missing_members(model):
        raise ModelLoadError(f"{path}: a Keras {class_name} model, not a tfbetavae VAE ({expected})")
    return model


# --------------------------------------------------------------------------- SavedModels
def closed_form_kl(mean, log_variance) -> np.ndarray:
    """Average over the batch of KL(N(mean, exp(log_variance)) ‖ N(0, 1)) for each dimension: [d]."""
    mean = np.asarray(mean, np.float64)
    log_variance = np.asarray(log_variance, np.float64)
    kl = 0.5 * (mean**2 + np.exp(log_variance) - log_variance - 1.0)
    return np.mean(kl, axis=0).astype(np.float32)


def _check_saved_model_files(folder: Path) -> None:
    """Names the missing file of an altered export before TensorFlow fails with a long message."""
    variables = folder / "variables"
    if not (variables / "variables.index").is_file():
        raise ModelLoadError(f"{folder}: variables/variables.index is missing (an incomplete or altered SavedModel)")
    shards = [re.fullmatch(r"variables\.data-(\d+)-of-(\d+)", p.name) for p in variables.iterdir()]
    counts = {int(match.group(2)) for match in shards if match}
    for count in counts or {1}:
        for index in range(count):
            name = f"variables.data-{index:05d}-of-{count:05d}"
            if not (variables / name).is_file():
                raise ModelLoadError(f"{folder}: variables/{name} is missing (an incomplete or altered SavedModel)")


class SavedModelVAE:
    """A SavedModel written by ``tfbetavae export``, speaking the ``VAEModel`` protocol with NumPy in and out.

    Inputs are checked before they reach the graph (images: [n, H, W, C] float in [0, 1] or uint8; codes:
    [n, latent_dim], finite). ``kl_per_dimension`` is the closed form ½(μ² + σ² − log σ² − 1) averaged over the
    images, as ``BetaVAE`` computes it. Also: ``path`` (the version folder), ``version`` (None when the folder
    name is not numeric), ``likelihood``, ``signatures`` (the raw ones) and ``sample(num, seed)``.
    """

    def __init__(self, path: str | os.PathLike, version: int | None = None) -> None:
        location = locate(path, version)
        if location.kind != "saved_model":
            raise ModelLoadError(f"{path}: not a SavedModel folder (expected saved_model.pb or numeric version folders)")
        self.path = location.path
        self.version = int(self.path.name) if self.path.name.isdigit() else None
        _check_saved_model_files(self.path)
        try:
            self._loaded = tf.saved_model.load(os.fspath(self.path))  # keep it alive: signatures need its variables
        except Exception as error:  # noqa: BLE001 - corrupt protobuf, unreadable variables, ...
            raise ModelLoadError(f"{self.path}: cannot read the SavedModel (corrupt or altered: {_one_line(error)})") from None
        self.signatures = self._loaded.signatures
        missing = [name for name in SIGNATURES if name not in self.signatures]
        if missing:
            raise ModelLoadError(
                f"{self.path}: a SavedModel without the signatures {missing} (expected a tfbetavae export with "
                f"{', '.join(SIGNATURES)})"
            )
        self.image_shape = tuple(int(d) for d in self._input_spec("encode", "images").shape[1:])
        self.latent_dim = int(self._input_spec("decode", "z").shape[1])
        outputs = self.signatures["decode"].structured_outputs
        self._image_key = "probabilities" if "probabilities" in outputs else "mean"
        self.likelihood = "bernoulli" if self._image_key == "probabilities" else "gaussian"
        self.card = self._read_card()

    def _input_spec(self, signature: str, name: str) -> tf.TensorSpec:
        inputs = self.signatures[signature].structured_input_signature[1]
        if name not in inputs:
            raise ModelLoadError(
                f"{self.path}: signature {signature!r} takes {sorted(inputs)}, expected {name!r} (not a tfbetavae export)"
            )
        return inputs[name]

    def _read_card(self) -> dict | None:
        path = self.path / MODEL_CARD_FILE
        if not path.exists():
            return None
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"{path}: the model card is not valid JSON ({_one_line(error, 80)})") from None
        if not isinstance(card, dict):
            raise ModelLoadError(f"{path}: the model card must be a JSON object, got {type(card).__name__}")
        described = card.get("model") if isinstance(card.get("model"), dict) else {}
        for key, actual in (("latent_dim", self.latent_dim), ("input_shape", list(self.image_shape))):
            if key in described and described[key] != actual:
                raise ModelLoadError(
                    f"{path}: the model card says {key} {described[key]} but the SavedModel has {actual} (altered files?)"
                )
        return card

    def __repr__(self) -> str:
        return (
            f"SavedModelVAE(path={os.fspath(self.path)!r}, latent_dim={self.latent_dim}, "
            f"image_shape={self.image_shape}, likelihood={self.likelihood!r})"
        )

    # ----------------------------------------------------------------- input checks
    @staticmethod
    def _numeric(array: np.ndarray, name: str) -> np.ndarray:
        if array.dtype == bool:
            return array.astype(np.float32)
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise ValueError(f"{name} must be a numeric array, got dtype {array.dtype}")
        return array

    def _checked_images(self, images) -> tf.Tensor:
        array = self._numeric(np.asarray(images), "images")
        if array.ndim != 1 + len(self.image_shape) or tuple(array.shape[1:]) != self.image_shape:
            hint = " (one image? pass images[None])" if tuple(array.shape) == self.image_shape else ""
            raise ValueError(f"images must have shape {(None, *self.image_shape)}, got {array.shape}{hint}")
        if array.shape[0] == 0:
            raise ValueError("images is an empty batch: pass at least one image")
        if array.dtype == np.uint8:
            return tf.constant(array.astype(np.float32) / 255.0)
        array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ValueError("images contain NaN or infinite values")
        if len(self.image_shape) == 3 and (array.min() < 0.0 or array.max() > 1.0):  # vectors: any finite value
            raise ValueError(f"images must lie in [0, 1] (or be uint8), got values in [{array.min():g}, {array.max():g}]")
        return tf.constant(array)

    def _checked_codes(self, z) -> tf.Tensor:
        array = self._numeric(np.asarray(z), "z")
        if array.ndim != 2 or array.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (None, {self.latent_dim}), got {array.shape}")
        if array.shape[0] == 0:
            raise ValueError("z is an empty batch: pass at least one code")
        array = array.astype(np.float32)
        if not np.all(np.isfinite(array)):
            raise ValueError("z contains NaN or infinite values")
        return tf.constant(array)

    @staticmethod
    def _checked_int(value, name: str, low: int, high: int) -> tf.Tensor:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        return tf.constant(int(value), tf.int32)

    def _run(self, signature: str, **inputs) -> dict[str, np.ndarray]:
        return {key: value.numpy() for key, value in self.signatures[signature](**inputs).items()}

    # ----------------------------------------------------------------- the protocol
    def encode(self, images, return_log_variance: bool = False):
        """Posterior mean [n, latent_dim] (and log-variance when asked), float32."""
        outputs = self._run("encode", images=self._checked_images(images))
        return (outputs["mean"], outputs["log_variance"]) if return_log_variance else outputs["mean"]

    def decode(self, codes) -> np.ndarray:
        """Mean image [n, H, W, C] (pixel probabilities for Bernoulli) for a batch of codes."""
        return self._run("decode", z=self._checked_codes(codes))[self._image_key]

    def reconstruct(self, images) -> np.ndarray:
        """The image decoded from the posterior mean: [n, H, W, C]."""
        return self._run("reconstruct", images=self._checked_images(images))["reconstruction"]

    def kl_per_dimension(self, images) -> np.ndarray:
        """Average KL of each latent dimension over ``images``: which dimensions are in use."""
        return closed_form_kl(*self.encode(images, return_log_variance=True))

    def sample(self, num: int, seed: int = 0) -> np.ndarray:
        """[num, H, W, C] decoded from prior codes; the same seed gives the same images."""
        num = self._checked_int(num, "num", 1, int(_INT32.max))
        seed = self._checked_int(seed, "seed", int(_INT32.min), int(_INT32.max))
        return self._run("sample", num=num, seed=seed)["images"]
