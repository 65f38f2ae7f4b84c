"""SavedModel export: signatures, fresh-process loading, saved_model_cli, docs, atomic versions, CLI, errors."""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfbetavae.export as export_module
from tfbetavae.cli import export_command
from tfbetavae.export import export_saved_model, posterior_noise, prior_codes
from tfbetavae.loading import SavedModelVAE, load
from tfbetavae.model import BetaVAE
from tfbetavae.training import RUN_FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXPORT_DOCS = ROOT / "docs" / "export-serving.md"


def _export_docs() -> str:
    """The export docs page (before it existed: the README's export section): its examples are tested here."""
    if EXPORT_DOCS.exists():
        return EXPORT_DOCS.read_text()
    text = README.read_text()
    start = text.index("## Export for serving")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


LOADING_SOURCE = ROOT / "tfbetavae" / "loading.py"
SAVED_MODEL_CLI = Path(sys.executable).with_name("saved_model_cli")
LATENT = 10  # the docs' REST example sends a 10-dimensional code
SHAPE = (32, 32, 1)
TOLERANCE = 1e-5


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def _small_model(**kwargs):
    return BetaVAE(latent_dim=2, input_shape=(16, 16, 1), seed=1, **kwargs)


def _hidden(base: Path):
    return sorted(p.name for p in base.iterdir() if p.name.startswith("."))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def model():
    vae = BetaVAE(latent_dim=LATENT, input_shape=SHAPE, beta=6.0, seed=7)
    vae.step_counter.assign(123)
    return vae


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("exports") / "betavae"
    path = export_saved_model(
        model,
        base,
        scores={"mig": np.float32(0.25), "reconstruction": 41.5},
        training_info={"data": "dsprites", "steps": 123, "batch_size": 64},
    )
    return path


@pytest.fixture(scope="module")
def served(exported):
    return load(exported)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, *SHAPE)).astype(np.float32)


def _expected(model, images, codes, num, seed):
    """What each signature must return, computed from the in-memory model."""
    mean, log_variance = model.encode(images, return_log_variance=True)
    sample = mean + tf.exp(0.5 * log_variance) * posterior_noise(images, LATENT)
    return {
        "encode": {"mean": mean, "log_variance": log_variance, "sample": sample},
        "decode": {"probabilities": model.decode(codes)},
        "reconstruct": {"reconstruction": model.reconstruct(images)},
        "sample": {"images": model.decode(prior_codes(num, seed, LATENT))},
    }


# --------------------------------------------------------------------------- fresh process, no tfbetavae
FRESH_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    import numpy as np
    import tensorflow as tf

    keras_after_tf = {m for m in sys.modules if m == "keras" or m.startswith("keras.")}
    path, inputs_file, outputs_file, loading_source = sys.argv[1:5]
    inputs = np.load(inputs_file)
    loaded = tf.saved_model.load(path)
    sig = loaded.signatures
    out = {}
    for key, value in sig["encode"](images=tf.constant(inputs["images"])).items():
        out["encode/" + key] = value.numpy()
    for key, value in sig["serving_default"](images=tf.constant(inputs["images"])).items():
        out["serving_default/" + key] = value.numpy()
    out["decode/probabilities"] = sig["decode"](z=tf.constant(inputs["codes"]))["probabilities"].numpy()
    out["reconstruct/reconstruction"] = sig["reconstruct"](images=tf.constant(inputs["images"]))["reconstruction"].numpy()
    for repeat in range(2):
        out[f"sample/images/{repeat}"] = sig["sample"](num=tf.constant(4), seed=tf.constant(3))["images"].numpy()
    out["sample/other_seed"] = sig["sample"](num=tf.constant(4), seed=tf.constant(4))["images"].numpy()

    modules = {
        "keras_after_import_tensorflow": len(keras_after_tf),
        "keras_added_by_loading": sorted(
            {m for m in sys.modules if m == "keras" or m.startswith("keras.")} - keras_after_tf),
        "tfbetavae": sorted(m for m in sys.modules if m.startswith("tfbetavae")),
        "tensorflow_probability": "tensorflow_probability" in sys.modules,
    }

    # tfbetavae.load opens a SavedModel with TensorFlow alone: load loading.py as a file, tfbetavae blocked.
    sys.modules["tfbetavae"] = None
    spec = importlib.util.spec_from_file_location("standalone_loading", loading_source)
    standalone = sys.modules["standalone_loading"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standalone)
    served = standalone.load(path)
    out["load/mean"], out["load/log_variance"] = served.encode(inputs["images"], return_log_variance=True)
    modules["tensorflow_probability_after_load"] = "tensorflow_probability" in sys.modules
    np.savez(outputs_file, **out)
    print(json.dumps(modules))
    """
)


def test_fresh_process_without_tfbetavae_reproduces_every_signature(model, exported, images, tmp_path):
    codes = np.random.default_rng(1).standard_normal((3, LATENT)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", images=images, codes=codes)
    result = subprocess.run(
        [sys.executable, "-c", FRESH_SCRIPT, str(exported), str(tmp_path / "inputs.npz"), str(tmp_path / "out.npz"),
         str(LOADING_SOURCE)],
        capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    # TensorFlow 2.21 itself imports Keras (`import tensorflow` pulls in ~500 keras modules); loading the
    # SavedModel adds none, and neither tfbetavae nor TensorFlow Probability is ever imported.
    assert modules["keras_added_by_loading"] == []
    assert modules["tfbetavae"] == []
    assert not modules["tensorflow_probability"] and not modules["tensorflow_probability_after_load"]

    got = dict(np.load(tmp_path / "out.npz"))
    expected = _expected(model, images, codes, num=4, seed=3)
    for name, outputs in expected.items():
        for key, value in outputs.items():
            actual = got[f"{name}/{key}"] if name != "sample" else got["sample/images/0"]
            np.testing.assert_allclose(actual, np.asarray(value), atol=TOLERANCE, err_msg=f"{name}/{key}")
    for key in ("mean", "log_variance", "sample"):
        np.testing.assert_array_equal(got[f"serving_default/{key}"], got[f"encode/{key}"])
    for key in ("mean", "log_variance"):
        np.testing.assert_array_equal(got[f"load/{key}"], got[f"encode/{key}"])
    np.testing.assert_array_equal(got["sample/images/0"], got["sample/images/1"])  # a seed is reproducible
    assert np.abs(got["sample/images/0"] - got["sample/other_seed"]).max() > 1e-4
    assert got["sample/images/0"].shape == (4, *SHAPE)


def test_encode_sample_is_a_function_of_each_image(served, images):
    noise = posterior_noise(images, LATENT).numpy()
    np.testing.assert_array_equal(posterior_noise(images[[3, 1]], LATENT).numpy(), noise[[3, 1]])
    np.testing.assert_array_equal(posterior_noise(images[[0, 0]], LATENT).numpy(), noise[[0, 0]])
    assert np.abs(noise[0] - noise[1]).max() > 1e-3  # different images, independent noise
    def sample(batch):
        return served.signatures["encode"](images=tf.constant(batch))["sample"].numpy()

    full = sample(images)
    np.testing.assert_array_equal(sample(images), full)
    # Same rows in another batch: the same noise (the encoder's float rounding may differ by an ulp).
    np.testing.assert_allclose(sample(images[[3, 1]]), full[[3, 1]], atol=TOLERANCE)
    assert posterior_noise(images[:0], LATENT).shape == (0, LATENT)


# --------------------------------------------------------------------------- saved_model_cli
def _cli(*args, cwd):
    result = subprocess.run(
        [str(SAVED_MODEL_CLI), *args], capture_output=True, text=True, env=_env(), cwd=cwd, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _signature_blocks(show_output: str) -> dict:
    blocks = {}
    for match in re.finditer(r"signature_def\['(\w+)'\]:(.*?)Method name is", show_output, re.S):
        name, body = match.groups()
        inputs_part, _, outputs_part = body.partition("output(s):")
        pattern = r"\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\))"
        blocks[name] = {"inputs": re.findall(pattern, inputs_part), "outputs": re.findall(pattern, outputs_part)}
    return blocks


def test_saved_model_cli_show_and_run(model, exported, images, tmp_path):
    blocks = _signature_blocks(_cli("show", "--dir", str(exported), "--all", cwd=tmp_path))
    images_in = [("images", "DT_FLOAT", "(-1, 32, 32, 1)")]
    codes = ("DT_FLOAT", f"(-1, {LATENT})")
    assert blocks["encode"] == {
        "inputs": images_in,
        "outputs": [("log_variance", *codes), ("mean", *codes), ("sample", *codes)],
    }
    assert blocks["serving_default"] == blocks["encode"]
    assert blocks["decode"] == {
        "inputs": [("z", "DT_FLOAT", f"(-1, {LATENT})")],
        "outputs": [("probabilities", "DT_FLOAT", "(-1, 32, 32, 1)")],
    }
    assert blocks["reconstruct"] == {"inputs": images_in, "outputs": [("reconstruction", "DT_FLOAT", "(-1, 32, 32, 1)")]}
    assert blocks["sample"] == {
        "inputs": [("num", "DT_INT32", "()"), ("seed", "DT_INT32", "()")],
        "outputs": [("images", "DT_FLOAT", "(-1, 32, 32, 1)")],
    }

    np.save(tmp_path / "images.npy", images)
    out_dir = tmp_path / "cli_out"
    _cli(
        "run", "--dir", str(exported), "--tag_set", "serve", "--signature_def", "encode",
        "--inputs", "images=images.npy", "--outdir", str(out_dir), cwd=tmp_path,
    )
    mean, log_variance = model.encode(images, return_log_variance=True)
    np.testing.assert_allclose(np.load(out_dir / "mean.npy"), mean.numpy(), atol=TOLERANCE)
    np.testing.assert_allclose(np.load(out_dir / "log_variance.npy"), log_variance.numpy(), atol=TOLERANCE)


# --------------------------------------------------------------------------- docs and serving formats
def _docs_table() -> dict:
    table = {}
    for line in _export_docs().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            name = re.findall(r"`(\w+)`", cells[0])[0]
            table[name] = {
                "inputs": re.findall(r"`(\w+)` (\w+)", cells[1]),
                "outputs": re.findall(r"`(\w+)`", cells[2]),
                "aliases": re.findall(r"`(\w+)`", cells[0])[1:],
            }
    return table


def test_docs_signature_table_matches_the_export(served):
    table = _docs_table()
    assert set(table) == {"encode", "decode", "reconstruct", "sample"}
    assert table["encode"]["aliases"] == ["serving_default"]
    for name, documented in table.items():
        signature = served.signatures[name]
        inputs = signature.structured_input_signature[1]
        assert dict(documented["inputs"]) == {key: spec.dtype.name for key, spec in inputs.items()}, name
        outputs = set(signature.structured_outputs)
        assert outputs <= set(documented["outputs"]), name
        assert documented["outputs"][0] in outputs, name  # the first name is this (Bernoulli) model's


def test_docs_rest_request_feeds_the_signature_and_gives_documented_keys(served):
    text = _export_docs()
    requests = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    assert requests, "the docs need a ```json REST request"
    assert "tensorflow_model_server --rest_api_port=8501 --model_name=betavae --model_base_path=$PWD/exported_models/betavae" in text
    table = _docs_table()
    for body in requests:
        name = body["signature_name"]
        signature = served.signatures[name]
        specs = signature.structured_input_signature[1]
        feed = {key: tf.constant(np.asarray(value), dtype=specs[key].dtype) for key, value in body["inputs"].items()}
        outputs = signature(**feed)
        assert set(outputs) <= set(table[name]["outputs"]) and table[name]["outputs"][0] in outputs
        assert all(np.isfinite(v.numpy()).all() for v in outputs.values())


def test_docs_encode_response_keys_and_row_form(served, images):
    # The docs' encode response is {"outputs": {"mean", "log_variance", "sample"}}; the row form sends images.
    text = _export_docs()
    assert '{"outputs": {"mean": [[…]], "log_variance": [[…]], "sample": [[…]]}}' in text
    body = json.loads(json.dumps({"signature_name": "encode", "instances": images[:2].tolist()}))
    outputs = served.signatures[body["signature_name"]](images=tf.constant(body["instances"], tf.float32))
    assert set(outputs) == {"mean", "log_variance", "sample"}


def test_tfsm_layer_as_documented(model, exported, images):
    assert 'keras.layers.TFSMLayer("exported_models/betavae/1", call_endpoint="encode")' in _export_docs()
    layer = keras.layers.TFSMLayer(str(exported), call_endpoint="encode")
    mean = model.encode(images).numpy()
    np.testing.assert_allclose(layer(images)["mean"].numpy(), mean, atol=TOLERANCE)
    inputs = keras.Input(SHAPE)
    functional = keras.Model(inputs, layer(inputs)["mean"])
    np.testing.assert_allclose(functional.predict(images, verbose=0), mean, atol=TOLERANCE)


# --------------------------------------------------------------------------- files beside the SavedModel
def test_version_folder_contents_keras_file_and_card(model, exported, images):
    assert exported.name == "1"
    names = {p.name for p in exported.iterdir()}
    assert {"saved_model.pb", "variables", "model.keras", "model_card.json"} <= names
    assert _hidden(exported.parent) == []

    reloaded = keras.models.load_model(exported / "model.keras")
    assert isinstance(reloaded, BetaVAE) and int(reloaded.step_counter.numpy()) == 123
    codes = np.random.default_rng(2).standard_normal((3, LATENT)).astype(np.float32)
    np.testing.assert_array_equal(reloaded.encode(images).numpy(), model.encode(images).numpy())
    np.testing.assert_array_equal(reloaded.decode(codes).numpy(), model.decode(codes).numpy())

    card = json.loads((exported / "model_card.json").read_text())
    assert card["version"] == 1 and card["format"] == "tfbetavae-export"
    assert card["model"]["latent_dim"] == LATENT and card["model"]["input_shape"] == list(SHAPE)
    assert card["model"]["beta"] == 6.0 and card["model"]["likelihood"] == "bernoulli"
    assert card["model"]["capacity"] is None and card["model"]["objective"] == "beta-vae"
    assert {"capacity_steps", "gamma"} <= set(card["model"])
    assert card["training"]["data"] == "dsprites" and card["training"]["steps"] == 123
    assert card["training"]["batch_size"] == 64
    assert card["step_counter"] == 123
    assert card["scores"] == {"mig": 0.25, "reconstruction": 41.5}
    assert set(card["versions"]) >= {"tfbetavae", "tensorflow", "keras", "tensorflow_probability"}
    assert card["versions"]["tensorflow"] == tf.__version__ and card["versions"]["keras"] == keras.__version__
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", card["exported_at"])
    assert card["signatures"]["sample"]["inputs"] == {
        "num": {"shape": [], "dtype": "int32"}, "seed": {"shape": [], "dtype": "int32"}
    }


def test_exported_object_attributes(model, served, exported, images):
    assert isinstance(served, SavedModelVAE)
    assert served.latent_dim == LATENT and served.image_shape == SHAPE and served.likelihood == "bernoulli"
    assert served.path == exported and served.version == 1
    assert served.card["model"]["latent_dim"] == LATENT
    assert set(served.signatures) >= {"encode", "decode", "reconstruct", "sample", "serving_default"}
    samples = served.sample(2, seed=5)
    assert samples.shape == (2, *SHAPE)
    np.testing.assert_allclose(samples, model.decode(prior_codes(2, 5, LATENT)).numpy(), atol=TOLERANCE)
    np.testing.assert_allclose(served.kl_per_dimension(images), model.kl_per_dimension(images), atol=TOLERANCE)


def test_gaussian_decode_output_is_named_mean(tmp_path):
    vae = _small_model(likelihood="gaussian")
    served = load(export_saved_model(vae, tmp_path / "gauss"))
    assert served.likelihood == "gaussian" and set(served.signatures["decode"].structured_outputs) == {"mean"}
    codes = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(served.decode(codes), vae.decode(codes).numpy(), atol=TOLERANCE)
    assert served.card["model"]["likelihood"] == "gaussian"


# --------------------------------------------------------------------------- versions and atomicity
def test_version_numbering_overwrite_and_highest_version(tmp_path):
    vae = _small_model()
    base = tmp_path / "betavae"
    for name in ("notes", "12b", ".tmp-40-left-by-a-killed-export", "3"):  # only "3" is a version
        (base / name).mkdir(parents=True)
    assert export_saved_model(vae, base).name == "4"
    assert export_saved_model(vae, base, version=7).name == "7"
    assert export_module.latest_version(base) + 1 == 8
    assert load(base).version == 7
    shutil.rmtree(base / "3")
    shutil.rmtree(base / ".tmp-40-left-by-a-killed-export")

    before = _digest(base / "7")
    with pytest.raises(FileExistsError, match="already exists.*overwrite=True"):
        export_saved_model(vae, base, version=7)
    assert _digest(base / "7") == before

    vae.step_counter.assign(55)
    assert export_saved_model(vae, base, version=7, overwrite=True, scores={"mig": 0.5}).name == "7"
    card = load(base / "7").card
    assert card["step_counter"] == 55 and card["scores"] == {"mig": 0.5}
    assert sorted(p.name for p in base.iterdir()) == ["12b", "4", "7", "notes"]


def test_crash_while_writing_leaves_no_version_and_no_temporary_folder(tmp_path, monkeypatch):
    vae = _small_model()
    base = tmp_path / "betavae"
    export_saved_model(vae, base)
    before = _digest(base / "1")

    def crash(*args, **kwargs):
        # By now the SavedModel and model.keras are in the temporary folder.
        staging = [p for p in base.iterdir() if p.name.startswith(".tmp-")]
        assert len(staging) == 1 and (staging[0] / "saved_model.pb").exists() and (staging[0] / "model.keras").exists()
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(export_module, "_write_model_card", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_saved_model(vae, base)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_saved_model(vae, base, version=1, overwrite=True)
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    assert _digest(base / "1") == before


def test_failed_swap_during_overwrite_restores_the_old_version(tmp_path, monkeypatch):
    vae = _small_model()
    base = tmp_path / "betavae"
    export_saved_model(vae, base)
    before = _digest(base / "1")
    import tfbetavae.export.publishing as publishing  # where a version is renamed into place

    real_move = publishing._move

    def failing_move(source, target):
        if source.name.startswith(".tmp-"):
            raise OSError("simulated failure while renaming the new version into place")
        real_move(source, target)

    monkeypatch.setattr(publishing, "_move", failing_move)
    with pytest.raises(OSError, match="simulated failure"):
        export_saved_model(vae, base, version=1, overwrite=True)
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    assert _digest(base / "1") == before
    assert load(base).latent_dim == 2


def test_export_argument_errors(tmp_path):
    vae = _small_model()
    with pytest.raises(TypeError, match="BetaVAE"):
        export_saved_model(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "m")
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            export_saved_model(vae, tmp_path / "m", version=bad)
    with pytest.raises(TypeError, match="scores"):
        export_saved_model(vae, tmp_path / "m", scores=[0.1])
    with pytest.raises(TypeError, match="cannot be written as JSON"):
        export_saved_model(vae, tmp_path / "m", training_info={"callback": object()})
    vae.built = False
    try:
        with pytest.raises(ValueError, match="not built"):
            export_saved_model(vae, tmp_path / "m")
    finally:
        vae.built = True
    assert not (tmp_path / "m").exists()


# --------------------------------------------------------------------------- input checks of the loaded export
def test_loaded_export_rejects_bad_inputs_before_the_graph(served, images):
    bad_images = {
        "shape": (np.zeros((2, 16, 16, 1), np.float32), "shape"),
        "single image": (images[0], r"images\[None\]"),
        "NaN": (np.full((1, *SHAPE), np.nan, np.float32), "NaN"),
        "range": (images * 2.0, r"\[0, 1\]"),
        "negative": (images - 1.0, r"\[0, 1\]"),
        "strings": (np.full((1, *SHAPE), "a"), "numeric"),
    }
    for value, message in bad_images.values():
        with pytest.raises(ValueError, match=message):
            served.encode(value)
        with pytest.raises(ValueError, match=message):
            served.reconstruct(value)
    with pytest.raises(ValueError, match="empty batch"):
        served.encode(images[:0])
    with pytest.raises(ValueError, match="empty batch"):
        served.decode(np.zeros((0, LATENT)))
    with pytest.raises(ValueError, match="shape"):
        served.decode(np.zeros((2, LATENT + 1)))
    with pytest.raises(ValueError, match="NaN"):
        served.decode(np.full((1, LATENT), np.inf))
    for num in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num"):
            served.sample(num)
    with pytest.raises(ValueError, match="seed"):
        served.sample(1, seed=2**31)
    as_uint8 = (images * 255).round().astype(np.uint8)
    np.testing.assert_allclose(served.encode(as_uint8), served.encode(as_uint8.astype(np.float32) / 255.0), atol=TOLERANCE)


def test_graph_rejects_bad_inputs_sent_directly(served):
    sig = served.signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 1\]"):
        sig["encode"](images=tf.fill([1, *SHAPE], 2.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        sig["decode"](z=tf.fill([1, LATENT], np.nan))
    with pytest.raises(tf.errors.InvalidArgumentError, match="num"):
        sig["sample"](num=tf.constant(-1), seed=tf.constant(0))


# --------------------------------------------------------------------------- CLI
def _parse(argv):
    parser = argparse.ArgumentParser(prog="tfbetavae")
    export_command.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_registry_finds_the_export_command(tmp_path, capsys):
    cli = pytest.importorskip("tfbetavae.cli")
    if not hasattr(cli, "main"):
        pytest.skip("the tfbetavae.cli registry is not there yet")
    assert cli.main(["export", "--model", str(tmp_path / "missing.keras"), "--base-dir", str(tmp_path)]) == 2
    assert "missing.keras does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["export", "--help"])
    assert "--overwrite" in capsys.readouterr().out


def test_cli_exports_a_training_run_and_a_keras_file(tmp_path, capsys):
    vae = _small_model()
    vae.step_counter.assign(40)
    run_dir = tmp_path / "runs" / "small"
    run_dir.mkdir(parents=True)
    vae.save(run_dir / "model.keras")
    (run_dir / "config.json").write_text(json.dumps({"steps": 40, "data": "procedural dsprites", "beta": 4.0, "tfbetavae_version": RUN_FORMAT_VERSION}))
    base = tmp_path / "exported_models"

    args = _parse(["export", "--run", str(run_dir), "--base-dir", str(base)])
    assert args.run is export_command.run and args.run_dir == run_dir
    assert args.run(args) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == base / "betavae" / "1"
    card = load(path).card
    assert card["training"]["steps"] == 40 and card["training"]["data"] == "procedural dsprites"
    assert card["training"]["run"] == run_dir.name and card["step_counter"] == 40  # no machine path in a card
    assert str(tmp_path) not in json.dumps(card)

    args = _parse(["export", "--model", str(run_dir / "model.keras"), "--base-dir", str(base), "--name", "tiny",
                   "--version", "3"])
    assert export_command.run(args) == 0
    assert Path(capsys.readouterr().out.strip()) == base / "tiny" / "3"

    assert export_command.run(args) == 2  # version 3 exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert export_command.run(_parse(["export", "--model", str(run_dir / "model.keras"), "--base-dir", str(base),
                                      "--name", "tiny", "--version", "3", "--overwrite"])) == 0
    assert export_command.run(_parse(["export", "--run", str(tmp_path / "missing")])) == 2
    assert "does not exist" in capsys.readouterr().err
    for argv in (["export"], ["export", "--run", "a", "--model", "b"], ["export", "--model", "m", "--version", "0"]):
        with pytest.raises(SystemExit):
            _parse(argv)


def test_a_card_says_how_its_scores_were_made(tmp_path):
    """Scores in a card keep the protocol, metric sizes and seed that made them (``scoring``), or say that the
    exporter was not told (None)."""
    from tfbetavae.metrics import scoring_record

    vae = _small_model()
    record = scoring_record(["mig"], seed=1, num_train=500, protocol="disentanglement_lib")
    card = load(export_saved_model(vae, tmp_path / "m", scores={"mig": 0.5}, scoring=record)).card
    assert card["scores"] == {"mig": 0.5}
    assert card["scoring"] == {"protocol": "disentanglement_lib", "metric_sizes": {"mig": {"num_train": 500}}, "seed": 1}
    assert load(export_saved_model(vae, tmp_path / "m", scores={"mig": 0.5})).card["scoring"] is None
    with pytest.raises(TypeError, match="scoring must be a mapping"):
        export_saved_model(vae, tmp_path / "m", scores={"mig": 0.5}, scoring="library")
