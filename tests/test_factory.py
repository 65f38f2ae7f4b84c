"""tfbetavae.objectives.build_model: one factory for the command line, the tuner and studies."""

import argparse

import keras
import pytest

from tfbetavae import BetaVAE
from tfbetavae.objectives import OBJECTIVES, BetaTCVAE, FactorVAE, build_model, objective_name

SHAPE = (8,)  # vectors: the MLP networks build in milliseconds


def _config(model) -> dict:
    config = model.get_config()
    config.pop("name")  # Keras numbers automatic names, the discriminator's optimiser's too
    if "discriminator_optimizer" in config:
        config["discriminator_optimizer"]["config"].pop("name")
    return config


@pytest.mark.parametrize(
    ("objective", "kwargs", "by_hand"),
    [
        ("beta-vae", {}, lambda: BetaVAE(input_shape=SHAPE)),
        ("beta-vae", {"beta": 8.0, "gamma": 1000.0}, lambda: BetaVAE(input_shape=SHAPE, beta=8.0)),
        ("capacity", {"capacity": 25.0}, lambda: BetaVAE(input_shape=SHAPE, capacity=25.0)),
        ("capacity", {"capacity": 5.0, "gamma": 10.0, "capacity_steps": 300, "beta": 1.0},
         lambda: BetaVAE(input_shape=SHAPE, capacity=5.0, gamma=10.0, capacity_steps=300, beta=1.0)),
        ("beta-tcvae", {"dataset_size": 100}, lambda: BetaTCVAE(dataset_size=100, input_shape=SHAPE)),
        ("beta-tcvae", {"dataset_size": 100, "tc_weight": 3.0}, lambda: BetaTCVAE(100, beta=3.0, input_shape=SHAPE)),
        ("factor-vae", {}, lambda: FactorVAE(input_shape=SHAPE)),
        ("factor-vae", {"tc_weight": 10.0, "discriminator_units": 8},
         lambda: FactorVAE(gamma=10.0, discriminator_units=8, input_shape=SHAPE)),
    ],
)
def test_the_factory_builds_what_the_classes_build(objective, kwargs, by_hand):
    """Same class, same config as by hand (so runs saved before the factory resume), and the objective named back."""
    model = build_model(objective, input_shape=SHAPE, **kwargs)
    expected = by_hand()
    assert type(model) is type(expected) and _config(model) == _config(expected)
    assert objective_name(model) == objective == objective_name(expected)


def test_defaults_of_the_total_correlation_weights():
    assert build_model("beta-tcvae", input_shape=SHAPE, dataset_size=10).beta == 6.0
    assert build_model("factor-vae", input_shape=SHAPE).gamma == 35.0
    assert build_model("factor-vae", input_shape=SHAPE, gamma=20.0).gamma == 20.0


def test_networks_factory_and_user_networks():
    def networks(input_shape, latent_dim):
        encoder = keras.Sequential([keras.Input(input_shape), keras.layers.Dense(2 * latent_dim)])
        decoder = keras.Sequential([keras.Input((latent_dim,)), keras.layers.Dense(input_shape[0])])
        return encoder, decoder

    model = build_model("beta-vae", input_shape=SHAPE, latent_dim=3, networks=networks)
    assert model.custom_networks == (True, True) and model.encoder.output_shape == (None, 6)
    encoder, decoder = networks(SHAPE, 3)
    model = build_model("factor-vae", latent_dim=3, encoder=encoder, decoder=decoder)  # shape from the encoder
    assert model.image_shape == SHAPE and model.encoder is encoder
    with pytest.raises(ValueError, match="networks .* or encoder and decoder, not both"):
        build_model(input_shape=SHAPE, networks=networks, encoder=encoder)
    with pytest.raises(ValueError, match="networks must return \\(encoder, decoder\\), got Sequential"):
        build_model(input_shape=SHAPE, networks=lambda shape, size: encoder)


@pytest.mark.parametrize(
    ("objective", "kwargs", "message"),
    [
        ("beta", {}, "unknown objective 'beta'; choose from beta-vae, capacity, beta-tcvae, factor-vae"),
        (None, {}, "unknown objective None"),
        ("capacity", {}, "objective 'capacity' needs capacity"),
        ("beta-vae", {"capacity": 25.0}, "capacity belongs to objective 'capacity', not 'beta-vae'"),
        ("factor-vae", {"capacity": 25.0}, "capacity belongs to objective 'capacity'"),
        ("beta-vae", {"tc_weight": 2.0}, "tc_weight is the total-correlation weight of beta-tcvae and factor-vae"),
        ("factor-vae", {"tc_weight": 2.0, "gamma": 3.0}, "tc_weight or gamma, not both"),
        ("beta-tcvae", {"tc_weight": 2.0, "beta": 3.0, "dataset_size": 5}, "tc_weight or beta, not both"),
        ("beta-tcvae", {}, "BetaTCVAE needs dataset_size"),
        ("beta-vae", {"beta": True}, "beta must be a finite number >= 0, got bool True"),
        ("beta-vae", {"latent_dim": "4"}, "latent_dim must be a positive integer, got str '4'"),
    ],
)
def test_bad_settings_are_named(objective, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", "\\(")):
        build_model(objective, input_shape=SHAPE, **kwargs)


def test_objective_name_of_other_things():
    with pytest.raises(TypeError, match="got Sequential"):
        objective_name(keras.Sequential())


def test_the_command_line_offers_the_factorys_objectives():
    """The names live in a module that imports nothing (--help loads no TensorFlow); train takes capacity as a flag."""
    from tfbetavae import objective_names
    from tfbetavae.cli import study_command, train_command
    from tfbetavae.studies import runner

    assert objective_names.OBJECTIVES is OBJECTIVES is runner.OBJECTIVES is study_command.OBJECTIVES
    assert "capacity" in OBJECTIVES and "capacity" not in objective_names.TRAIN_OBJECTIVES
    assert {"beta-vae", "beta-tcvae", "factor-vae", "dip-vae-i", "dip-vae-ii"} <= set(objective_names.TRAIN_OBJECTIVES)
    subparsers = argparse.ArgumentParser().add_subparsers()
    train_command.add_parser(subparsers)
    train = subparsers.choices["train"]
    offered = next(action.choices for action in train._actions if action.dest == "objective")
    assert tuple(offered) == objective_names.TRAIN_OBJECTIVES
    args = argparse.Namespace(
        latent_dim=2, likelihood="bernoulli", kernel_sizes="4,4,4,4", seed=0, objective="beta-vae", beta=4.0,
        capacity=12.0, capacity_steps=100, gamma=1000.0, tc_weight=None, dataset_size=None, learning_rate=1e-3,
    )
    model = train_command.model_from_args(args, None, (16, 16, 1))
    assert objective_name(model) == "capacity" and model.capacity == 12.0 and model.beta == 4.0
    assert model.compiled and float(model.optimizer.learning_rate) == pytest.approx(1e-3)  # through new_model
    args.objective = "beta-tcvae"
    with pytest.raises(ValueError, match="--objective beta-tcvae on data without known factors needs --dataset-size N"):
        train_command.model_from_args(args, object(), (16, 16, 1))
    args.objective, args.tc_weight = "factor-vae", None
    assert train_command.model_from_args(args, None, (16, 16, 1)).gamma == 35.0
