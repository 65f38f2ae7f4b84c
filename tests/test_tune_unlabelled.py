"""Tuning on data without known factors: the UDR objective (several seeds a trial, the median-UDR model exported),
an image folder tuned through the CLI, objectives that need factors refused before training, and objective
directions taken from the metric catalogue. Tiny models (latent 2-3, 32x32 images, batch 8, 10-20 steps)."""

from __future__ import annotations

import json
import logging

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfbetavae.cli import main
from tfbetavae.data import ProceduralDSprites
from tfbetavae.metrics.held_out import terms_on_images as _terms_on_images
from tfbetavae.metrics.udr import udr
from tfbetavae.tuning import (
    BetaVAEHyperModel,
    export_best,
    format_table,
    objective_direction,
    results_table,
    search,
)

TINY = {"latent_dim": 3, "batch_size": 8, "num_eval_images": 32, "learning_rate": 1e-3}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """dSprites at 32x32 (2x2 means of the 64x64 renders), its factors thrown away: someone's own images."""
    rendered = ProceduralDSprites().sample(512, np.random.default_rng(0))[1]
    return rendered.reshape(-1, 32, 2, 32, 2, 1).mean(axis=(2, 4)).astype(np.float32)


# --------------------------------------------------------------------------- the UDR objective
def test_udr_search_on_an_array_reports_udr_per_trial_and_exports_the_median_seed(tmp_path, images, caplog):
    caplog.set_level(logging.INFO, logger="tfbetavae.tuning")
    kwargs = dict(max_trials=2, steps=20, objective="udr", seeds_per_trial=2, betas=[1, 8],
                  metric_kwargs={"num_points": 64}, **TINY)
    tuner = search(images, tmp_path, "udr", **kwargs)
    assert (tuner.oracle.objective.name, tuner.oracle.objective.direction) == ("udr", "max")
    rows = results_table(tuner)
    assert [row["status"] for row in rows] == ["COMPLETED"] * 2 and sorted(row["beta"] for row in rows) == [1.0, 8.0]
    for row in rows:
        # Two seeds: two ordered pairs, and the trial's UDR (the median of the two models' scores) lies between them.
        assert 0 <= row["udr_pair_min"] <= row["score"] <= row["udr_pair_max"] <= 1
        assert row["score"] == row["objective"] > 0  # informative dimensions after 20 steps at 1e-3
        assert row["model_seed"] in (0, 1) and row["steps"] == 20 and row["active_dims"] > 0
    lines = [record.getMessage() for record in caplog.records if record.name == "tfbetavae.tuning"]
    assert lines[0].endswith("each scored with UDR on 64 points over 2 seeds")
    assert any(": β=1 seeds 0-1: seed 0 (1/2), step 20 trained in" in line for line in lines), lines
    assert any(line.startswith("trial 1/2: β=") and "udr 0." in line and "(seed pairs 0." in line
               and "median-UDR model: seed" in line for line in lines), lines
    assert "pair min" in format_table(rows) and "model seed" in format_table(rows)

    # The best trial's checkpoint is its median-UDR model: built from that seed, with its trained weights.
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == max(row["score"] for row in rows)
    seed = int(best.metrics.get_last_value("model_seed"))
    model = tuner.get_best_models(1)[0]
    assert (model.seed, model.beta, int(model.step_counter.numpy())) == (seed, best.hyperparameters["beta"], 20)
    folder = export_best(tuner, tmp_path / "exported")
    card = json.loads((folder / "model_card.json").read_text())
    assert card["model"]["config"]["seed"] == seed and card["scores"]["udr"] == pytest.approx(best.score)
    assert card["scoring"]["udr"]["seeds"] == [0, 1] and card["scoring"]["metric_sizes"] == {"udr": {"num_points": 64}}

    # Resumed, the finished search trains nothing; other seeds a trial make another search.
    caplog.clear()
    again = search(images, tmp_path, "udr", **kwargs)
    assert results_table(again) == rows and not any("trained in" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="other settings.*seeds_per_trial"):
        search(images, tmp_path, "udr", **{**kwargs, "seeds_per_trial": 3})


def test_a_udr_trial_keeps_its_median_model_and_medians_of_the_seeds(images):
    """Three untrained seeds scored without the KL filter (so every model has dimensions to compare): the trial picks
    the model whose UDR is the median of the three, as ``tfbetavae.metrics.udr`` scores them on the same draws."""
    hypermodel = BetaVAEHyperModel(images, objective="udr", seeds_per_trial=3, latent_dim=3, num_eval_images=32,
                                   metric_kwargs={"num_points": 64, "kl_threshold": None})
    assert hypermodel.seeds == (0, 1, 2) and hypermodel.eval_seed == 3
    models = [hypermodel.build(kt.HyperParameters(), seed=seed) for seed in hypermodel.seeds]
    results, chosen = hypermodel.evaluate_seeds(models)
    expected = udr(models, images, num_points=64, kl_threshold=None, seed=3, progress=False)
    scores = np.asarray(expected.scores)
    assert len(set(scores.round(6))) == 3  # three different scores: the median is one model
    assert chosen == int(np.argsort(scores)[1]) and results["model_seed"] == float(chosen)
    assert results["udr"] == pytest.approx(np.median(scores))
    assert results["udr"] == pytest.approx(scores[chosen])
    assert results["udr_pair_min"] == pytest.approx(np.nanmin(expected.pairwise))
    assert results["udr_pair_max"] == pytest.approx(np.nanmax(expected.pairwise))
    # Reconstruction and KL are the seeds' medians, each on the same images a one-seed trial scores with that seed.
    single = BetaVAEHyperModel(images, objective="reconstruction", eval_seed=3, latent_dim=3, num_eval_images=32,
                               metric_kwargs={"num_train": 64})
    each = [single.evaluate_model(model) for model in models]
    for key in ("reconstruction", "kl", "loss"):
        assert results[key] == pytest.approx(np.median([terms[key] for terms in each]))
    assert len({round(terms["reconstruction"], 4) for terms in each}) == 3
    # The terms on given images do not depend on the batches they are computed in.
    whole = models[0].compute_terms(images[:40], training=False)
    batched = _terms_on_images(models[0], images[:40], batch_size=7)
    assert batched["reconstruction"] == pytest.approx(float(whole["reconstruction"]), rel=1e-5)
    assert batched["kl"] == pytest.approx(float(whole["kl"]), rel=1e-5)


def test_udr_needs_two_seeds_and_other_objectives_one(tmp_path, images):
    with pytest.raises(ValueError, match=r"seeds_per_trial must be an integer >= 2 for the objective 'udr'.*got 1"):
        BetaVAEHyperModel(images, objective="udr", seeds_per_trial=1)
    with pytest.raises(ValueError, match="seeds_per_trial=3 is for the objective 'udr'"):
        BetaVAEHyperModel(images, objective="reconstruction", seeds_per_trial=3)
    with pytest.raises(ValueError, match="udr' is its own score; drop metric='unsupervised'"):
        BetaVAEHyperModel(images, objective="udr", metric="unsupervised")
    with pytest.raises(ValueError, match=r"metric_kwargs \['num_train'\] are not UDR's"):
        BetaVAEHyperModel(images, objective="udr", metric_kwargs={"num_train": 10})
    with pytest.raises(ValueError, match="Hyperband continues a trial"):
        search(images, tmp_path, "hb", tuner="hyperband", objective="udr", steps=2)
    with pytest.raises(ValueError, match="eval_seed must differ from the training seeds"):
        BetaVAEHyperModel(images, objective="udr", eval_seed=2)
    assert BetaVAEHyperModel(images, objective="udr").seeds == (0, 1, 2)  # three seeds unless told
    assert not (tmp_path / "hb").exists()


# --------------------------------------------------------------------------- data without factors
def _image_folder(where, images) -> str:
    where.mkdir()
    for index, image in enumerate(images):
        Image.fromarray((image[..., 0] * 255).astype(np.uint8), mode="L").save(where / f"{index:03d}.png")
    return str(where)


def test_cli_tunes_an_image_folder_for_reconstruction(tmp_path, images, capsys):
    folder = _image_folder(tmp_path / "mine", images[:48])
    search_dir, export = tmp_path / "tuning" / "mine", tmp_path / "exported"
    command = ["tune", "--data", folder, "--image-size", "32,32", "--channels", "1", "--objective", "reconstruction",
               "--betas", "1,8", "--trials", "2", "--steps", "10", "--latent-dim", "2", "--batch-size", "8",
               "--eval-images", "32", "--num-train", "64", "--learning-rate", "1e-3", "--dir", str(search_dir),
               "--export-dir", str(export)]
    assert main(command) == 0
    out = capsys.readouterr().out
    # No factors: the metric reported beside reconstruction is the unsupervised one (lower is better).
    assert "Results (reconstruction, minimise; scored unsupervised on 64 points (sizes given)" in out
    rows = json.loads((search_dir / "results.json").read_text())
    assert [row["status"] for row in rows] == ["COMPLETED"] * 2
    assert all(row["score"] >= 0 and row["objective"] == row["reconstruction"] > 0 for row in rows)
    best = min(rows, key=lambda row: row["reconstruction"])
    card = json.loads((export / "1" / "model_card.json").read_text())
    assert card["training"]["data"] == "mine" and card["model"]["input_shape"] == [32, 32, 1]  # paths cut to a name
    assert card["model"]["beta"] == best["beta"] and card["scores"]["reconstruction"] == pytest.approx(best["objective"])

    # An objective that needs factors is refused by name before anything trains.
    refused = [*command[:8], "mig", *command[9:-4], "--dir", str(tmp_path / "tuning" / "mig")]
    assert main(refused) == 2
    err = capsys.readouterr().err
    assert "objective 'mig' needs data with known factors" in err and "'udr'" in err and "'unsupervised'" in err
    assert not (tmp_path / "tuning" / "mig").exists()
    udr = [*command[:8], "udr", "--seeds-per-trial", "1", "--steps", "1", "--dir", str(tmp_path / "t1")]
    assert main(udr) == 2
    assert "seeds_per_trial must be an integer >= 2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({}, "objective 'beta_vae' needs data with known factors (it compares the codes with them)"),
        ({"objective": "mig"}, "objective 'mig' needs data with known factors"),
        ({"objective": "dci_completeness"}, "objective 'dci_completeness' needs data"),
        ({"objective": "reconstruction", "metric": "sap"}, "(the metric 'sap' compares the codes with them)"),
    ],
)
def test_objectives_needing_factors_are_refused_on_unlabelled_data(tmp_path, images, kwargs, named):
    for data in (images, tf.data.Dataset.from_tensor_slices(images)):
        with pytest.raises(ValueError) as error:
            search(data, tmp_path, "refused", steps=1, **kwargs)
        message = str(error.value)
        assert named in message
        for usable in ("'udr'", "'unsupervised'", "'reconstruction'", "'kl'", "'loss'", "a function"):
            assert usable in message
    assert not (tmp_path / "refused").exists()


def test_a_score_function_on_a_dataset_and_data_the_tuner_cannot_use(tmp_path, images):
    seen = []

    def planted(model, data, seed):
        seen.append(data)
        return -abs(np.log(model.beta / 4.0))

    dataset = tf.data.Dataset.from_tensor_slices(images[:64])
    tuner = search(dataset, tmp_path, "fn", max_trials=1, steps=3, objective=planted, betas=[4], **TINY)
    (row,) = results_table(tuner)
    assert row["status"] == "COMPLETED" and row["score"] == pytest.approx(0.0) and row["reconstruction"] > 0
    assert seen == [dataset]  # the function gets the data it was given, factors or not
    with pytest.raises(TypeError, match="is a path: give an image folder as"):
        BetaVAEHyperModel(str(tmp_path))
    with pytest.raises(TypeError, match="GroundTruthData .* an array of images"):
        BetaVAEHyperModel([[0.0]])
    with pytest.raises(ValueError, match="must be \\[N, H, W, C\\]"):
        BetaVAEHyperModel(images[..., 0], objective="reconstruction")
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        BetaVAEHyperModel(images * 3, objective="reconstruction")


# --------------------------------------------------------------------------- directions
def test_objective_directions_come_from_the_catalogue(images, sprites):
    def objective(data, **kwargs):
        hypermodel = BetaVAEHyperModel(data, steps=1, **kwargs)
        return hypermodel.objective.name, hypermodel.objective.direction

    total_correlation = "unsupervised_gaussian_total_correlation"
    assert objective(images, objective="unsupervised") == (total_correlation, "min")
    assert objective(sprites, objective="unsupervised") == (total_correlation, "min")
    assert objective(images, objective="unsupervised_mutual_info_score") == ("unsupervised_mutual_info_score", "min")
    assert objective(images, objective="score") == ("score", "min")  # the unsupervised metric's main key
    assert objective(sprites, objective="score") == ("score", "max")  # the β-VAE score's
    assert objective(images, objective="udr") == ("udr", "max")
    assert objective(images, objective="kl") == ("kl", "min")
    assert objective(sprites, objective="mig") == ("mig", "max")
    assert objective(sprites, objective=kt.Objective("unsupervised", "max")) == (total_correlation, "max")
    assert objective(images, objective="udr", max_reconstruction=300.0) == ("constrained_score", "max")
    assert [objective_direction(key) for key in ("reconstruction", "loss", "active_dims", "dci_disentanglement")] == [
        "min", "min", "max", "max"]
    with pytest.raises(ValueError, match="max_reconstruction constrains a score to maximise"):
        BetaVAEHyperModel(images, objective="unsupervised", max_reconstruction=300.0)
