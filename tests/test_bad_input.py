"""Property-based tests: whatever garbage reaches a public entry point, the answer is a clear error.

Each property draws arrays of random rank, size, dtype and values (NaN, inf, huge, empty) and checks that
the call either succeeds on valid input or raises ValueError with a message naming the problem — never
a TensorFlow stack trace — and that nothing on disk changes.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfbetavae import BetaVAE, ProceduralDSprites
from tfbetavae.training import atomic_save, load_model

MODEL = BetaVAE(latent_dim=3, input_shape=(16, 16, 1), seed=0)
SPRITES = ProceduralDSprites()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CASES = {"count": 0}

dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8, np.int64, np.bool_])
special = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, -0.5, 1.5, 0.0, 1.0, 0.5])


@st.composite
def image_arrays(draw):
    rank = draw(st.integers(0, 5))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 3, 15, 16])) for _ in range(rank))
    if draw(st.booleans()) and rank == 4:
        shape = (shape[0], 16, 16, draw(st.sampled_from([1, 3])))
    dtype = draw(dtypes)
    array = draw(hnp.arrays(dtype, shape, elements=None if dtype in (np.bool_, np.uint8) else None))
    if array.size and np.issubdtype(array.dtype, np.floating) and draw(st.booleans()):
        array.flat[draw(st.integers(0, array.size - 1))] = draw(special)
    return array


def _valid_image_batch(array):
    if array.ndim != 4 or array.shape[1:] != (16, 16, 1):
        return False
    if array.dtype == np.uint8:
        return True
    values = array.astype(np.float64)
    return bool(np.all(np.isfinite(values)) and (values.size == 0 or (values.min() >= 0 and values.max() <= 1)))


@SETTINGS
@given(image_arrays())
def test_encode_accepts_valid_batches_and_names_the_problem_otherwise(array):
    CASES["count"] += 1
    if _valid_image_batch(array) and array.shape[0] > 0:
        assert MODEL.encode(array).shape == (array.shape[0], 3)
        return
    if _valid_image_batch(array):  # empty batch: a valid, empty answer
        assert MODEL.encode(array).shape[0] == 0
        return
    with pytest.raises(ValueError, match="images|shape|NaN|infinite|numeric|4-D"):
        MODEL.encode(array)


@SETTINGS
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=0, max_dims=3),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=32) | st.just(0.0)))
def test_decode_checks_codes(codes):
    CASES["count"] += 1
    valid = codes.ndim == 2 and codes.shape[1] == 3 and np.all(np.isfinite(codes.astype(np.float64)))
    if valid:
        images = MODEL.decode(codes).numpy()
        assert images.shape == (codes.shape[0], 16, 16, 1) and np.all((images >= 0) & (images <= 1))
    else:
        with pytest.raises(ValueError, match="codes"):
            MODEL.decode(codes)


@SETTINGS
@given(hnp.arrays(np.int64, st.tuples(st.integers(0, 4), st.integers(0, 7)), elements=st.integers(-50, 50)))
def test_factor_matrices_are_validated(factors):
    CASES["count"] += 1
    sizes = np.array(SPRITES.factor_sizes)
    valid = factors.shape[1] == 5 and ((factors >= 0) & (factors < sizes[: factors.shape[1]])).all()
    if valid:
        images = SPRITES.sample_observations_from_factors(factors, np.random.default_rng(0))
        assert images.shape == (factors.shape[0], 64, 64, 1)
    else:
        with pytest.raises(ValueError, match="factors must have shape|out of range"):
            SPRITES.sample_observations_from_factors(factors, np.random.default_rng(0))


@SETTINGS
@given(st.one_of(st.text(max_size=8), st.integers(-10, 10), st.floats(allow_nan=True)))
def test_unknown_factors_are_named(factor):
    CASES["count"] += 1
    known = factor in SPRITES.factor_names or (isinstance(factor, int) and 0 <= factor < 5)
    if known:
        assert 0 <= SPRITES.factor_index(factor) < 5
    else:
        with pytest.raises((ValueError, TypeError), match="unknown factor|cannot convert|NaN|invalid"):
            SPRITES.factor_index(factor)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    return atomic_save(MODEL, folder / "model.keras")


@SETTINGS
@given(st.data())
def test_corrupt_or_truncated_keras_files_are_refused(saved, tmp_path_factory, data):
    CASES["count"] += 1
    original = saved.read_bytes()
    cut = data.draw(st.integers(0, len(original) - 1))
    flip = data.draw(st.booleans())
    damaged = bytearray(original[:cut] if not flip else original)
    if flip:
        for _ in range(data.draw(st.integers(1, 50))):
            position = data.draw(st.integers(0, len(damaged) - 1))
            damaged[position] ^= 0xFF
    target = tmp_path_factory.mktemp("bad") / "model.keras"
    target.write_bytes(bytes(damaged))
    try:
        model = load_model(target)
    except ValueError as error:
        assert str(target) in str(error)
    else:  # flipped bytes that landed in slack space (zip comments, padding) may still load
        assert isinstance(model, BetaVAE)
    assert saved.read_bytes() == original


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tfbetavae.export import export_saved_model, load_exported

    return load_exported(export_saved_model(MODEL, tmp_path_factory.mktemp("exports") / "betavae"))


@SETTINGS
@given(image_arrays())
def test_exported_encode_signature_accepts_valid_batches_and_names_the_problem_otherwise(served, array):
    CASES["count"] += 1
    files_before = sorted(p.name for p in served.path.rglob("*"))
    if _valid_image_batch(array) and array.shape[0] > 0:
        outputs = served.encode(array)
        assert outputs["mean"].shape == (array.shape[0], 3)
        np.testing.assert_allclose(outputs["mean"], MODEL.encode(array).numpy(), atol=1e-5)
    else:
        with pytest.raises(ValueError, match="images|shape|NaN|infinite|numeric|empty"):
            served.encode(array)
    assert sorted(p.name for p in served.path.rglob("*")) == files_before


def test_run_folder_from_another_version_and_missing_files(tmp_path):
    (tmp_path / "config.json").write_text('{"tfbetavae_version": "9.9"}')
    with pytest.raises(ValueError, match="another tfbetavae run format"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(ValueError, match="corrupt run config"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="model not found"):
        load_model(tmp_path / "nothing.keras")


def test_report_case_count():
    """Runs last in this file: prints how many generated cases the properties above checked."""
    print(f"\nproperty-based cases run: {CASES['count']}")
    assert CASES["count"] >= 5 * 60  # six properties of up to 60 examples each
