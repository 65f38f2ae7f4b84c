"""Serving that survives real clients: every bad request to a fresh export is refused with a message naming the
problem and the process lives on (oneDNN on, the default); exports are readable by other users; a loaded
SavedModel answers many threads at once exactly as it answers one call."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfbetavae.export import export_saved_model, max_sample_num
from tfbetavae.model import BetaVAE

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (16, 16, 1)
LATENT = 3
VECTOR = 5


def _env():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)  # oneDNN on, TensorFlow's default: the setting that used to abort
    return env


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    old = os.umask(0o022)  # the usual umask, whatever this process was started with (see the mode test)
    try:
        images = export_saved_model(BetaVAE(latent_dim=LATENT, input_shape=SHAPE, seed=1), root / "images")
        vectors = export_saved_model(BetaVAE(latent_dim=LATENT, input_shape=(VECTOR,), likelihood="gaussian", seed=2),
                                     root / "vectors")
    finally:
        os.umask(old)
    return {"images": images, "vectors": vectors}


# --------------------------------------------------------------------------- bad requests, in a fresh process
BAD_REQUESTS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    images_path, vectors_path, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    signatures = {"images": tf.saved_model.load(images_path).signatures,
                  "vectors": tf.saved_model.load(vectors_path).signatures}
    for case in cases:
        inputs = {key: eval(expr, {"tf": tf, "np": np}) for key, expr in case["inputs"].items()}
        try:
            outputs = signatures[case["model"]][case["signature"]](**inputs)
            result = {"shapes": {key: list(value.shape) for key, value in outputs.items()}}
        except Exception as error:  # noqa: BLE001 - the test reads the type and message
            result = {"error": type(error).__name__, "message": str(error)}
        print(json.dumps({"case": case["name"], **result}), flush=True)
    print("DONE", flush=True)
    """
)


def _shape_error(name: str, ours: str, traced: str) -> str:
    """The graph's own message, or EnsureShape's where Grappler folded the rank to the traced one."""
    return rf"{name} must have shape \[{ours}\], got shape|Shape of tensor {name} \[.*\] is not compatible with " \
        rf"expected shape \[{traced}\]"


_SHAPE_ERROR = _shape_error("images", "batch, 16, 16, 1", r"\?,16,16,1")
_Z_ERROR = _shape_error("z", "batch, 3", r"\?,3")
_SCALAR = "tf.constant(0)"
# name: (model, signature, inputs, message the error must contain)
BAD = {
    "rank 2": ("images", "encode", {"images": "tf.zeros([2, 16])"}, _SHAPE_ERROR),
    "rank 3, one image without its batch axis": ("images", "encode", {"images": "tf.zeros([16, 16, 1])"}, _SHAPE_ERROR),
    "rank 3, channel axis missing": ("images", "reconstruct", {"images": "tf.zeros([2, 16, 16])"}, _SHAPE_ERROR),
    "rank 3 to reconstruct": ("images", "reconstruct", {"images": "tf.zeros([16, 16, 1])"}, _SHAPE_ERROR),
    "rank 5": ("images", "encode", {"images": "tf.zeros([2, 1, 16, 16, 1])"}, _SHAPE_ERROR),
    "rank 5, extra axis at the end": ("images", "encode", {"images": "tf.zeros([2, 16, 16, 1, 1])"}, _SHAPE_ERROR),
    "wrong height": ("images", "encode", {"images": "tf.zeros([2, 17, 16, 1])"}, _SHAPE_ERROR),
    "wrong width": ("images", "reconstruct", {"images": "tf.zeros([2, 16, 15, 1])"}, _SHAPE_ERROR),
    "wrong channels": ("images", "encode", {"images": "tf.zeros([2, 16, 16, 3])"}, _SHAPE_ERROR),
    "NaN": ("images", "encode", {"images": "tf.fill([2, 16, 16, 1], float('nan'))"}, "NaN or infinite"),
    "infinite": ("images", "reconstruct", {"images": "tf.fill([1, 16, 16, 1], float('inf'))"}, "NaN or infinite"),
    "above 1": ("images", "encode", {"images": "tf.fill([2, 16, 16, 1], 2.0)"}, r"must lie in \[0, 1\]"),
    "below 0": ("images", "reconstruct", {"images": "tf.fill([2, 16, 16, 1], -0.5)"}, r"must lie in \[0, 1\]"),
    "float64 images": ("images", "encode", {"images": "tf.zeros([2, 16, 16, 1], tf.float64)"},
                       "expected to be a float tensor but is a double tensor"),
    "uint8 images": ("images", "encode", {"images": "tf.zeros([2, 16, 16, 1], tf.uint8)"},
                     "expected to be a float tensor but is a uint8 tensor"),
    "z of rank 1": ("images", "decode", {"z": "tf.zeros([3])"}, _Z_ERROR),
    "z of rank 3": ("images", "decode", {"z": "tf.zeros([2, 1, 3])"}, _Z_ERROR),
    "z too long": ("images", "decode", {"z": "tf.zeros([2, 4])"}, _Z_ERROR),
    "z NaN": ("images", "decode", {"z": "tf.fill([1, 3], float('nan'))"}, "z contains NaN"),
    "z int32": ("images", "decode", {"z": "tf.zeros([1, 3], tf.int32)"}, "expected to be a float tensor but is a int32"),
    "negative num": ("images", "sample", {"num": "tf.constant(-1)", "seed": _SCALAR}, "num must be >= 0"),
    "huge num": ("images", "sample", {"num": "tf.constant(2**30)", "seed": _SCALAR},
                 f"num must be <= {max_sample_num(SHAPE)}"),
    "fractional num": ("images", "sample", {"num": "2.5", "seed": "0"}, "Cannot convert 2.5 to EagerTensor of dtype int32"),
    "float num tensor": ("images", "sample", {"num": "tf.constant(2.5)", "seed": _SCALAR},
                         "expected to be a int32 tensor but is a float tensor"),
    "num of rank 1": ("images", "sample", {"num": "tf.constant([2])", "seed": _SCALAR}, _shape_error("num", "", "")),
    "seed of rank 1": ("images", "sample", {"num": "tf.constant(2)", "seed": "tf.constant([1, 2])"},
                       _shape_error("seed", "", "")),
    "vectors of rank 3": ("vectors", "encode", {"images": "tf.zeros([2, 5, 1])"}, _shape_error("images", "batch, 5", r"\?,5")),
    "vectors of the wrong size": ("vectors", "reconstruct", {"images": "tf.zeros([2, 6])"},
                                  _shape_error("images", "batch, 5", r"\?,5")),
    "vector NaN": ("vectors", "encode", {"images": "tf.fill([1, 5], float('nan'))"}, "NaN or infinite"),
}
# Empty batches answer with empty outputs of the right shape.
EMPTY = {
    "empty encode": ("images", "encode", {"images": "tf.zeros([0, 16, 16, 1])"},
                     {"mean": [0, 3], "log_variance": [0, 3], "sample": [0, 3]}),
    "empty reconstruct": ("images", "reconstruct", {"images": "tf.zeros([0, 16, 16, 1])"}, {"reconstruction": [0, 16, 16, 1]}),
    "empty decode": ("images", "decode", {"z": "tf.zeros([0, 3])"}, {"probabilities": [0, 16, 16, 1]}),
    "sample of 0": ("images", "sample", {"num": "tf.constant(0)", "seed": _SCALAR}, {"images": [0, 16, 16, 1]}),
    "empty vectors": ("vectors", "encode", {"images": "tf.zeros([0, 5])"},
                      {"mean": [0, 3], "log_variance": [0, 3], "sample": [0, 3]}),
    # After every bad request, good ones still work: the process and the loaded model are intact.
    "good encode after the bad ones": ("images", "encode", {"images": "tf.fill([2, 16, 16, 1], 0.5)"},
                                       {"mean": [2, 3], "log_variance": [2, 3], "sample": [2, 3]}),
    "good sample at the largest num": ("images", "sample", {"num": f"tf.constant({max_sample_num(SHAPE)})", "seed": _SCALAR},
                                       {"images": [max_sample_num(SHAPE), 16, 16, 1]}),
    "good vectors": ("vectors", "reconstruct", {"images": "tf.fill([3, 5], 7.0)"}, {"reconstruction": [3, 5]}),
}


def test_every_bad_request_is_refused_by_name_and_the_process_survives(exports):
    cases = [
        {"name": name, "model": model, "signature": signature, "inputs": inputs}
        for name, (model, signature, inputs, _) in {**BAD, **EMPTY}.items()
    ]
    result = subprocess.run(
        [sys.executable, "-c", BAD_REQUESTS, str(exports["images"]), str(exports["vectors"]), json.dumps(cases)],
        capture_output=True, text=True, env=_env(), timeout=600,
    )
    assert result.returncode == 0, f"the serving process died ({result.returncode}): {result.stderr[-2000:]}"
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "DONE"
    answers = {answer["case"]: answer for answer in map(json.loads, lines[:-1])}
    assert set(answers) == set(BAD) | set(EMPTY)
    for name, (*_, message) in BAD.items():
        answer = answers[name]
        assert "error" in answer, f"{name}: accepted, gave {answer}"
        assert answer["error"] in ("InvalidArgumentError", "TypeError"), f"{name}: {answer['error']}"
        assert re.search(message, answer["message"]), (
            f"{name}: the error does not name the problem: {answer['message'][:600]}"
        )
    for name, (*_, shapes) in EMPTY.items():
        assert answers[name].get("shapes") == shapes, f"{name}: {answers[name]}"


# --------------------------------------------------------------------------- readable exports
def test_the_card_tells_clients_what_the_graph_refuses(exports):
    card = json.loads((exports["images"] / "model_card.json").read_text())
    assert card["input_checks"]["sample_max_num"] == max_sample_num(SHAPE) == 2**26 // 256
    assert "empty batch gives empty outputs" in card["input_checks"]["signatures"]
    assert "tflite" not in card and "tflite" not in card["files"]  # only when asked for


def test_a_fresh_export_is_readable_by_other_users(exports):
    path = exports["images"]  # exported under umask 022
    entries = [path.parent, path, *path.rglob("*")]
    assert len(entries) > 6
    for entry in entries:
        mode = stat.S_IMODE(entry.stat().st_mode)
        assert mode == (0o755 if entry.is_dir() else 0o644), f"{entry} has mode {oct(mode)}"


# --------------------------------------------------------------------------- model cards
def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_shipped_model_cards_hold_no_absolute_paths():
    cards = sorted(ROOT.glob("exported_models/*/*/model_card.json"))
    assert len(cards) >= 2
    for card in cards:
        text = json.loads(card.read_text())
        absolute = [s for s in _strings(text) if os.path.isabs(s) or re.match(r"^[A-Za-z]:[\\/]", s) or "/work/" in s]
        assert absolute == [], f"{card}: {absolute}"
        if card.parent.name == "1":  # later versions may come from other studies; these two came from this one
            assert text["training"]["study"] == "studies/paper"


# --------------------------------------------------------------------------- load test
def _requests(rng) -> list:
    """(signature, inputs, good?) mixing every endpoint's good requests with bad ones."""
    images = rng.random((3, *SHAPE), dtype=np.float32)
    return [
        ("encode", {"images": images}, True),
        ("reconstruct", {"images": images[:1]}, True),
        ("decode", {"z": rng.standard_normal((4, LATENT), dtype=np.float32)}, True),
        ("sample", {"num": np.int32(2), "seed": np.int32(rng.integers(100))}, True),
        ("encode", {"images": images[:0]}, True),
        ("encode", {"images": images[0]}, False),  # rank 3: used to abort the process
        ("reconstruct", {"images": images[:, :, :15]}, False),
        ("encode", {"images": images * 3.0}, False),
        ("decode", {"z": np.full((1, LATENT), np.nan, np.float32)}, False),
        ("sample", {"num": np.int32(-2), "seed": np.int32(0)}, False),
    ]


def test_many_threads_mixing_good_and_bad_requests(exports):
    threads, per_thread = 4, 15
    signatures = tf.saved_model.load(str(exports["images"])).signatures
    plans = [[_requests(np.random.default_rng([t, i]))[(t + i) % 10] for i in range(per_thread)] for t in range(threads)]

    def call(signature, inputs):
        return {k: v.numpy() for k, v in signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()}).items()}

    expected = [[call(name, inputs) if good else None for name, inputs, good in plan] for plan in plans]
    answers = [[None] * per_thread for _ in range(threads)]
    start = threading.Barrier(threads)

    def client(t):
        start.wait()
        for i, (name, inputs, _) in enumerate(plans[t]):
            try:
                answers[t][i] = call(name, inputs)
            except tf.errors.InvalidArgumentError as error:
                answers[t][i] = error

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not any(worker.is_alive() for worker in workers)
    refused = served = 0
    for t in range(threads):
        for i, (name, _, good) in enumerate(plans[t]):
            answer = answers[t][i]
            if not good:
                assert isinstance(answer, tf.errors.InvalidArgumentError), f"bad {name} request accepted"
                refused += 1
                continue
            assert isinstance(answer, dict), f"good {name} request refused: {answer}"
            for key, value in expected[t][i].items():
                np.testing.assert_array_equal(answer[key], value, err_msg=f"{name}/{key}")
            served += 1
    assert refused >= 20 and served >= 30
