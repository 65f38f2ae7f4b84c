"""tfbetavae.load: every kind of model opens and encodes like the in-memory model; every bad path fails with one
message, the same through the Python API and through every command that loads a model."""

import json
import logging
import re
import shlex
import shutil
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfbetavae
from tfbetavae import BetaVAE, viz
from tfbetavae.cli import main
from tfbetavae.export import export_saved_model
from tfbetavae.loading import ModelLoadError, SavedModelVAE, VAEModel, as_model, load, locate
from tfbetavae.metrics import as_representation
from tfbetavae.objectives import BetaTCVAE, FactorVAE
from tfbetavae.training import atomic_save, train

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (16, 16, 1)
COMMANDS = {  # every command that loads a model, with the arguments that get it as far as loading
    "evaluate": [],
    "traverse": ["--out", "unused.png"],
    "export": ["--base-dir", "unused_exports"],
}


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((5, *SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, images):
    """A model trained for two steps into a real run folder, plus every other form of the same model."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("models")
    model = BetaVAE(latent_dim=3, input_shape=SHAPE, seed=0)
    train(model, np.tile(images, (2, 1, 1, 1)), steps=2, batch_size=4, run_dir=root / "run", verbose=0)
    atomic_save(model, root / "model.keras")
    shutil.copytree(root / "run", root / "unfinished")
    (root / "unfinished" / "model.keras").unlink()  # as a killed run leaves it: only checkpoints/last.keras
    version = export_saved_model(model, root / "exported")
    shutil.copytree(version, root / "exported" / "3")  # base folder → highest version (3); version=1 → 1
    return model, root


KINDS = {
    "keras file": ("model.keras", None, BetaVAE),
    "run folder": ("run", None, BetaVAE),
    "unfinished run": ("unfinished", None, BetaVAE),
    "version folder": ("exported/1", None, SavedModelVAE),
    "base folder": ("exported", None, SavedModelVAE),
    "base folder, version=1": ("exported", 1, SavedModelVAE),
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_opens_and_encodes_like_the_model_in_memory(trained, images, kind, caplog):
    model, root = trained
    relative, version, cls = KINDS[kind]
    with caplog.at_level(logging.WARNING, logger="tfbetavae.loading"):
        opened = load(root / relative, version=version)
    assert type(opened) is cls and isinstance(opened, VAEModel)
    assert opened.latent_dim == 3 and tuple(opened.image_shape) == SHAPE
    exact = cls is BetaVAE  # .keras round trips bit for bit; a SavedModel graph may differ in the last ulp
    close = np.testing.assert_array_equal if exact else lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5)
    codes = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    for got, want in [
        (opened.encode(images), model.encode(images)),
        (opened.encode(images, return_log_variance=True)[1], model.encode(images, return_log_variance=True)[1]),
        (opened.decode(codes), model.decode(codes)),
        (opened.reconstruct(images), model.reconstruct(images)),
        (opened.kl_per_dimension(images), model.kl_per_dimension(images)),
    ]:
        close(np.asarray(got), np.asarray(want))
    if cls is BetaVAE:
        assert opened.card is None
    else:
        assert opened.card["model"]["latent_dim"] == 3 and opened.path.name == ("1" if version or "/" in relative else "3")
    unfinished = [r.getMessage() for r in caplog.records if "unfinished" in r.getMessage()]
    if kind == "unfinished run":
        assert unfinished == [
            f"{root / 'unfinished'} is an unfinished training run (no model.keras): opening its last checkpoint "
            "checkpoints/last.keras, step 2 of 2"
        ]
    else:
        assert unfinished == []


@pytest.mark.parametrize("cls", [BetaTCVAE, FactorVAE])
def test_objective_models_speak_the_protocol_and_reopen(cls, images, tmp_path):
    model = cls(latent_dim=2, input_shape=SHAPE, seed=0, **({"dataset_size": 100} if cls is BetaTCVAE else {}))
    assert as_model(model) is model and model.card is None
    opened = load(atomic_save(model, tmp_path / "m.keras"))
    assert type(opened) is cls
    np.testing.assert_array_equal(np.asarray(opened.encode(images)), np.asarray(model.encode(images)))


def test_consumers_accept_a_path_and_give_what_the_model_gives(trained, images):
    model, root = trained
    expected = model.encode(images).numpy()
    for path in (root / "run", str(root / "exported")):
        np.testing.assert_allclose(as_representation(path)(images), expected, atol=1e-5)
        np.testing.assert_allclose(
            viz.traversal_grid(path, images[0], steps=3, reference=images),
            viz.traversal_grid(model, images[0], steps=3, reference=images),
            atol=1e-5,
        )
    assert tfbetavae.load is load


# --------------------------------------------------------------------------- bad paths
def _write_zip(path: Path, name: str, text: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(name, text)


class _OtherModule(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def double(self, x):
        return {"y": 2 * x}


@pytest.fixture(scope="module")
def bad(trained, tmp_path_factory):
    """name -> (path, pattern the one-line message must match); every path holds something wrong."""
    _, root = trained
    folder = tmp_path_factory.mktemp("bad")
    keras_bytes = (root / "model.keras").read_bytes()
    (folder / "corrupt.keras").write_bytes(b"this is not a zip archive")
    (folder / "truncated.keras").write_bytes(keras_bytes[: len(keras_bytes) // 2])
    _write_zip(folder / "no_config.keras", "notes.txt", "a zip, but not a Keras archive")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(folder / "foreign.keras")
    (folder / "notes.txt").write_text("not a model")
    shutil.copytree(root / "unfinished", folder / "no_checkpoint")
    shutil.rmtree(folder / "no_checkpoint" / "checkpoints")
    shutil.copytree(root / "run", folder / "other_format")
    config = json.loads((folder / "other_format" / "config.json").read_text())
    (folder / "other_format" / "config.json").write_text(json.dumps({**config, "run_format": 2}))  # a future format
    (folder / "empty_base" / ".tmp-1-left-by-a-killed-export").mkdir(parents=True)
    other = _OtherModule()
    tf.saved_model.save(other, str(folder / "foreign_saved_model"), signatures={"double": other.double})
    for name in ("no_variables", "no_index", "bad_card", "bad_pb", "altered_card"):
        shutil.copytree(root / "exported" / "1", folder / name)
    for shard in (folder / "no_variables" / "variables").glob("variables.data-*"):
        shard.unlink()
    (folder / "no_index" / "variables" / "variables.index").unlink()
    (folder / "bad_card" / "model_card.json").write_text('{"format": "tfbetavae-export", ')
    (folder / "bad_pb" / "saved_model.pb").write_bytes(b"\x00garbage")
    card = json.loads((folder / "altered_card" / "model_card.json").read_text())
    card["model"]["latent_dim"] = 7
    (folder / "altered_card" / "model_card.json").write_text(json.dumps(card))
    return {
        "missing": (folder / "missing.keras", "model not found: .* does not exist"),
        "corrupt": (folder / "corrupt.keras", r"not a valid \.keras file \(corrupt or truncated: not a zip"),
        "truncated": (folder / "truncated.keras", r"not a valid \.keras file \(corrupt or truncated"),
        "zip without config": (folder / "no_config.keras", "unreadable config.json"),
        "foreign .keras": (folder / "foreign.keras", "a Keras Sequential model, not a tfbetavae VAE"),
        "not a model file": (folder / "notes.txt", "not a model file"),
        "unfinished run": (folder / "no_checkpoint", "unfinished training run with no checkpoint yet"),
        "other run format": (folder / "other_format", "another tfbetavae run format"),
        "empty base folder": (folder / "empty_base", "no model in this folder; only an interrupted export"),
        "unknown version": (root / "exported" / "9", r"no version 9 .*\(versions here: 1, 3\)"),
        "no signatures": (folder / "foreign_saved_model", r"without the signatures \['encode'"),
        "missing variables": (folder / "no_variables", "variables/variables.data-00000-of-00001 is missing"),
        "missing index": (folder / "no_index", "variables/variables.index is missing"),
        "card does not parse": (folder / "bad_card", "model_card.json: the model card is not valid JSON"),
        "card altered": (folder / "altered_card", "card says latent_dim 7 but the SavedModel has 3"),
        "corrupt saved_model.pb": (folder / "bad_pb", "cannot read the SavedModel"),
    }


def _load_error(path) -> Exception:
    with pytest.raises((FileNotFoundError, ModelLoadError)) as caught:
        load(path)
    return caught.value


def test_each_bad_path_gives_one_line_naming_it_through_the_api_and_every_command(bad, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the commands' output paths (never written) land here
    for name, (path, pattern) in bad.items():
        error = _load_error(path)
        message = str(error)
        assert re.search(pattern, message), (name, message)
        assert "\n" not in message and str(path.parent) in message, (name, message)
        assert isinstance(error, FileNotFoundError if name == "missing" else ModelLoadError), name
        for command, extra in COMMANDS.items():
            assert main([command, "--model", str(path), *extra]) == 2, (name, command)
            assert capsys.readouterr().err == f"tfbetavae {command}: error: {message}\n", (name, command)
    assert not (tmp_path / "unused.png").exists() and not (tmp_path / "unused_exports").exists()


def test_version_argument_errors(trained):
    _, root = trained
    with pytest.raises(ModelLoadError, match=r"exported: no version 2 .*\(versions here: 1, 3\)"):
        load(root / "exported", version=2)
    with pytest.raises(ValueError, match="version must be a positive integer"):
        load(root / "exported", version=0)
    with pytest.raises(ModelLoadError, match=r"model\.keras: version=1 needs a SavedModel base folder"):
        load(root / "model.keras", version=1)
    with pytest.raises(TypeError, match="expected a path"):
        load(42)
    with pytest.raises(TypeError, match="lacks decode, reconstruct, kl_per_dimension, image_shape, card"):
        as_model(type("Half", (), {"encode": lambda self, x: x, "latent_dim": 2})())
    assert locate(root / "exported").path == root / "exported" / "3"


def test_export_refuses_a_saved_model_and_records_an_unfinished_run(trained, tmp_path, capsys):
    _, root = trained
    assert main(["export", "--model", str(root / "exported"), "--base-dir", str(tmp_path)]) == 2
    assert "already a SavedModel export" in capsys.readouterr().err
    assert main(["export", "--run", str(root / "unfinished"), "--base-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "unfinished training run" in captured.err
    card = load(Path(captured.out.strip())).card
    assert card["training"]["checkpoint"] == "checkpoints/last.keras" and card["training"]["run"] == "unfinished"
    assert card["step_counter"] == 2


def test_old_names_warn_and_still_work(trained, images):
    model, root = trained
    with pytest.warns(DeprecationWarning, match="use tfbetavae.load"):
        assert type(tfbetavae.load_model(root / "run")) is BetaVAE
    with pytest.warns(DeprecationWarning, match="use tfbetavae.load"):
        assert type(viz.load_model(root / "exported")) is SavedModelVAE
    with pytest.warns(DeprecationWarning, match="use tfbetavae.load"):
        assert viz.ExportedModel is SavedModelVAE
    with pytest.warns(DeprecationWarning, match="use tfbetavae.load"):
        served = tfbetavae.load_exported(root / "exported")
    outputs = served.encode(images)  # the old interface: dicts of NumPy
    assert set(outputs) == {"mean", "log_variance", "sample"} and served.model_card["version"] == 1
    np.testing.assert_allclose(outputs["mean"], model.encode(images).numpy(), atol=1e-5)
    assert served.sample(2)["images"].shape == (2, *SHAPE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(root / "model.keras")  # the new entry warns about nothing


def _shipped_versions() -> list[Path]:
    return sorted(p for p in (ROOT / "exported_models").glob("*/[0-9]*") if (p / "model_card.json").is_file())


@pytest.mark.parametrize("folder", _shipped_versions() or [None], ids=lambda p: "none" if p is None else p.name)
def test_models_in_exported_models_open_with_load_and_with_tensorflow_alone(folder):
    if folder is None:
        pytest.skip("exported_models/ holds no exported model")
    opened = load(folder)
    batch = np.zeros((1, *opened.image_shape), np.float32)
    raw = tf.saved_model.load(str(folder)).signatures["encode"](images=tf.constant(batch))
    np.testing.assert_allclose(opened.encode(batch), raw["mean"].numpy(), atol=1e-6)
    assert opened.card["model"]["latent_dim"] == opened.latent_dim


def test_the_models_page_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/models.md's Python blocks, in order in one namespace, then its commands, in a scratch folder."""
    text = (ROOT / "docs" / "models.md").read_text()
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        exec(compile(block, "docs/models.md", "exec"), namespace)  # noqa: S102 - the page's own examples
    printed = capsys.readouterr().out
    assert printed.count("same codes: True") == 3 and "1 (4,)" in printed and "['mig']" in printed
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.strip().splitlines():
            argv = shlex.split(line)
            assert argv[0] == "tfbetavae" and main(argv[1:]) == 0, line
    assert (tmp_path / "traversal.png").is_file() and (tmp_path / "exported_models" / "again" / "1").is_dir()
