"""LiteRT (TFLite) export: ``model.tflite`` with TFLite built-in ops only, for on-device encoding and decoding.

``export_saved_model(model, ..., tflite=True)`` (or ``tfbetavae export --tflite``) writes it into the version
folder beside the SavedModel; ``write_tflite(model, path)`` writes it anywhere. Its signatures:

* ``encode``: ``images`` -> ``mean``, ``log_variance`` (deterministic: no posterior sample);
* ``decode``: ``z`` -> ``probabilities`` (``mean`` for a Gaussian-family likelihood);
* ``reconstruct``: ``images`` -> ``reconstruction``.

There is no ``sample`` signature and no posterior sample: the SavedModel draws them with ``tf.fingerprint`` and
``tf.random.stateless_normal``, which are not TFLite built-ins (with SELECT_TF_OPS the model converts, but no pip
package has an interpreter that runs it). On device, draw ε ~ N(0, I) yourself: a sample is
``mean + exp(log_variance / 2) * ε``, and ``decode`` of N(0, I) codes samples the prior.

The converter drops the SavedModel's ``tf.debugging`` assertions, so the ``.tflite`` graph checks less than the
SavedModel (``INPUT_CHECKS`` says what; the model card repeats it).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import tensorflow as tf

from tfbetavae.runs import atomic_write_bytes

__all__ = ["INPUT_CHECKS", "TFLITE_FILE", "convert_tflite", "tflite_card", "write_tflite"]

TFLITE_FILE = "model.tflite"
# What the interpreter still refuses, and what only the SavedModel checks (measured in tests/test_litert.py).
INPUT_CHECKS = {
    "kept": [
        "dtype: the interpreter refuses any input dtype but float32 (ValueError naming both types)",
    ],
    "dropped": [
        "rank and shape: the interpreter resizes its input to whatever it is given; some wrong shapes fail in a "
        "kernel's preparation (RuntimeError; the interpreter stays usable), others may be answered wrongly (a 16x16 "
        "model read an image [H, W, C] without its batch axis as H rows, and let [B, H, W, C, 1] pass) — check the shape "
        "against the card's model.input_shape before calling",
        "NaN or infinite values are not refused (the outputs are NaN)",
        "images outside [0, 1] are not refused (the outputs are the network's values for them)",
        "an empty batch is not refused by name: the interpreter either fails (RuntimeError) or answers with empty "
        "outputs — both were seen on the same file in different runs — so do not send one",
    ],
}


def _functions(model) -> dict:
    """name -> (function, input signature) over the model, without the ops TFLite lacks (fingerprint, random)."""
    input_shape = tuple(model.image_shape)
    image_key = "probabilities" if model.likelihood_name == "bernoulli" else "mean"
    image_spec = tf.TensorSpec([None, *input_shape], tf.float32, name="images")

    def encode(images):
        mean, log_variance = model.posterior_moments(images)
        return {"mean": mean, "log_variance": log_variance}

    def decode(z):
        return {image_key: model.mean_output(z)}

    def reconstruct(images):
        return {"reconstruction": model.mean_output(model.posterior_moments(images)[0])}

    return {
        "encode": (encode, [image_spec]),
        "decode": (decode, [tf.TensorSpec([None, model.latent_dim], tf.float32, name="z")]),
        "reconstruct": (reconstruct, [image_spec]),
    }


def convert_tflite(model) -> bytes:
    """The ``.tflite`` flatbuffer of ``model`` (a built BetaVAE), TFLite built-in ops only.

    Raises:
        TypeError: ``model`` is not a BetaVAE.
        ValueError: the model needs an op that is not a TFLite built-in (the converter's message follows).
    """
    from tfbetavae.model import BetaVAE  # noqa: PLC0415 - the model code is needed only to convert

    if not isinstance(model, BetaVAE):
        raise TypeError(f"model must be a tfbetavae BetaVAE, got {type(model).__name__}")
    import keras  # noqa: PLC0415

    functions = _functions(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (function, signature) in functions.items():
        archive.add_endpoint(name, function, input_signature=signature)
    # Through a SavedModel: the converter's way to keep several named signatures with a dynamic batch.
    with tempfile.TemporaryDirectory(prefix="tfbetavae-tflite-") as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=list(functions))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        try:
            return converter.convert()
        except Exception as error:  # noqa: BLE001 - the converter raises ConverterError and others
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"the model does not convert to TFLite built-in ops: {first}") from None


def write_tflite(model, path) -> Path:
    """Writes ``convert_tflite(model)`` to ``path`` (a file, or a folder that gets ``model.tflite``) atomically.

    The file gets the umask's usual mode (0644), readable by a server running as another user.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TFLITE_FILE
    return atomic_write_bytes(convert_tflite(model), path)


def tflite_card(model) -> dict:
    """The model card's ``tflite`` section: file, signatures, ops and which input checks the graph keeps."""
    image_key = "probabilities" if model.likelihood_name == "bernoulli" else "mean"
    return {
        "file": TFLITE_FILE,
        "ops": "TFLite built-ins only",
        "signatures": {
            "encode": {"inputs": ["images"], "outputs": ["mean", "log_variance"]},
            "decode": {"inputs": ["z"], "outputs": [image_key]},
            "reconstruct": {"inputs": ["images"], "outputs": ["reconstruction"]},
        },
        "not_included": "sample and encode's posterior sample: draw the noise yourself (see tfbetavae.litert)",
        "input_checks": INPUT_CHECKS,
    }
