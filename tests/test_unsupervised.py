"""Unsupervised scores (Gaussian total correlation, Wasserstein correlation, mutual information score): equal to
disentanglement_lib on the same codes, known answers, and data without factors (arrays, image folders, datasets)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import tensorflow as tf

from tfbetavae import BetaVAE
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics import catalogue, evaluate, scoring_record, unsupervised, unsupervised_from_codes
from tfbetavae.metrics.evaluation import METRICS, metrics_without_factors

unsupervised_module = importlib.import_module("tfbetavae.metrics.unsupervised")
gaussian_total_correlation = unsupervised_module.gaussian_total_correlation
gaussian_wasserstein_correlation = unsupervised_module.gaussian_wasserstein_correlation
image_chunks = unsupervised_module.image_chunks
mutual_info_score = unsupervised_module.mutual_info_score

QUIET = {"progress": False}


def independent_codes() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(1000, 5))


def correlated_codes() -> np.ndarray:
    mix = np.array([[1.0, 0.8, 0.0, 0.3], [0.0, 0.6, 0.0, 0.0], [0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 0.0, 0.8]])
    return np.random.default_rng(1).normal(size=(2000, 4)) @ mix * np.array([1.0, 2.0, 0.5, 3.0])


# disentanglement_lib at commit 86a644d4ed35c771560dc3360756363d35477357,
# evaluation/metrics/unsupervised_metrics.py `unsupervised_metrics` (its arithmetic after sampling: np.cov of the
# transposed codes, gaussian_total_correlation, gaussian_wasserstein_correlation and its /trace form, and
# utils.make_discretizer -> _histogram_discretize + utils.discrete_mutual_info with the diagonal zeroed, divided by
# d² − d), re-typed in a throwaway script and run with scikit-learn 1.9.1, SciPy 1.17.1, NumPy 2.4.6 on the codes
# above: independent_codes() (np.random.default_rng(0).normal(size=(1000, 5))) and correlated_codes().
DISENTANGLEMENT_LIB = {
    ("independent", 20): (0.007398101579154076, 0.007357958237205864, 0.001485877620546368, 0.15480205809189823),
    ("independent", 10): (0.007398101579154076, 0.007357958237205864, 0.001485877620546368, 0.040837666490280145),
    ("correlated", 20): (0.7119351601696412, 0.9388601399295844, 0.06780272772259262, 0.18499478192616423),
    ("correlated", 10): (0.7119351601696412, 0.9388601399295844, 0.06780272772259262, 0.12487765626885633),
}


@pytest.mark.parametrize("name, num_bins", sorted(DISENTANGLEMENT_LIB))
def test_equal_to_disentanglement_lib_on_the_same_codes(name, num_bins):
    codes = {"independent": independent_codes, "correlated": correlated_codes}[name]()
    ours = unsupervised_from_codes(codes, num_bins)
    assert tuple(ours) == unsupervised_module.KEYS
    np.testing.assert_allclose([ours[key] for key in ours], DISENTANGLEMENT_LIB[name, num_bins], rtol=1e-8)


def test_known_answers_of_a_two_dimensional_gaussian():
    for rho in (0.0, 0.3, 0.9, -0.6):
        covariance = np.array([[1.0, rho], [rho, 1.0]])
        # KL(N(0, Σ) ‖ N(0, I)) = −½ log(1 − ρ²); W² = 2·2 − 2(√(1 + ρ) + √(1 − ρ)) (eigenvalues 1 ± ρ)
        assert gaussian_total_correlation(covariance) == pytest.approx(-0.5 * math.log(1 - rho**2), abs=1e-12)
        expected = 4 - 2 * (math.sqrt(1 + rho) + math.sqrt(1 - rho))
        assert gaussian_wasserstein_correlation(covariance) == pytest.approx(expected, abs=1e-12)
    # Rescaling a dimension changes neither the total correlation nor (all together) the normalised distance.
    codes = correlated_codes()
    base = unsupervised_from_codes(codes)
    rescaled = unsupervised_from_codes(codes * np.array([10.0, 0.1, 3.0, 1.0]))
    assert rescaled["gaussian_total_correlation"] == pytest.approx(base["gaussian_total_correlation"], rel=1e-12)
    assert rescaled["mutual_info_score"] == pytest.approx(base["mutual_info_score"], rel=1e-12)
    scaled = unsupervised_from_codes(codes * 7.0)
    norm = "gaussian_wasserstein_correlation_norm"
    assert scaled[norm] == pytest.approx(base[norm], rel=1e-10)
    assert scaled["gaussian_wasserstein_correlation"] == pytest.approx(49 * base["gaussian_wasserstein_correlation"])


def test_independent_codes_score_near_zero_and_dependent_ones_do_not():
    rng = np.random.default_rng(3)
    independent = rng.uniform(size=(20000, 3))
    scores = unsupervised_from_codes(independent)
    assert scores["gaussian_total_correlation"] < 1e-3 and scores["gaussian_wasserstein_correlation_norm"] < 1e-3
    assert scores["mutual_info_score"] < 0.02  # plug-in bias only: (20 − 1)² / (2 · 20000) ≈ 0.009 nats
    # Two copies of one variable: the mutual information is the entropy of its 20 equally filled bins, log 20.
    values = np.repeat(np.arange(20.0), 50)
    assert mutual_info_score(np.stack([values, 3 * values + 1], axis=1)) == pytest.approx(math.log(20), rel=1e-12)
    assert math.isinf(gaussian_total_correlation(np.cov(np.stack([values, 2 * values], axis=1), rowvar=False)))


def test_a_constant_dimension_is_independent_of_the_rest():
    codes = correlated_codes()
    with_constant = np.concatenate([codes, np.full((len(codes), 1), 2.5)], axis=1)
    base, extended = unsupervised_from_codes(codes), unsupervised_from_codes(with_constant)
    assert extended["gaussian_total_correlation"] == pytest.approx(base["gaussian_total_correlation"], rel=1e-12)
    assert extended["gaussian_wasserstein_correlation"] == pytest.approx(base["gaussian_wasserstein_correlation"])
    # the mean over d(d − 1) ordered pairs: the constant adds pairs of zero information
    assert extended["mutual_info_score"] == pytest.approx(base["mutual_info_score"] * 12 / 20, rel=1e-12)
    assert unsupervised_from_codes(np.ones((10, 3))) == dict.fromkeys(unsupervised_module.KEYS, 0.0)


def test_bad_codes_are_refused_by_name():
    with pytest.raises(ValueError, match="at least 2, got 1"):
        unsupervised_from_codes(np.ones((10, 1)))
    with pytest.raises(ValueError, match="2-D"):
        unsupervised_from_codes(np.ones(10))
    with pytest.raises(ValueError, match="NaN"):
        unsupervised_from_codes(np.array([[0.0, 1.0], [np.nan, 2.0]]))
    with pytest.raises(ValueError, match="at least 2 points"):
        unsupervised_from_codes(np.ones((1, 3)))
    with pytest.raises(ValueError, match="num_bins"):
        unsupervised_from_codes(independent_codes(), num_bins=0)


# --- on data, with and without factors ---------------------------------------------------------------------------
def pixels(images: np.ndarray) -> np.ndarray:
    """The first three pixels as the code."""
    return np.asarray(images, np.float32).reshape(len(images), -1)[:, :3]


def mixed_pixels(images: np.ndarray) -> np.ndarray:
    """Pixels 0 and 0 + 1: correlation 1/√2 for independent uniform pixels, total correlation ½ log 2."""
    flat = np.asarray(images, np.float32).reshape(len(images), -1)
    return np.stack([flat[:, 0], flat[:, 0] + flat[:, 1]], axis=1)


def random_images(count: int = 400, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(count, 2, 2, 1)).astype(np.float32)


def test_an_array_of_images_without_factors():
    images = random_images(5000)
    scores = unsupervised(mixed_pixels, images, num_train=5000, seed=1, **QUIET)
    # sampling error of the estimate ≈ 0.02 (about 3,200 distinct images among the 5,000 draws)
    assert scores["gaussian_total_correlation"] == pytest.approx(0.5 * math.log(2), abs=0.06)
    assert unsupervised(pixels, images, num_train=5000, seed=1, **QUIET)["gaussian_total_correlation"] < 0.01
    # exactly the codes of the images image_chunks draws for that seed (uniformly, with replacement)
    drawn = np.concatenate(list(image_chunks(images, 500, seed=4)))
    assert unsupervised(pixels, images, num_train=500, seed=4, **QUIET) == unsupervised_from_codes(pixels(drawn))
    as_uint8 = np.round(images * 255).astype(np.uint8)
    assert unsupervised(pixels, as_uint8, num_train=300, **QUIET) == unsupervised(pixels, as_uint8 / 255.0,
                                                                                  num_train=300, **QUIET)
    # evaluate: without names, every metric the data allows; the flat keys carry the metric's name
    flat = evaluate(mixed_pixels, images, num_train=5000, seed=1, **QUIET)
    assert flat == {f"unsupervised_{key}": value for key, value in scores.items()}


def write_pngs(folder, count: int = 24, size: int = 6) -> None:
    """PNGs whose pixel (0, 1) repeats pixel (0, 0) and pixel (1, 0) is drawn on its own."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    for index in range(count):
        image = rng.integers(0, 256, size=(size, size, 1)).astype(np.uint8)
        image[0, 1] = image[0, 0]
        tf.io.write_file(str(folder / f"{index:03d}.png"), tf.io.encode_png(image))


def test_an_image_folder_without_factors(tmp_path):
    folder = tmp_path / "images"
    write_pngs(folder)

    def same_pixel_twice(images):
        return np.stack([images[:, 0, 0, 0], images[:, 0, 1, 0]], axis=1)

    def two_pixels(images):
        return np.stack([images[:, 0, 0, 0], images[:, 1, 0, 0]], axis=1)

    # read at the files' own size (a function says none): the repeated pixel arrives intact, so the dimensions
    # are one variable twice (infinite total correlation), and the other pair is far from it
    twice = unsupervised(same_pixel_twice, folder, num_train=100, **QUIET)
    assert math.isinf(twice["gaussian_total_correlation"])
    assert unsupervised(two_pixels, str(folder), num_train=100, **QUIET)["gaussian_total_correlation"] < 0.2
    # a model reads the folder at its own size (6×6 files resized to 16×16) through evaluate, by path
    model = BetaVAE(latent_dim=3, input_shape=(16, 16, 1), seed=0)
    scores = evaluate(model, str(folder), names=["unsupervised"], num_train=64, **QUIET)
    assert set(scores) == set(catalogue.metric_keys()["unsupervised"])
    assert all(np.isfinite(value) for value in scores.values())
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images")
    with pytest.raises(ValueError, match="no image files"):
        unsupervised(two_pixels, empty, num_train=10, **QUIET)


def test_a_tf_dataset_and_ground_truth_data():
    images = random_images(64)
    dataset = tf.data.Dataset.from_tensor_slices(images)
    scores = unsupervised(pixels, dataset, num_train=200, **QUIET)
    assert scores["gaussian_total_correlation"] < 0.1

    class TwoFactors(GroundTruthData):
        """The 2×2 image holds two independent factors (and two copies of the first)."""

        factor_names, factor_sizes, observation_shape = ("a", "b"), (8, 8), (2, 2, 1)

        def _render(self, factors, rng):
            values = factors / 7.0
            return np.stack([values[:, 0], values[:, 1], values[:, 0], values[:, 0]], 1).reshape(-1, 2, 2, 1)

    def first_two(images):
        return pixels(images)[:, :2]

    assert unsupervised(first_two, TwoFactors(), num_train=3000, **QUIET)["gaussian_total_correlation"] < 0.01
    # the third pixel repeats the first: one variable twice
    assert math.isinf(unsupervised(pixels, TwoFactors(), num_train=3000, **QUIET)["gaussian_total_correlation"])


def test_evaluate_refuses_factor_metrics_on_data_without_factors():
    images = random_images(20)
    assert "unsupervised" in metrics_without_factors() and "mig" not in metrics_without_factors()
    assert set(metrics_without_factors()) <= set(METRICS)
    with pytest.raises(ValueError, match=r"mig, dci need data with known factors.*choose from \[.*'unsupervised'"):
        evaluate(pixels, images, names=["mig", "dci", "unsupervised"])
    with pytest.raises(ValueError, match="mig needs data with known factors"):
        evaluate(pixels, tf.data.Dataset.from_tensor_slices(images), names=["mig"])


def test_bad_data_is_refused_by_name():
    with pytest.raises(ValueError, match=r"add it: images\[\.\.\., None\]"):
        unsupervised(pixels, np.zeros((10, 4, 4)), **QUIET)
    with pytest.raises(ValueError, match="holds no images"):
        unsupervised(pixels, np.zeros((0, 4, 4, 1)), **QUIET)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        unsupervised(pixels, np.full((10, 2, 2, 1), 3.0), num_train=10, **QUIET)
    with pytest.raises(TypeError, match="cannot draw images from dict"):
        unsupervised(pixels, {"images": 1}, **QUIET)
    with pytest.raises(FileNotFoundError):
        unsupervised(pixels, "/no/such/folder", **QUIET)
    with pytest.raises(ValueError, match="num_train"):
        unsupervised(pixels, random_images(10), num_train=0, **QUIET)


def test_catalogue_protocol_and_scoring_record():
    info = catalogue.METRIC_INFO["unsupervised"]
    assert not info.needs_factors and info.main == "unsupervised_gaussian_total_correlation"
    assert catalogue.direction("unsupervised_mutual_info_score") is False
    assert catalogue.sizes("unsupervised", "fast") == {"num_train": 1000}
    record = scoring_record(["unsupervised"], seed=3, protocol="disentanglement_lib", num_train=500)
    assert record == {"protocol": "disentanglement_lib", "metric_sizes": {"unsupervised": {"num_train": 500}}, "seed": 3}
    with pytest.raises(ValueError, match="num_bins"):
        evaluate(pixels, random_images(20), ["unsupervised"], protocol="disentanglement_lib", num_bins=10)
