"""LiteRT export: model.tflite beside the SavedModel, built-in ops only, run by the ai-edge-litert interpreter (a dev
dependency), equal to the SavedModel within 1e-5 at batches 1, 7 and 256, for a user's 28x28x1 input shape."""

from __future__ import annotations

import argparse
import json
import os
import stat

import numpy as np
import pytest
import tensorflow as tf

from tfbetavae.cli import export_command
from tfbetavae.export import export_saved_model
from tfbetavae.litert import INPUT_CHECKS, TFLITE_FILE, write_tflite
from tfbetavae.model import BetaVAE

litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert is a dev dependency (pip install -e .[dev])")

SHAPE = (28, 28, 1)
LATENT = 4
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = BetaVAE(latent_dim=LATENT, input_shape=SHAPE, seed=3)
    return export_saved_model(model, tmp_path_factory.mktemp("litert") / "betavae", tflite=True)


@pytest.fixture(scope="module")
def runners(exported):
    interpreter = litert.Interpreter(model_path=str(exported / TFLITE_FILE))
    return {name: interpreter.get_signature_runner(name) for name in ("encode", "decode", "reconstruct")}, interpreter


def test_tflite_sits_in_the_version_folder_readable_with_built_in_ops_only(exported, runners):
    _, interpreter = runners
    assert interpreter.get_signature_list() == {
        "encode": {"inputs": ["images"], "outputs": ["log_variance", "mean"]},
        "decode": {"inputs": ["z"], "outputs": ["probabilities"]},
        "reconstruct": {"inputs": ["images"], "outputs": ["reconstruction"]},
    }
    ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert ops and not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    assert stat.S_IMODE((exported / TFLITE_FILE).stat().st_mode) == 0o666 & ~_umask()
    card = json.loads((exported / "model_card.json").read_text())
    assert card["files"]["tflite"] == TFLITE_FILE
    assert card["tflite"]["input_checks"] == INPUT_CHECKS
    assert any("NaN" in line for line in card["tflite"]["input_checks"]["dropped"])
    assert set(card["tflite"]["signatures"]) == {"encode", "decode", "reconstruct"}


@pytest.mark.parametrize("batch", [1, 7, 256])
def test_every_signature_matches_the_saved_model(exported, runners, batch):
    runner, _ = runners
    signatures = tf.saved_model.load(str(exported)).signatures
    rng = np.random.default_rng(batch)
    images = rng.random((batch, *SHAPE), dtype=np.float32)
    z = rng.standard_normal((batch, LATENT), dtype=np.float32)
    pairs = {
        "encode": (runner["encode"](images=images), signatures["encode"](images=tf.constant(images))),
        "decode": (runner["decode"](z=z), signatures["decode"](z=tf.constant(z))),
        "reconstruct": (runner["reconstruct"](images=images), signatures["reconstruct"](images=tf.constant(images))),
    }
    for name, (lite, saved) in pairs.items():
        for key, value in lite.items():
            assert value.shape == tuple(saved[key].shape), f"{name}/{key}"
            error = float(np.max(np.abs(value - saved[key].numpy())))
            assert error <= TOLERANCE, f"{name}/{key} at batch {batch} is off by {error}"
    assert set(pairs["encode"][0]) == {"mean", "log_variance"}  # deterministic: no posterior sample


def test_what_the_card_says_the_interpreter_still_refuses(runners):
    runner, _ = runners
    good = np.full((2, *SHAPE), 0.5, np.float32)
    with pytest.raises(ValueError, match="FLOAT64"):
        runner["encode"](images=good.astype(np.float64))
    with pytest.raises(RuntimeError):
        runner["encode"](images=np.zeros((2, 28, 28, 3), np.float32))
    assert runner["encode"](images=good)["mean"].shape == (2, LATENT)  # the interpreter stays usable
    # Dropped, as the card says: NaN goes through; an empty batch is not refused by name. The interpreter
    # either fails or answers empty (both seen on the same file in different runs), and stays usable.
    assert np.isnan(runner["decode"](z=np.full((1, LATENT), np.nan, np.float32))["probabilities"]).all()
    try:
        empty = runner["encode"](images=good[:0])
    except RuntimeError:
        pass
    else:
        assert empty["mean"].shape == (0, LATENT)
    assert runner["encode"](images=good)["mean"].shape == (2, LATENT)


def test_write_tflite_alone_and_the_cli_flag(tmp_path, capsys):
    model = BetaVAE(latent_dim=2, input_shape=(16, 16, 1), seed=0)
    folder = tmp_path / "folder"
    folder.mkdir()
    assert write_tflite(model, folder) == folder / TFLITE_FILE
    assert [p.name for p in folder.iterdir()] == [TFLITE_FILE]  # atomic: no partial file left beside it
    with pytest.raises(TypeError, match="BetaVAE"):
        write_tflite(object(), tmp_path / "x.tflite")

    model.save(tmp_path / "small.keras")
    parser = argparse.ArgumentParser(prog="tfbetavae")
    export_command.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", "--model", str(tmp_path / "small.keras"), "--base-dir", str(tmp_path), "--tflite"])
    assert args.run(args) == 0
    path = tmp_path / "betavae" / "1"
    assert capsys.readouterr().out.strip() == str(path)
    runner = litert.Interpreter(model_path=str(path / TFLITE_FILE)).get_signature_runner("decode")
    assert runner(z=np.zeros((3, 2), np.float32))["probabilities"].shape == (3, 16, 16, 1)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
