"""Property-based tests: whatever garbage reaches a public entry point, the answer is a clear error.

Each property draws inputs of random rank, size, dtype and values (NaN, inf, huge, empty), random names,
configurations and damaged files, and checks that the call either succeeds on valid input or raises
ValueError (TypeError for a wrong kind of argument) with a message naming the problem — never a TensorFlow
stack trace — and that nothing on disk changes. The cheap properties (no TensorFlow call) run many examples,
the ones that call the model fewer; together more than 1000 cases a run, counted and printed at the end.
"""

import argparse
import contextlib
import functools
import io
import json
import math
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tfbetavae import BetaVAE, ProceduralDSprites
from tfbetavae.cli import build_parser, int_at_least
from tfbetavae.cli.train_command import parse_ints
from tfbetavae.data import check_images, load_dsprites_npz
from tfbetavae.metrics import check_metric_names
from tfbetavae.training import atomic_save, load_model
from tfbetavae.tuning import BetaVAEHyperModel, check_settings, constrained_score, format_number

MODEL = BetaVAE(latent_dim=3, input_shape=(16, 16, 1), seed=0)
SPRITES = ProceduralDSprites()
MODEL_CALLS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHEAP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CASES: Counter = Counter()
MINIMUM_CASES = 1000

dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8, np.int64, np.bool_])
special = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, -0.5, 1.5, 0.0, 1.0, 0.5])
junk = st.one_of(st.none(), st.booleans(), st.text(max_size=6), st.integers(-10**6, 10**6),
                 st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(-3, 3), max_size=3))


def counted(test):
    """Counts every example a property runs (shrinking included) under the property's name."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        CASES[test.__name__] += 1
        return test(*args, **kwargs)

    return wrapper


@pytest.fixture(scope="module", autouse=True)
def _print_case_count(request):
    """Prints the number of generated cases once this file's tests are done (shown even without -s)."""
    yield
    line = f"property-based cases run: {sum(CASES.values())} ({', '.join(f'{k} {v}' for k, v in sorted(CASES.items()))})"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{line}")


@st.composite
def image_arrays(draw, size=16):
    rank = draw(st.integers(0, 5))
    shape = tuple(draw(st.sampled_from([0, 1, 2, 3, size - 1, size])) for _ in range(rank))
    if draw(st.booleans()) and rank == 4:
        shape = (shape[0], size, size, draw(st.sampled_from([1, 3])))
    dtype = draw(dtypes)
    array = draw(hnp.arrays(dtype, shape))
    if array.size and np.issubdtype(array.dtype, np.floating) and draw(st.booleans()):
        array.flat[draw(st.integers(0, array.size - 1))] = draw(special)
    return array


def _valid_values(array) -> bool:
    """What ``check_images`` accepts: uint8 (scaled by 1/255), or values that are finite and in [0, 1] as float32."""
    if array.dtype == np.uint8:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        values = array.astype(np.float32)
    return bool(np.all(np.isfinite(values)) and (values.size == 0 or (values.min() >= 0 and values.max() <= 1)))


def _valid_image_batch(array) -> bool:
    return array.ndim == 4 and array.shape[1:] == (16, 16, 1) and array.shape[0] > 0 and _valid_values(array)


# --------------------------------------------------------------------------- arrays into the model (TensorFlow)
@MODEL_CALLS
@given(image_arrays())
@counted
def test_encode_accepts_valid_batches_and_names_the_problem_otherwise(array):
    if _valid_image_batch(array):
        assert MODEL.encode(array).shape == (array.shape[0], 3)
        return
    with pytest.raises(ValueError, match="images|shape|NaN|infinite|numeric|4-D|empty"):
        MODEL.encode(array)


@MODEL_CALLS
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=0, max_dims=3),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=32) | st.just(0.0)))
@counted
def test_decode_checks_codes(codes):
    valid = codes.ndim == 2 and codes.shape[1] == 3 and np.all(np.isfinite(codes.astype(np.float64)))
    if valid:
        images = MODEL.decode(codes).numpy()
        assert images.shape == (codes.shape[0], 16, 16, 1) and np.all((images >= 0) & (images <= 1))
    else:
        with pytest.raises(ValueError, match="codes"):
            MODEL.decode(codes)


# --------------------------------------------------------------------------- arrays into the data checks (cheap)
@CHEAP
@given(image_arrays(size=4))
@counted
def test_image_check_accepts_valid_batches_and_names_the_problem_otherwise(array):
    if array.ndim == 4 and _valid_values(array):
        checked = check_images(array)
        assert checked.dtype == np.float32 and checked.shape == array.shape
        assert checked.size == 0 or (checked.min() >= 0 and checked.max() <= 1)
    else:
        with pytest.raises(ValueError, match=r"images (must|contain)"):
            check_images(array)


def test_a_value_too_large_for_float32_is_named_without_a_warning():
    images = np.full((1, 2, 2, 1), 0.5)
    images[0, 0, 0, 0] = 1e300  # inf once cast to float32; the error names the value the user gave
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got values in \[0.5, 1e\+300\]"):
            check_images(images)


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int64, st.tuples(st.integers(0, 4), st.integers(0, 7)), elements=st.integers(-50, 50)))
@counted
def test_factor_matrices_are_validated(factors):
    sizes = np.array(SPRITES.factor_sizes)
    valid = factors.shape[1] == 5 and ((factors >= 0) & (factors < sizes[: factors.shape[1]])).all()
    if valid:
        images = SPRITES.sample_observations_from_factors(factors, np.random.default_rng(0))
        assert images.shape == (factors.shape[0], 64, 64, 1)
    else:
        with pytest.raises(ValueError, match="factors must have shape|out of range"):
            SPRITES.sample_observations_from_factors(factors, np.random.default_rng(0))


@CHEAP
@given(st.one_of(
    hnp.arrays(st.sampled_from([np.float64, np.float32]), st.tuples(st.integers(0, 3), st.just(5)),
               elements=st.one_of(st.floats(-2, 45, width=32), st.sampled_from([np.nan, np.inf, 0.5, 1.0, 3.0]))),
    hnp.arrays(st.sampled_from([np.bool_, np.int8]), st.tuples(st.integers(0, 3), st.just(5))),
))
@counted
def test_non_integer_factor_matrices_are_named(factors):
    values = factors.astype(np.float64)
    whole = np.all(np.isfinite(values)) and np.all(values == np.round(values))
    in_range = whole and ((values >= 0) & (values < np.array(SPRITES.factor_sizes))).all()
    if in_range:
        assert SPRITES.validate_factors(factors).dtype == np.int64
    else:
        with pytest.raises(ValueError, match="integer class indices|out of range"):
            SPRITES.validate_factors(factors)


# --------------------------------------------------------------------------- names (cheap)
@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=8), st.integers(-10, 10), st.floats(allow_nan=True), st.sampled_from(SPRITES.factor_names)))
@counted
def test_unknown_factors_are_named(factor):
    known = factor in SPRITES.factor_names or (isinstance(factor, int) and 0 <= factor < 5)
    if known:
        assert 0 <= SPRITES.factor_index(factor) < 5
    else:
        with pytest.raises((ValueError, TypeError), match="unknown factor|cannot convert|NaN|invalid"):
            SPRITES.factor_index(factor)


@CHEAP
@given(st.lists(st.one_of(st.text(max_size=10), st.sampled_from(["beta_vae", "mig", "dci", "sap", "factor_vae"])),
                max_size=4))
@counted
def test_metric_names_are_checked(names):
    from tfbetavae.metrics.evaluation import METRICS

    if names and all(name in METRICS for name in names):
        assert check_metric_names(names) == tuple(names)
    else:
        with pytest.raises(ValueError, match="unknown metric|choose at least one metric"):
            check_metric_names(names)


# --------------------------------------------------------------------------- configurations (cheap)
MODEL_SETTINGS = {
    "latent_dim": st.one_of(st.integers(-2, 4), junk),
    "beta": st.one_of(st.floats(-2, 20), junk),
    "likelihood": st.one_of(st.sampled_from(["bernoulli", "gaussian"]), st.text(max_size=5)),
    "capacity": st.one_of(st.none(), st.floats(-5, 30), junk),
    "capacity_steps": st.one_of(st.integers(-5, 100), st.floats(allow_nan=True, allow_infinity=True), junk),
    "gamma": st.one_of(st.floats(-5, 2000), junk),
    "input_shape": st.one_of(st.sampled_from([(16, 16, 1), (32, 16, 3), (15, 16, 1), (16, 16), (0, 16, 1)]), junk),
}


@CHEAP
@given(st.sampled_from(sorted(MODEL_SETTINGS)).flatmap(lambda key: st.tuples(st.just(key), junk)),
       st.fixed_dictionaries({}, optional=MODEL_SETTINGS))
@counted
def test_model_settings_are_checked_and_named(bad, others):
    """One setting is junk (so few examples build a model, the slow part); the error names a wrong setting."""
    kwargs = {**others, bad[0]: bad[1]}
    try:
        model = BetaVAE(kernel_sizes=(4, 4, 2, 2), seed=0, **{"input_shape": (16, 16, 1), **kwargs})
    except (ValueError, TypeError) as error:
        message = str(error)
        assert "\n" not in message.strip()
        assert any(key in message for key in kwargs), f"{kwargs} -> {message}"
    else:
        assert model.latent_dim >= 1 and model.beta >= 0


HYPER = {
    "betas": st.one_of(st.lists(st.floats(-1, 20), max_size=3), st.floats(-1, 20), junk),
    "beta_range": st.one_of(st.tuples(st.floats(-1, 40), st.floats(-1, 40)), junk),
    "latent_dim": st.one_of(st.integers(-1, 12), st.lists(st.integers(-1, 12), max_size=3), junk),
    "learning_rate": st.one_of(st.floats(-1e-3, 1e-2), st.lists(st.floats(0, 1e-2), max_size=2), junk),
    "steps": st.one_of(st.integers(-2, 100), junk),
    "batch_size": st.one_of(st.integers(-2, 128), junk),
    "seed": st.one_of(st.integers(-2, 5), junk),
    "eval_seed": st.one_of(st.none(), st.integers(-2, 5)),
    "objective": st.one_of(st.sampled_from(["beta_vae", "mig", "dci_completeness", "reconstruction", "bogus"]),
                           st.text(max_size=6)),
    "max_reconstruction": st.one_of(st.none(), st.floats(-10, 500), junk),
    "capacity": st.one_of(st.none(), st.lists(st.floats(-1, 30), max_size=2)),
}


@CHEAP
@given(st.fixed_dictionaries({}, optional=HYPER))
@counted
def test_search_settings_are_checked_and_named(kwargs):
    """A hypermodel either builds from its settings or says which setting is wrong (before any training)."""
    try:
        BetaVAEHyperModel(SPRITES, **kwargs)
    except (ValueError, TypeError) as error:
        message = str(error)
        words = [*kwargs, "objective", "metric", "β", "eval_seed", "entry", "bound"]
        assert any(word in message for word in words), f"{kwargs} -> {message}"


# --------------------------------------------------------------------------- numbers and command-line values (cheap)
@CHEAP
@given(st.floats(0, 1), st.floats(allow_nan=True, allow_infinity=True), st.one_of(st.floats(allow_nan=True), junk))
@counted
def test_constrained_score_ranks_feasible_trials_first(score, reconstruction, bound):
    # A number (not a bool, not a numeric string such as '1': text is refused as every number argument is).
    is_number = isinstance(bound, (int, float, np.integer, np.floating)) and not isinstance(bound, (bool, np.bool_))
    limit = float(bound) if is_number else math.nan
    valid_bound = is_number and math.isfinite(limit) and limit > 0
    if not valid_bound:
        with pytest.raises(ValueError, match="max_reconstruction"):
            constrained_score(score, reconstruction, bound)
        return
    value = constrained_score(score, reconstruction, bound)
    if not math.isfinite(reconstruction):
        assert value == float("-inf")
    elif reconstruction <= limit:
        assert value == score
    else:
        assert value < -1.0


@CHEAP
@given(st.one_of(st.none(), st.floats(-1e300, 1e300), st.sampled_from([math.nan, math.inf, -math.inf]), st.integers(),
                 st.text(max_size=5)))
@counted
def test_table_cells_format_any_value(value):
    cell = format_number(value)
    assert isinstance(cell, str) and (cell or value == "")
    if isinstance(value, float) and math.isnan(value):
        assert cell == "nan"
    elif isinstance(value, float):
        assert math.isclose(float(cell), value, rel_tol=1e-2, abs_tol=5e-4)


PARSER = build_parser()


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=8), st.integers(-5, 10**6).map(str), st.floats(allow_nan=True).map(str)),
       st.sampled_from(["--steps", "--batch-size", "--latent-dim", "--beta", "--learning-rate"]))
@counted
def test_command_line_values_get_one_line_errors(text, option):
    at_least_one = int_at_least(1)
    try:
        assert at_least_one(text) >= 1
    except argparse.ArgumentTypeError as error:
        assert str(error).startswith("must be")
    try:
        assert all(isinstance(k, int) for k in parse_ints(text, "--kernel-sizes"))
    except ValueError as error:
        assert "--kernel-sizes" in str(error)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            PARSER.parse_args(["train", option, text, "--out", "runs/x"])
        except SystemExit as exit_:
            assert exit_.code == 2
            last = stderr.getvalue().strip().splitlines()[-1]
            assert last.startswith("tfbetavae train: error:") and option.split("-")[-1] in last


# --------------------------------------------------------------------------- serialized files
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    return atomic_save(MODEL, folder / "model.keras")


@MODEL_CALLS
@given(st.data())
@counted
def test_corrupt_or_truncated_keras_files_are_refused(saved, tmp_path_factory, data):
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


npz_arrays = st.dictionaries(
    st.sampled_from(["imgs", "latents_classes", "latents_values", "other"]),
    hnp.arrays(st.sampled_from([np.uint8, np.int64, np.float32]), hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
               elements=st.integers(0, 3)),
    max_size=3,
)


@CHEAP
@given(st.one_of(st.binary(max_size=64), npz_arrays), st.integers(0, 400))
@counted
def test_damaged_dsprites_files_are_refused_with_their_path(tmp_path_factory, content, cut):
    path = tmp_path_factory.getbasetemp() / "fuzz_dsprites.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with open(path, "wb") as handle:
            np.savez(handle, **content)
        if cut and cut < path.stat().st_size:
            path.write_bytes(path.read_bytes()[:cut])  # truncated
    before = path.read_bytes()
    with pytest.raises(ValueError, match="fuzz_dsprites.npz"):
        load_dsprites_npz(path)
    assert path.read_bytes() == before


SEARCH_SETTINGS = {"steps": 5, "betas": [1.0, 4.0], "objective": "beta_vae_eval_accuracy"}
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=8)


@CHEAP
@given(st.one_of(st.binary(max_size=40), json_values.map(lambda v: json.dumps(v).encode()),
                 st.just(json.dumps(SEARCH_SETTINGS).encode()),
                 st.dictionaries(st.sampled_from(sorted(SEARCH_SETTINGS)), json_values, max_size=3)
                 .map(lambda d: json.dumps({**SEARCH_SETTINGS, **d}).encode())))
@counted
def test_a_search_folder_with_other_or_corrupt_settings_is_refused(tmp_path_factory, content):
    path = tmp_path_factory.getbasetemp() / "fuzz_search" / "tfbetavae_search.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    try:
        same = json.loads(content) == SEARCH_SETTINGS
    except ValueError:
        same = False
    if same:
        check_settings(path, SEARCH_SETTINGS)
    else:
        with pytest.raises(ValueError, match="fuzz_search"):
            check_settings(path, SEARCH_SETTINGS)
    assert path.read_bytes() == content


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from tfbetavae.export import export_saved_model, load_exported

    return load_exported(export_saved_model(MODEL, tmp_path_factory.mktemp("exports") / "betavae"))


@MODEL_CALLS
@given(image_arrays())
@counted
def test_exported_encode_signature_accepts_valid_batches_and_names_the_problem_otherwise(served, array):
    files_before = sorted(p.name for p in served.path.rglob("*"))
    if _valid_image_batch(array):
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


PROPERTIES = sorted(name for name in dir() if name.startswith("test_") and hasattr(globals()[name], "hypothesis"))


def test_report_case_count():
    """Runs last in this file: when every property ran, together they checked at least MINIMUM_CASES cases."""
    if set(CASES) != set(PROPERTIES):
        pytest.skip(f"only {sorted(CASES)} of the properties ran (a selection): no total to check")
    assert sum(CASES.values()) >= MINIMUM_CASES, dict(CASES)
