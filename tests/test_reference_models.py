"""The reference models shipped in exported_models/: they load every way, their cards hold what they claim, and a
fresh evaluation reproduces the card's scores within sampling error. CI never retrains them; it tests them."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tfbetavae.data import ProceduralDSprites
from tfbetavae.loading import ModelLoadError, numeric_versions
from tfbetavae.reference import REFERENCE_DIR, REFERENCE_NAMES, load_reference, reference_dir, reference_models

SHIPPED = list(REFERENCE_NAMES)
# Every shipped version is tested: a user's pinned version must keep working after a newer one ships.
VERSIONS = [(name, version) for name in SHIPPED for version in numeric_versions(REFERENCE_DIR / name)]
MAX_BYTES = 10 * 1024 * 1024


def test_both_reference_models_are_shipped():
    assert reference_models() == SHIPPED


def test_load_reference_opens_the_newest_version_unless_asked():
    for name in SHIPPED:
        versions = numeric_versions(reference_dir() / name)
        assert versions[0] == 1  # version 1 stays, whatever ships later
        assert load_reference(name).card["version"] == versions[-1]
        assert load_reference(name, version=1).card["version"] == 1


@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_card_says_where_the_model_comes_from(name, version):
    card = load_reference(name, version=version).card
    training, scores = card["training"], card["scores"]
    assert {"study", "setting", "seed", "steps", "chosen_by", "scores_measured_with", "seeds_of_this_setting"} <= set(training)
    assert training["steps"] == card["step_counter"] >= 10000
    assert not training["study"].startswith("/")  # no path of the machine that trained it
    assert (training["setting"]["beta"] == 1.0) == (name == "vae")
    for key in ("beta_vae_eval_accuracy", "beta_vae_paper_eval_accuracy", "mig", "dci_disentanglement", "reconstruction", "kl"):
        assert math.isfinite(scores[key])
    seeds = training["seeds_of_this_setting"]
    assert str(training["seed"]) in seeds
    earlier = training["chosen_by"].removeprefix("the setting and seed of version ")
    if earlier != training["chosen_by"]:  # the run an earlier version shipped, trained further
        before = load_reference(name, version=int(earlier.split(",")[0])).card["training"]
        assert (before["seed"], before["setting"]) == (training["seed"], training["setting"])
        assert training["steps"] > before["steps"]
        return
    assert len(seeds) >= 3
    migs = sorted(values["mig"] for values in seeds.values())
    assert scores["mig"] == migs[(len(migs) - 1) // 2]  # the median seed, not the luckiest


@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_each_shipped_version_is_small(name, version):
    folder = reference_dir() / name / str(version)
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= MAX_BYTES


def _tolerance(p: float, n_card: int, n_fresh: int) -> float:
    """Four standard errors of the difference of two accuracies measured on n_card and n_fresh points."""
    p = min(max(p, 0.05), 0.95)
    return 4 * math.sqrt(p * (1 - p) / n_card + p * (1 - p) / n_fresh)


class _RenderedOnce(ProceduralDSprites):
    """The procedural dSprites, keeping every batch it renders (bit-packed: the images are binary) under its factors.

    Every shipped version is scored with the same seed, so the metrics draw the same factors for each; rendering
    the β-VAE score's 128,000 images again for every version was a fifth of each evaluation's time. The images are
    the renderer's own, unpacked exactly, so the scores are the same as without it."""

    def __init__(self) -> None:
        super().__init__()
        self._kept: dict[bytes, tuple[np.ndarray, tuple]] = {}

    def _render(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        key = np.ascontiguousarray(factors, dtype=np.int64).tobytes()
        if key not in self._kept:
            images = super()._render(factors, rng)
            self._kept[key] = (np.packbits(images.astype(bool)), images.shape)
        packed, shape = self._kept[key]
        return np.unpackbits(packed, count=int(np.prod(shape))).reshape(shape).astype(np.float32)


@pytest.fixture(scope="module")
def rendered_once() -> _RenderedOnce:
    return _RenderedOnce()


@pytest.mark.slow
@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_a_fresh_evaluation_reproduces_the_card(name, version, rendered_once):
    from tfbetavae.metrics import beta_vae_score, mig

    model = load_reference(name, version=version)
    card = model.card["scores"]
    sizes = model.card["training"]["scores_measured_with"]["metric_sizes"]
    data = rendered_once
    seed = 2026  # not the study's evaluation seed: this is a new sample, so agreement is within sampling error
    fresh = beta_vae_score(model, data, num_train=500, num_eval=500, seed=seed, progress=False)
    allowed = _tolerance(card["beta_vae_eval_accuracy"], sizes["beta_vae"]["num_eval"], 500)
    assert abs(fresh["eval_accuracy"] - card["beta_vae_eval_accuracy"]) <= allowed
    fresh_mig = mig(model, data, num_train=10000, seed=seed, progress=False)["mig"]
    assert abs(fresh_mig - card["mig"]) <= 0.03 + 0.15 * card["mig"]
    terms = _held_out(model, data, seed)
    assert abs(terms["reconstruction"] - card["reconstruction"]) <= 0.08 * card["reconstruction"] + 2.0
    assert abs(terms["kl"] - card["kl"]) <= 0.08 * card["kl"] + 0.5


def _held_out(model, data, seed: int) -> dict[str, float]:
    """Reconstruction and KL of a SavedModel on held-out images, estimated as the model's training loss does:
    one posterior sample per image, Bernoulli cross-entropy of its decoding (nats per image)."""
    images = data.sample(512, np.random.default_rng([seed, 7919]))[1].astype(np.float32)
    mean, log_variance = model.encode(images, return_log_variance=True)
    noise = np.random.default_rng(seed).standard_normal(mean.shape).astype(np.float32)
    probabilities = np.clip(model.decode(mean + np.exp(0.5 * log_variance) * noise), 1e-6, 1 - 1e-6)
    cross_entropy = -(images * np.log(probabilities) + (1 - images) * np.log(1 - probabilities))
    kl = float(np.sum(model.kl_per_dimension(images)))
    return {"reconstruction": float(np.mean(np.sum(cross_entropy, axis=(1, 2, 3)))), "kl": kl}


def test_bare_tensorflow_loads_them_in_a_fresh_process():
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        "for path in sys.argv[1:]:\n"
        "    m = tf.saved_model.load(path)\n"
        "    out = m.signatures['encode'](images=tf.zeros([2, 64, 64, 1]))\n"
        "    print(path, out['mean'].shape)\n"
    )
    paths = [str(reference_dir() / name / str(version)) for name, version in VERSIONS]
    result = subprocess.run([sys.executable, "-c", code, *paths], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("(2, 10)") == len(VERSIONS)


def test_the_deprecated_loader_still_opens_them():
    import tfbetavae

    with pytest.warns(DeprecationWarning):
        model = tfbetavae.load_exported(reference_dir() / "beta-vae")
    assert model.latent_dim == 10


def test_wrong_name_or_version_is_named():
    with pytest.raises(ModelLoadError, match=r"no shipped reference model 'betavae' .*shipped: vae, beta-vae"):
        load_reference("betavae")
    listed = ", ".join(str(v) for v in numeric_versions(reference_dir() / "beta-vae"))
    with pytest.raises(ModelLoadError, match=rf"no version 7 .*versions here: {listed}"):
        load_reference("beta-vae", version=7)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda v: (v / "variables" / "variables.index").unlink(), "variables/variables.index is missing"),
        (lambda v: (v / "saved_model.pb").write_bytes(b"not a protobuf"), "cannot read the SavedModel"),
        (lambda v: (v / "model_card.json").write_text("{not json"), "model_card.json"),
    ],
)
def test_altered_files_are_named(tmp_path, monkeypatch, damage, message):
    copy = tmp_path / "exported_models"
    shutil.copytree(reference_dir() / "beta-vae", copy / "beta-vae")
    newest = numeric_versions(copy / "beta-vae")[-1]
    damage(copy / "beta-vae" / str(newest))
    monkeypatch.setenv("TFBETAVAE_REFERENCE_DIR", str(copy))
    with pytest.raises(ModelLoadError, match=message):
        load_reference("beta-vae")  # the newest version, the damaged one
    assert json.loads((REFERENCE_DIR / "beta-vae" / "1" / "model_card.json").read_text())  # the shipped one is intact


def test_the_demo_shows_the_shipped_model_first(tmp_path, capsys, load_script):
    demo = load_script("demo")
    demo.show_shipped(ProceduralDSprites(), tmp_path / "demo", seed=0)
    out = capsys.readouterr().out
    assert "The shipped β-VAE" in out and "MIG" in out
    assert (tmp_path / "shipped_traversal.png").read_bytes()[:4] == b"\x89PNG"


def test_the_shipping_rule_takes_the_median_seed_of_the_best_median_beta(load_script):
    ship = load_script("ship_reference_models")
    mig = {(1, 0): 0.05, (1, 1): 0.07, (1, 2): 0.06, (4, 0): 0.10, (4, 1): 0.09, (4, 2): 0.20,
           (8, 0): 0.03, (8, 1): 0.30, (8, 2): 0.01}  # β=8 has the luckiest seed, β=4 the best median
    rows = [{"beta": beta, "seed": seed, "mig": value} for (beta, seed), value in mig.items()]
    chosen = ship.choose(rows)
    assert (chosen["vae"][0]["beta"], chosen["vae"][0]["seed"]) == (1, 2)
    assert (chosen["beta-vae"][0]["beta"], chosen["beta-vae"][0]["seed"]) == (4, 0)
    assert "β=4: 0.100" in chosen["beta-vae"][1]
    with pytest.raises(ValueError, match="no β=1"):
        ship.choose([row for row in rows if row["beta"] != 1])
