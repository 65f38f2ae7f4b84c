"""tfbetavae.checks: one policy for integer and number arguments, used by every layer of the package."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from tfbetavae.checks import (
    ArgumentTypeError,
    int_at_least,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), np.uint8(2)])
def test_positive_int_accepts_python_and_numpy_integers(value):
    result = positive_int(value, "steps")
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), "4", b"4", 4.0, np.float64(2.0), None, [1], 2 + 0j])
def test_integers_refuse_other_kinds_with_a_type_error_naming_argument_and_value(value):
    with pytest.raises(ArgumentTypeError, match=r"^steps must be a positive integer, got ") as caught:
        positive_int(value, "steps")
    assert repr(value) in str(caught.value)
    # The wrong kind is a TypeError, and a ValueError for callers written against the older checks.
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("value", [0, -1, np.int64(-5)])
def test_integers_out_of_range_are_value_errors(value):
    with pytest.raises(ValueError, match="^batch_size must be a positive integer, got " + re.escape(repr(value)) + "$") as caught:
        positive_int(value, "batch_size")
    assert not isinstance(caught.value, TypeError)


def test_non_negative_and_bounded_integers():
    assert non_negative_int(0, "seed") == 0 and non_negative_int(np.int16(5), "seed") == 5
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        non_negative_int(-1, "seed")
    assert int_at_least(2, "steps", 2) == 2
    with pytest.raises(ValueError, match="steps must be an integer >= 2, got 1"):
        int_at_least(1, "steps", 2)


@pytest.mark.parametrize("value", [0, 0.0, 2, 3.5, np.float32(0.25), np.int64(4), np.float64(1e-3)])
def test_non_negative_float_accepts_numbers(value):
    result = non_negative_float(value, "beta")
    assert result == pytest.approx(float(value)) and type(result) is float


@pytest.mark.parametrize("value", [True, np.bool_(False), "4", None, [1.0], 1j])
def test_numbers_refuse_other_kinds(value):
    with pytest.raises(ArgumentTypeError, match=r"^gamma must be a finite number >= 0, got "):
        non_negative_float(value, "gamma")


@pytest.mark.parametrize("value", [-0.5, float("nan"), float("inf"), -float("inf"), np.float32("nan")])
def test_numbers_out_of_range_or_not_finite_are_value_errors(value):
    with pytest.raises(ValueError, match="^capacity must be a finite number >= 0, got"):
        non_negative_float(value, "capacity")


def test_positive_float_refuses_zero():
    assert positive_float(1e-4, "learning_rate") == 1e-4
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0, got 0"):
        positive_float(0, "learning_rate")


def test_the_package_uses_one_policy():
    """Model, objectives, data, metrics, pictures, training and loading refuse True and "4" alike."""
    from tfbetavae import BetaVAE
    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.data.pipeline import ground_truth_dataset
    from tfbetavae.objectives import Discriminator, check_dataset_size
    from tfbetavae.training import compile_model

    calls = {
        "latent_dim": lambda v: BetaVAE(latent_dim=v, input_shape=(8,)),
        "beta": lambda v: BetaVAE(beta=v, input_shape=(8,)),
        "capacity_steps": lambda v: BetaVAE(capacity_steps=v, input_shape=(8,)),
        "dataset_size": check_dataset_size,
        "discriminator_units": lambda v: Discriminator(units=v),
        "batch_size": lambda v: ground_truth_dataset(ProceduralDSprites(), batch_size=v),
        "number of samples": lambda v: ProceduralDSprites().sample_factors(v, np.random.default_rng(0)),
        "learning_rate": lambda v: compile_model(BetaVAE(input_shape=(8,)), v),
    }
    for name, call in calls.items():
        for bad in (True, "4"):
            with pytest.raises(ArgumentTypeError, match=name):
                call(bad)
    for shape in ((8.0,), (True, 8, 1), ("8",)):  # shapes: the same policy for each entry
        with pytest.raises(ValueError, match="input_shape must be"):
            BetaVAE(input_shape=shape)
    assert BetaVAE(input_shape=(np.int64(8),)).image_shape == (8,)


def test_checks_import_nothing_from_the_package():
    """Any layer may use the checks: the module itself depends on nothing in tfbetavae."""
    tree = ast.parse((ROOT / "tfbetavae" / "checks.py").read_text())
    modules = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    modules += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [m for m in modules if m and m.startswith("tfbetavae")]
