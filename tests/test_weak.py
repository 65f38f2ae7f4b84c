"""Ada-GVAE and Ada-ML-VAE (weak supervision from pairs): the adaptive threshold, the aggregates, training, saving,
export, the pair sampler, user pairs, bad pairs and the command line."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbetavae.cli import main
from tfbetavae.data import ColorDSprites, GroundTruthData
from tfbetavae.data.pairs import GroundTruthPairs, array_pairs, differing_factors, folder_pairs, pairs_dataset
from tfbetavae.objectives import (
    AdaGVAE,
    AdaMLVAE,
    average_posteriors,
    build_model,
    objective_name,
    pair_posteriors,
    product_of_posteriors,
    shared_dimensions,
)

SMALL = {"latent_dim": 4, "input_shape": (32, 32, 1), "seed": 0}


def shrink(images):
    """64x64 → 32x32 by 2x2 averages, so the tiny models train in seconds."""
    return images.reshape(-1, 32, 2, 32, 2, images.shape[-1]).mean(axis=(2, 4))


@pytest.fixture(scope="module")
def small_pairs():
    from tfbetavae.data import ProceduralDSprites

    _, _, first, second = GroundTruthPairs(ProceduralDSprites(), k=1).sample(256, np.random.default_rng(3))
    return shrink(first), shrink(second)


# --------------------------------------------------------------------------- the adaptive threshold and aggregates
def test_adaptive_threshold_finds_the_differing_dimensions():
    """Pair 0 differs in the means of dimensions 1 and 4, pair 1 in the variance of dimension 0 (KL 0 elsewhere),
    pair 2 not at all (every δ equal: all shared)."""
    mean_1 = np.zeros((3, 6), "float32")
    mean_2 = mean_1.copy()
    mean_2[0, [1, 4]] = 3.0
    log_variance_1 = np.zeros((3, 6), "float32")
    log_variance_2 = log_variance_1.copy()
    log_variance_2[1, 0] = 3.0
    shared = shared_dimensions(mean_1, log_variance_1, mean_2, log_variance_2).numpy()
    expected = np.ones((3, 6), bool)
    expected[0, [1, 4]] = False
    expected[1, 0] = False
    np.testing.assert_array_equal(shared, expected)


def test_aggregates_match_disentanglement_lib():
    """Values from disentanglement_lib methods/weak/weak_vae.py at commit 86a644d4ed35c771560dc3360756363d35477357:
    compute_kl, discretize_in_bins and aggregate_argmax with GroupVAEBase's and MLVae's new_mean/new_log_var, re-typed
    for TensorFlow 2 eager, on these inputs (numpy default_rng(0): normal means, log-variances with scale 0.5)."""
    rng = np.random.default_rng(0)
    mean_1, mean_2 = (rng.normal(size=(3, 5)).astype("float32") for _ in range(2))
    log_variance_1, log_variance_2 = (rng.normal(scale=0.5, size=(3, 5)).astype("float32") for _ in range(2))
    kept = np.array([[1, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]], bool)  # their bin 1: not averaged
    gvae_mean_1 = [[0.12573022, -0.33818194, 0.16206124, 0.25826532, -0.5356694],
                   [0.1165302, 1.3352318, 0.14094314, -0.17611258, -1.2654215],
                   [-0.26463106, -0.35108665, -1.623378, -0.33825874, -1.245911]]
    gvae_log_variance_2 = [[-0.15696141, 0.3966678, 0.58452433, 0.6344934, 0.6575519],
                           [0.17818843, -0.45595938, -0.03302744, 0.36062053, -0.6441807],
                           [-0.132807, 0.5222305, 0.5236182, 0.01544843, -0.3308513]]
    mlvae_mean_2 = [[-0.7322674, -0.25694007, 0.3942016, 0.21146472, 1.0425134],
                    [0.1166532, 1.3395336, 0.16615885, -0.15930024, 0.90347016],
                    [-0.4050328, -0.45490688, -1.5103812, -0.3926513, 0.22019513]]
    mlvae_log_variance_1 = [[-0.5048091, 0.22775476, 0.31599244, 0.53674674, 0.10732956],
                            [0.17818812, -0.47511435, -0.03400641, 0.35960466, 0.74671555],
                            [-0.29916474, 0.4496632, 0.49734077, -0.2168516, 0.13222781]]
    inputs = (mean_1, log_variance_1, mean_2, log_variance_2)
    first, second, shared = pair_posteriors(*inputs, average_posteriors)
    np.testing.assert_array_equal(shared.numpy(), ~kept)
    np.testing.assert_allclose(first[0].numpy(), gvae_mean_1, atol=1e-6)
    np.testing.assert_allclose(second[1].numpy(), gvae_log_variance_2, atol=1e-6)
    first, second, _ = pair_posteriors(*inputs, product_of_posteriors)
    np.testing.assert_allclose(second[0].numpy(), mlvae_mean_2, atol=1e-6)
    np.testing.assert_allclose(first[1].numpy(), mlvae_log_variance_1, atol=1e-6)
    # Their test_aggregate_argmax's second case: δ = [0, 0.1] keeps the second dimension only.
    assert shared_dimensions([[1.0, 1.0]], [[0.0, 0.0]], [[1.0, 1.0 + 0.1**0.5]], [[0.0, 0.0]]).numpy().tolist() == [
        [True, False]
    ]


def test_aggregates_stay_finite_at_the_log_variance_limits():
    log_variance_1 = tf.constant([[-15.0, 15.0, 0.0]])
    log_variance_2 = tf.constant([[15.0, 15.0, 0.0]])
    mean_1, mean_2 = tf.constant([[1.0, 2.0, -1.0]]), tf.constant([[3.0, 4.0, 1.0]])
    mean, log_variance = product_of_posteriors(mean_1, log_variance_1, mean_2, log_variance_2)
    # The sharp posterior wins the mean; the harmonic mean of e^-15 and e^15 is ≈ 2·e^-15.
    np.testing.assert_allclose(mean.numpy(), [[1.0, 3.0, 0.0]], atol=1e-5)
    np.testing.assert_allclose(log_variance.numpy(), [[np.log(2.0) - 15.0, 15.0, 0.0]], atol=1e-5)
    mean, log_variance = average_posteriors(mean_1, log_variance_1, mean_2, log_variance_2)
    np.testing.assert_allclose(log_variance.numpy(), [[15.0 - np.log(2.0), 15.0, 0.0]], atol=1e-5)


# --------------------------------------------------------------------------- the models
@pytest.mark.parametrize("cls", [AdaGVAE, AdaMLVAE])
def test_identical_images_share_every_dimension(cls, small_pairs):
    """A pair of the same images aggregates nothing away: its KL is the plain VAE's, and the loss is rec + β·KL."""
    model = cls(beta=3.0, **SMALL)
    images = small_pairs[0][:8]
    terms = model.compute_terms((images, images))
    assert terms["shared"].numpy().all()
    np.testing.assert_allclose(terms["kl"].numpy(), model.vae_terms(images)["kl"].numpy(), rtol=1e-5)
    np.testing.assert_allclose(terms["loss"].numpy(), terms["reconstruction"].numpy() + 3.0 * terms["kl"].numpy(), rtol=1e-6)


def test_train_on_batch_takes_a_pair_batch(small_pairs):
    """Keras packs train_on_batch's batch as (x, None, None); a pair model still sees (x1, x2) (study plans price
    pair objectives this way)."""
    model = build_model("ada-gvae", **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batch = (small_pairs[0][:8], small_pairs[1][:8])
    logs = model.train_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["loss"]) and 0 <= logs["shared_dims"] <= SMALL["latent_dim"]
    assert np.isfinite(model.test_on_batch(batch, return_dict=True)["loss"])


@pytest.mark.parametrize("objective,cls", [("ada-gvae", AdaGVAE), ("ada-ml-vae", AdaMLVAE)])
def test_variants_train_through_fit_save_reload_and_export(objective, cls, small_pairs, tmp_path):
    model = build_model(objective, **SMALL)
    assert type(model) is cls and objective_name(model) == objective and model.beta == 1.0
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(array_pairs(*small_pairs, batch_size=16, seed=0), steps_per_epoch=10, epochs=3, verbose=0,
                        shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] - 200, losses  # measured: ≈ 675-700 → 270-290 nats
    assert history.history["reconstruction"][-1] < history.history["reconstruction"][0]
    assert all(0.0 <= value <= 4.0 for value in history.history["shared_dims"])

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is cls and loaded.get_config() == model.get_config()
    x = small_pairs[0][:8]
    np.testing.assert_array_equal(loaded.encode(x).numpy(), model.encode(x).numpy())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model_terms, loaded_terms = model.compute_terms((x, small_pairs[1][:8])), loaded.compute_terms((x, small_pairs[1][:8]))
    for key in ("loss", "reconstruction", "kl", "shared"):
        np.testing.assert_array_equal(loaded_terms[key].numpy(), model_terms[key].numpy(), err_msg=key)
    assert int(loaded.optimizer.iterations) == 30
    if objective != "ada-ml-vae":
        return  # one export is enough: both variants export the same encoder and decoder

    from tfbetavae.export import export_saved_model, load_exported

    folder = export_saved_model(model, tmp_path / "exported", version=1)
    signature = tf.saved_model.load(str(folder)).signatures["encode"]
    (spec,) = signature.structured_input_signature[1].values()
    assert spec.shape.as_list() == [None, 32, 32, 1]  # one image per row, not a pair
    served = load_exported(folder)
    np.testing.assert_allclose(served.encode(x)["mean"], model.encode(x).numpy(), atol=1e-5)
    card = json.loads((folder / "model_card.json").read_text())
    assert card["model"]["objective"] == objective and card["model"]["class"] == cls.__name__


# --------------------------------------------------------------------------- pairs from ground-truth data
class _ThreeFactors(GroundTruthData):
    """Factors (constant, 3 values, 4 values), observation = the factors as a vector: the sampler's output is readable."""

    factor_names = ("constant", "a", "b")
    factor_sizes = (1, 3, 4)
    observation_shape = (3,)

    def _render(self, factors, rng):
        return factors.astype(np.float32) / 4.0


@pytest.mark.parametrize("k", [1, 2, 3, 4, "random"])
def test_pair_sampler_shares_exactly_the_factors_it_says(k, sprites):
    pairs = GroundTruthPairs(sprites, k=k)
    first, second, images_1, images_2 = pairs.sample(300, np.random.default_rng(1))
    differ = differing_factors(first, second).sum(axis=1)
    if k == "random":
        assert set(differ) == {1, 2, 3, 4}  # 1 … F − 1, each drawn
    else:
        assert (differ == k).all()
    np.testing.assert_array_equal(images_1, sprites.sample_observations_from_factors(first, None))
    np.testing.assert_array_equal(images_2, sprites.sample_observations_from_factors(second, None))
    # every factor is chosen to change (the choice is uniform): none is left out
    assert differing_factors(first, second).any(axis=0).all()


def test_pair_sampler_leaves_constant_factors_alone_and_streams_reproducibly():
    data = _ThreeFactors()
    pairs = GroundTruthPairs(data, k="random")
    first, second = pairs.sample_factors(200, np.random.default_rng(0))
    differ = differing_factors(first, second)
    assert not differ[:, 0].any() and (differ.sum(axis=1) == 1).all()
    with pytest.raises(ValueError, match=r"k = 2 leaves no factor shared: _ThreeFactors has 2 factors that vary, so k is 1 to 1"):
        GroundTruthPairs(data, k=2)
    with pytest.raises(ValueError, match="k must be a number of factors .1 to 1. or 'random', got 0"):
        GroundTruthPairs(data, k=0)
    # batch i of the stream depends on (seed, i) only: a resumed run (start=2) continues it exactly
    stream = list(pairs.dataset(batch_size=5, seed=3).take(4).as_numpy_iterator())
    resumed = list(pairs.dataset(batch_size=5, seed=3, start=2).take(2).as_numpy_iterator())
    for (a1, a2), (b1, b2) in zip(stream[2:], resumed):
        np.testing.assert_array_equal(a1, b1)
        np.testing.assert_array_equal(a2, b2)
    for x1, x2 in stream:
        assert x1.shape == x2.shape == (5, 3)
        assert ((x1 != x2).sum(axis=1) == 1).all()


def test_pair_stream_of_a_noisy_data_set(sprites):
    pairs = GroundTruthPairs(ColorDSprites(sprites), k=2)
    x1, x2 = next(iter(pairs_dataset(pairs, batch_size=3, seed=0, input_shape=(64, 64, 3))))
    assert x1.shape == x2.shape == (3, 64, 64, 3) and x1.dtype == tf.float32


# --------------------------------------------------------------------------- your own pairs
def test_user_pairs_from_arrays_and_datasets_stay_aligned():
    rng = np.random.default_rng(0)
    first = rng.random((10, 8, 8, 1)).astype("float32")
    second = 1.0 - first
    for source in ((first, second), tf.data.Dataset.from_tensor_slices((first, second)).batch(4)):
        x1, x2 = next(iter(pairs_dataset(source, batch_size=6, seed=1, input_shape=(8, 8, 1))))
        assert x1.shape == (6, 8, 8, 1)
        np.testing.assert_allclose(x2.numpy(), 1.0 - x1.numpy(), atol=1e-6)
    vectors = rng.normal(size=(7, 3))
    x1, x2 = next(iter(array_pairs(vectors, 2 * vectors, batch_size=7)))
    np.testing.assert_allclose(x2.numpy(), 2 * x1.numpy(), rtol=1e-6)


def test_user_pairs_from_two_folders(tmp_path):
    from PIL import Image

    for side in ("a", "b"):
        (tmp_path / side).mkdir()
    for i in range(6):  # a/i.png holds 40·i everywhere, b/i.png 255 − 40·i: aligned by sorted name
        Image.fromarray(np.full((12, 12), 40 * i, np.uint8)).save(tmp_path / "a" / f"{i}.png")
        Image.fromarray(np.full((12, 12), 255 - 40 * i, np.uint8)).save(tmp_path / "b" / f"frame_{i}.png")
    x1, x2 = next(iter(pairs_dataset((tmp_path / "a", tmp_path / "b"), batch_size=6, seed=0, input_shape=(12, 12, 1))))
    np.testing.assert_allclose(x1.numpy() + x2.numpy(), 1.0, atol=1e-6)
    assert sorted(np.round(x1.numpy()[:, 0, 0, 0] * 255).astype(int)) == [0, 40, 80, 120, 160, 200]
    x1, _ = next(iter(folder_pairs(tmp_path / "a", tmp_path / "b", image_size=(8, 8), channels=3, batch_size=2)))
    assert x1.shape == (2, 8, 8, 3)


def test_bad_pairs_are_refused_by_name(tmp_path, sprites):
    images = np.zeros((4, 8, 8, 1), "float32")
    cases = [
        ((images, np.zeros((4, 8, 9, 1), "float32")), ValueError, r"pairs must be aligned: the first observation has shape \(8, 8, 1\), the second \(8, 9, 1\)"),
        ((images, images[:3]), ValueError, "pairs must be aligned: 4 first observations but 3 second ones"),
        ((images, images[:0]), ValueError, "pairs: the second side is empty"),
        ((images, images + 2), ValueError, r"the second images of the pairs must lie in \[0, 1\]"),
        (tf.data.Dataset.from_tensor_slices((images, images, images)), ValueError, r"a pair dataset's elements must be \(x1, x2\)"),
        (tf.data.Dataset.from_tensor_slices((images, images[:, :4])), ValueError, "pairs must be aligned: the first image has shape"),
        (sprites, TypeError, r"a pair model trains on pairs: wrap the data set as GroundTruthPairs"),
        (images, TypeError, "cannot make pairs from ndarray"),
    ]
    for source, error, message in cases:
        with pytest.raises(error, match=message):
            pairs_dataset(source, batch_size=2, input_shape=(8, 8, 1))
    with pytest.raises(ValueError, match=r"the pairs hold observations of shape \(8, 8, 1\), but the model takes \(16, 16, 1\)"):
        pairs_dataset((images, images), input_shape=(16, 16, 1))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "a" / f"{i}.png")
    with pytest.raises(ValueError, match="pairs: the second folder .* holds no image files"):
        pairs_dataset((tmp_path / "a", tmp_path / "b"))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "b" / "0.png")
    with pytest.raises(ValueError, match="pairs must be aligned: .*a holds 2 images but .*b holds 1"):
        pairs_dataset((tmp_path / "a", tmp_path / "b"))
    with pytest.raises(FileNotFoundError, match="the first image folder is not found"):
        pairs_dataset((tmp_path / "missing", tmp_path / "b"))
    # A pair model fed single images says what it needs instead of failing deep inside TensorFlow.
    model = AdaMLVAE(latent_dim=2, input_shape=(8, 8, 1))
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"AdaMLVAE trains on pairs: batches \(x1, x2\)"):
        model.fit(tf.data.Dataset.from_tensor_slices(images).batch(2), verbose=0)
    with pytest.raises(ValueError, match="AdaGVAE does not support the capacity schedule"):
        AdaGVAE(capacity=10.0)
    with pytest.raises(ValueError, match="capacity belongs to objective 'capacity', not 'ada-gvae'"):
        build_model("ada-gvae", capacity=10.0)


# --------------------------------------------------------------------------- the command line
def test_cli_trains_on_pairs_and_resumes(tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "run"
    common = ["train", "--objective", "ada-gvae", "--pairs", "k=1", "--latent-dim", "2", "--batch-size", "4",
              "--precision", "float32", "--steps-per-epoch", "2", "--out", str(out)]
    assert main([*common, "--steps", "2"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["objective"] == "ada-gvae" and config["pairs"] == "k=1" and config["model"]["beta"] == 1.0
    assert "shared_dims" in capsys.readouterr().out
    assert main([*common, "--steps", "4"]) == 0  # the same command with more steps extends the run
    assert "Training steps 3-4" in capsys.readouterr().out
    assert int(keras.models.load_model(out / "model.keras").step_counter.numpy()) == 4

    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for i in range(4):
            Image.fromarray((np.random.default_rng(i).random((20, 20)) * 255).astype(np.uint8)).save(
                tmp_path / side / f"{i}.png"
            )
    folders = f"{tmp_path / 'a'},{tmp_path / 'b'}"
    out = tmp_path / "run_folders"
    assert main(["train", "--objective", "ada-ml-vae", "--pairs-from", folders, "--image-size", "16,16",
                 "--latent-dim", "2", "--batch-size", "2", "--steps", "2", "--beta", "2", "--out", str(out)]) == 0
    loaded = keras.models.load_model(out / "model.keras")
    assert type(loaded) is AdaMLVAE and loaded.image_shape == (16, 16, 1) and loaded.beta == 2.0
    assert json.loads((out / "config.json").read_text())["data"] == str(tmp_path / "a")

    for arguments, message in [
        (["--objective", "ada-gvae"], "--objective ada-gvae trains on pairs: give --pairs k=N"),
        (["--pairs", "k=1"], "--pairs and --pairs-from are for the objectives trained on pairs: ada-gvae, ada-ml-vae"),
        (["--objective", "ada-gvae", "--pairs", "1"], "--pairs must be k=N or k=random"),
        (["--objective", "ada-gvae", "--pairs", "k=5"], "k = 5 leaves no factor shared"),
        (["--objective", "ada-gvae", "--pairs-from", "onlyone"], "--pairs-from must be two image folders A,B"),
    ]:
        assert main(["train", *arguments, "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err
