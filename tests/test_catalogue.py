"""The metric catalogue is the one table of metric keys, labels, directions and sizes: it matches the metrics."""

from __future__ import annotations

import inspect

import pytest

from tfbetavae.metrics import catalogue
from tfbetavae.metrics.evaluation import METRICS


def test_every_metric_has_one_entry_and_the_paper_sizes_are_its_defaults():
    assert set(catalogue.METRIC_INFO) == set(METRICS)
    for name, function in METRICS.items():
        parameters = inspect.signature(function).parameters
        defaults = {key: parameters[key].default for key in catalogue.SIZE_KEYS if key in parameters}
        assert catalogue.sizes(name, "paper") == defaults, name
        for preset in catalogue.PRESETS:
            assert set(catalogue.sizes(name, preset)) == set(defaults), (name, preset)


def test_the_tables_of_studies_the_tuner_and_reports_are_the_catalogues():
    from tfbetavae.studies.reporting import SCORE_INFO
    from tfbetavae.studies.runner import FAST_SIZES, SCORES, STUDY_SIZES
    from tfbetavae.tuning.hypermodel import METRIC_KEYS, PRIMARY_KEYS
    from tfbetavae.tuning.sizes import TUNING_SIZES

    assert SCORES is catalogue.STUDY_SCORES
    assert STUDY_SIZES["beta_vae_paper"] == catalogue.sizes("beta_vae", "study") == {"num_train": 500, "num_eval": 500}
    assert FAST_SIZES["mig"] == {"num_train": 1000} and TUNING_SIZES["beta_vae"] == {"num_train": 150, "num_eval": 150}
    assert METRIC_KEYS["dci"][0] == PRIMARY_KEYS["dci"] == "dci_disentanglement"
    assert SCORE_INFO["beta_vae_paper_train_accuracy"] == ("β-VAE score, paper protocol (train)", True)
    assert SCORE_INFO["reconstruction"] == ("reconstruction (nats)", False)
    assert catalogue.study_main_key("beta_vae_paper") == "beta_vae_paper_eval_accuracy"


def test_a_score_on_too_few_points_is_flagged_where_it_is_made(sprites):
    """The β-VAE score on 10 evaluation points is noise (±0.32): evaluate warns; 100 points pass quietly."""
    import warnings

    import numpy as np

    from tfbetavae.metrics import evaluate

    def code(images):  # any representation shows the warning
        return np.zeros((len(images), 2), np.float32)

    assert catalogue.too_few_points("beta_vae", {"num_train": 10, "num_eval": 100}) is None
    with pytest.warns(UserWarning, match=r"beta_vae on 10 evaluation points moves by about ±0.32"):
        evaluate(code, sprites, names=["beta_vae"], num_train=10, num_eval=10, batch_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        evaluate(code, sprites, names=["mig"], num_train=100)


def test_overrides_flat_or_nested_and_unknown_names():
    assert catalogue.sizes("dci", "study", {"num_train": 7, "dci": {"num_test": 3}, "num_eval": 9}) == {
        "num_train": 7, "num_test": 3}
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        catalogue.sizes("nope")
    with pytest.raises(ValueError, match="unknown size preset 'huge'"):
        catalogue.sizes("mig", "huge")
    with pytest.raises(ValueError, match="main key"):
        catalogue.register(catalogue.MetricInfo("x", (catalogue.Score("a", "A"),), main="b", sizes={}))
