"""UDR (Duan et al. 2020): equal to disentanglement_lib's compute_udr_sklearn on the same codes and KLs, known
answers (a permuted, sign-flipped copy; independent codes; a collapsed dimension), settings and UDR-A2A, real models
(a BetaVAE and a copy whose encoder's last layer is permuted; a .keras file; an export) on data without factors."""

from __future__ import annotations

import importlib
import itertools
import json

import numpy as np
import pytest
import tensorflow as tf

from tfbetavae import BetaVAE
from tfbetavae.export import export_saved_model
from tfbetavae.metrics import UDRResult, udr, udr_from_codes

udr_module = importlib.import_module("tfbetavae.metrics.udr")
relative_strength = udr_module.relative_strength

QUIET = {"progress": False}


def dlib_inputs() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Four models' codes of the same 1,000 points and their KLs (two dimensions below the 0.01 nats filter)."""
    rng = np.random.default_rng(2)
    base = rng.normal(size=(1000, 5))
    flipped = -base[:, [3, 0, 4, 1, 2]] * np.array([1.0, 2.0, 0.5, 1.0, 3.0]) + 0.3 * rng.normal(size=(1000, 5))
    mixed = base @ rng.normal(size=(5, 5)) + 0.5 * rng.normal(size=(1000, 5))
    noise = rng.normal(size=(1000, 5))
    kls = [np.array([1.0, 0.5, 2.0, 0.005, 1.5]), np.array([0.8, 0.9, 0.002, 1.2, 0.7]),
           np.array([0.3, 0.4, 0.5, 0.6, 0.7]), np.array([1.0, 1.0, 1.0, 1.0, 0.0])]
    return [base, flipped, mixed, noise], kls


# disentanglement_lib at commit 86a644d4ed35c771560dc3360756363d35477357, evaluation/udr/metrics/udr.py
# `compute_udr_sklearn` after `_generate_representation_dataset` (StandardScaler, the KL mask, lasso_correlation_matrix
# with Lasso(alpha=0.1) or spearman_correlation_conv, relative_strength_disentanglement, the median over pairs),
# re-typed in a throwaway script and run with scikit-learn 1.9.1, SciPy 1.17.1, NumPy 2.4.6 on dlib_inputs() above
# (np.random.default_rng(2)), kl_filter_threshold=0.01, filter_low_kl=True. Rows: "model_scores"; the pair scores
# are its "pairwise_disentanglement_scores" [a][b] (diagonal 0 there, NaN here).
DISENTANGLEMENT_LIB = {
    "lasso": {
        "model_scores": [0.3406360410228642, 0.34743504759028826, 0.23366711646365285, 0.0],
        "pairwise": [[0.0, 0.6606405156813423, 0.23877602551361515, 0.0],
                     [0.6606405156813426, 0.0, 0.23366711646365285, 0.0],
                     [0.3406360410228642, 0.34743504759028826, 0.0, 0.0],
                     [0.0, 0.0, 0.0, 0.0]],
    },
    "spearman": {
        "model_scores": [0.24368027374257914, 0.23963702103316303, 0.23963702103316303, 0.025409696654465568],
        "pairwise": [[0.0, 0.6910641467566653, 0.24368027374257914, 0.025604469011640332],
                     [0.6910641467566653, 0.0, 0.23963702103316303, 0.025409696654465568],
                     [0.24368027374257914, 0.23963702103316303, 0.0, 0.022434661309348437],
                     [0.025604469011640332, 0.025409696654465568, 0.022434661309348437, 0.0]],
    },
}


@pytest.mark.parametrize("correlation", sorted(DISENTANGLEMENT_LIB))
def test_equal_to_disentanglement_lib_on_the_same_codes(correlation):
    codes, kls = dlib_inputs()
    result = udr_from_codes(codes, kls, correlation=correlation)
    expected = DISENTANGLEMENT_LIB[correlation]
    np.testing.assert_allclose(result.scores, expected["model_scores"], rtol=1e-9, atol=1e-12)
    off_diagonal = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(result.pairwise[off_diagonal], np.array(expected["pairwise"])[off_diagonal],
                               rtol=1e-9, atol=1e-12)
    assert np.isnan(np.diag(result.pairwise)).all()
    assert result.informative_dims == ((0, 1, 2, 4), (0, 1, 3, 4), (0, 1, 2, 3, 4), (0, 1, 2, 3))
    # one setting: UDR-A2A is the same median
    assert result.a2a_scores == result.scores and set(result.setting_scores) == {"all"}


def test_relative_strength_known_answers():
    # disentanglement_lib's udr_test.py matrices (2/3 and 1/3 there as ranges), and one worked by hand:
    # columns .7²/.9 and .9²/1.4, rows .9²/1.1, .7²/.8, .4²/.4 → (0.5615 + 0.5830) / 2
    assert relative_strength(np.eye(3)) == 1.0
    assert relative_strength([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) == pytest.approx(2 / 3)
    assert relative_strength(np.ones((3, 3))) == pytest.approx(1 / 3)
    assert relative_strength([[0.2, 0.9], [0.7, 0.1], [0.0, 0.4]]) == pytest.approx(0.5722312409812409, rel=1e-12)
    assert relative_strength(np.zeros((3, 3))) == 0.0
    assert relative_strength(np.zeros((0, 3))) == 0.0  # a model without informative dimensions


def permuted_copy(codes: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    order = rng.permutation(codes.shape[1])
    return codes[:, order] * rng.choice([-3.0, -0.5, 2.0], size=codes.shape[1]) + rng.normal(size=codes.shape[1])


def test_a_permuted_sign_flipped_copy_and_independent_codes():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1000, 4)) @ rng.normal(size=(4, 4))  # correlated dimensions
    kl = np.ones(4)
    # Lasso: the standardised coefficient of a perfect match shrinks to exactly 1 − alpha, the others stay 0
    for alpha in (0.1, 0.25):
        result = udr_from_codes([base, permuted_copy(base)], [kl, kl], alpha=alpha)
        np.testing.assert_allclose(result.scores, [1 - alpha] * 2, rtol=1e-9)
    # Spearman: 1 when the dimensions are uncorrelated (a full factorial design), lower when they correlate
    grid = np.array(list(itertools.product(range(4), repeat=3)), float)
    grid_result = udr_from_codes([grid, permuted_copy(grid, 1)], None, correlation="spearman", kl_threshold=None)
    np.testing.assert_allclose(grid_result.scores, [1.0, 1.0], rtol=1e-12)
    correlated = udr_from_codes([base, permuted_copy(base)], [kl, kl], correlation="spearman").scores
    assert correlated[0] == pytest.approx(0.5448, abs=1e-4)  # docs/metrics.md quotes it (0.54)
    # independent codes: the Lasso keeps no coefficient, Spearman's correlations are noise of size 1/√n
    noise = [rng.normal(size=(1000, 4)) for _ in range(3)]
    assert udr_from_codes(noise, [kl] * 3).scores == (0.0, 0.0, 0.0)
    assert max(udr_from_codes(noise, [kl] * 3, correlation="spearman").scores) < 0.05


def test_a_collapsed_dimension_is_filtered_out():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(1000, 4))
    first = np.concatenate([base, rng.normal(size=(1000, 1))], axis=1)  # a fifth dimension of noise ...
    second = np.concatenate([permuted_copy(base), rng.normal(size=(1000, 1))], axis=1)
    kl = np.array([1.0, 1.0, 1.0, 1.0, 0.001])  # ... that carries no information (KL ≈ 0)
    np.testing.assert_allclose(udr_from_codes([first, second], [kl, kl]).scores, [0.9, 0.9], rtol=1e-9)
    # kept, the noise dimensions add a row and a column of zeros: 4 of 5 means of 0.9
    unfiltered = udr_from_codes([first, second], None, kl_threshold=None)
    np.testing.assert_allclose(unfiltered.scores, [0.72, 0.72], rtol=1e-9)
    assert udr_from_codes([first, second], [kl, kl], kl_threshold=0.0).scores == unfiltered.scores


def test_settings_a2a_and_the_result():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(500, 3))
    codes = [base, permuted_copy(base, 1), permuted_copy(base, 2)] + [rng.normal(size=(500, 3)) for _ in range(3)]
    settings = ["beta=4"] * 3 + ["beta=1"] * 3
    result = udr_from_codes(codes, [np.ones(3)] * 6, settings)
    np.testing.assert_allclose(result.scores, [0.9, 0.9, 0.9, 0.0, 0.0, 0.0], atol=1e-9)
    assert result.best_setting == "beta=4"
    good = result.setting_scores["beta=4"]
    assert good["udr"] == pytest.approx(0.9) and good["models"] == 3 and good["min"] == pytest.approx(0.9)
    # across settings, each good model is compared with 2 good and 3 unrelated ones: its median is near 0
    assert max(result.a2a_scores) < 0.05 and good["udr_a2a"] < 0.05
    assert set(result.spread[0]) == {"min", "q1", "median", "q3", "max"}
    assert result.spread[0]["median"] == result.scores[0]
    made = result.made_with
    assert made["correlation"] == "lasso" and made["alpha"] == 0.1 and made["kl_threshold"] == 0.01
    assert made["num_points"] == 500 and made["latent_dim"] == 3 and made["aggregate"] == "median over pairs"
    written = json.loads(json.dumps(result.as_dict()))
    assert written["models"][0]["setting"] == "beta=4" and written["pairwise"][0][0] is None


def test_bad_codes_are_refused_by_name():
    codes = [np.ones((10, 3)), np.ones((10, 3))]
    with pytest.raises(ValueError, match="at least 2 models, got 1"):
        udr_from_codes(codes[:1], kl_threshold=None)
    with pytest.raises(ValueError, match=r"different latent sizes \(\[0\]: 3, \[1\]: 4\)"):
        udr_from_codes([np.ones((10, 3)), np.ones((10, 4))], kl_threshold=None)
    with pytest.raises(ValueError, match="setting 'b' has 1 model"):
        udr_from_codes(codes + [np.ones((10, 3))], settings=["a", "a", "b"], kl_threshold=None)
    with pytest.raises(ValueError, match="needs each model's per-dimension KL"):
        udr_from_codes(codes)
    with pytest.raises(ValueError, match="unknown correlation 'pearson'"):
        udr_from_codes(codes, correlation="pearson", kl_threshold=None)
    with pytest.raises(ValueError, match="the KL must be 3 finite numbers"):
        udr_from_codes(codes, [np.ones(3), np.ones(2)])
    with pytest.raises(ValueError, match="NaN"):
        udr_from_codes([np.ones((10, 3)), np.full((10, 3), np.nan)], kl_threshold=None)


# --- real models, data without factors ------------------------------------------------------------------------------
LATENT = 4
ORDER, SIGNS = np.array([2, 0, 3, 1]), np.array([-1.0, 1.0, -1.0, 1.0])


def informative_model() -> BetaVAE:
    """An untrained tiny BetaVAE whose means are scaled up (KL well above 0.01) and whose dimension 1 is collapsed:
    mean 0 and log-variance 0 whatever the image, so its KL is exactly 0."""
    model = BetaVAE(latent_dim=LATENT, input_shape=(8, 8, 1), seed=0)
    kernel, bias = model.encoder.moments.get_weights()
    kernel[:, :LATENT] *= 1000.0
    kernel[:, 1], bias[1] = 0.0, 0.0
    kernel[:, LATENT + 1], bias[LATENT + 1] = 0.0, 0.0
    model.encoder.moments.set_weights([kernel, bias])
    return model


def permuted_model(model: BetaVAE) -> BetaVAE:
    """The same network with its latent dimensions reordered and some signs flipped (in the encoder's last layer)."""
    copy = BetaVAE.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    kernel, bias = copy.encoder.moments.get_weights()
    mean_kernel, log_variance_kernel = kernel[:, :LATENT], kernel[:, LATENT:]
    kernel = np.concatenate([mean_kernel[:, ORDER] * SIGNS, log_variance_kernel[:, ORDER]], axis=1)
    bias = np.concatenate([bias[:LATENT][ORDER] * SIGNS, bias[LATENT:][ORDER]])
    copy.encoder.moments.set_weights([kernel, bias])
    return copy


@pytest.fixture(scope="module")
def models():
    model = informative_model()
    return model, permuted_model(model)


def images(count: int = 300, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(count, 8, 8, 1)).astype(np.float32)


def test_a_model_and_its_permuted_copy_on_an_array_of_images(models):
    model, copy = models
    sample = images(5)
    np.testing.assert_allclose(np.asarray(copy.encode(sample)), np.asarray(model.encode(sample))[:, ORDER] * SIGNS,
                               atol=1e-5)
    result = udr([model, copy], images(), num_points=200, **QUIET)
    np.testing.assert_allclose(result.scores, [0.9, 0.9], rtol=1e-6)
    # the collapsed dimension (1 in the model, where ORDER puts it in the copy: 3) is left out
    assert result.informative_dims == ((0, 2, 3), (0, 1, 2))
    # kept, its constant means give a row and a column of zeros: (3 × 0.9 / 4 + 3 × 0.9 / 4) / 2
    np.testing.assert_allclose(udr([model, copy], images(), num_points=200, kl_threshold=None, **QUIET).scores,
                               [0.675, 0.675], rtol=1e-6)
    assert result.made_with["seed"] == 0 and result.made_with["data"] == "ndarray"
    assert isinstance(result, UDRResult)


def test_settings_of_models_from_files_and_an_image_folder(models, tmp_path):
    model, copy = models
    model.save(tmp_path / "model.keras")
    exported = export_saved_model(copy, tmp_path / "export", version=1)
    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(images(12, seed=1)):
        tf.io.write_file(str(folder / f"{index}.png"), tf.io.encode_png(np.uint8(image * 255)))
    other = BetaVAE(latent_dim=LATENT, input_shape=(8, 8, 1), seed=7)
    result = udr({"same": [str(tmp_path / "model.keras"), exported], "scaled": [informative_model(), other]},
                 folder, num_points=60, **QUIET)
    assert result.models[:2] == (str(tmp_path / "model.keras"), str(exported))
    assert result.settings == ("same", "same", "scaled", "scaled")
    np.testing.assert_allclose(result.scores[:2], [0.9, 0.9], rtol=1e-5)  # a .keras file against an export
    assert result.best_setting == "same"
    # an untrained model's KLs are all below 0.01: no informative dimension, so every pair with it scores 0
    assert result.informative_dims[3] == () and result.scores[2:] == (0.0, 0.0)


def test_bad_models_are_refused_by_name(models):
    model, copy = models
    data = images(20)
    with pytest.raises(ValueError, match="at least 2 models, got 1"):
        udr([model], data, **QUIET)
    with pytest.raises(TypeError, match="give a list of them"):
        udr(model, data, **QUIET)
    with pytest.raises(ValueError, match="setting 'b' has 1 model"):
        udr({"a": [model, copy], "b": [model]}, data, **QUIET)
    smaller = BetaVAE(latent_dim=3, input_shape=(8, 8, 1), seed=0)
    with pytest.raises(ValueError, match="different latent sizes"):
        udr([model, smaller], data, **QUIET)
    with pytest.raises(TypeError, match="the KL filter needs each model's posterior log-variance"):
        udr([model, lambda x: np.asarray(model.encode(x))], data, **QUIET)
    # without the filter, any function images → codes takes part
    plain = udr([model, lambda x: np.asarray(copy.encode(x))], data, num_points=20, kl_threshold=None, **QUIET)
    assert plain.models == ("[0]", "[1]") and plain.made_with["kl_threshold"] is None
    with pytest.raises(ValueError, match="num_points"):
        udr([model, copy], data, num_points=0, **QUIET)
