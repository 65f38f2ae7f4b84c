"""Each command offers one list of choices per option (tfbetavae.choices), and each list is what the code takes."""

from __future__ import annotations

import argparse

from tfbetavae import choices


def test_every_list_is_what_the_code_takes():
    from tfbetavae.likelihoods import LIKELIHOODS
    from tfbetavae.metrics.catalogue import STUDY_SCORES
    from tfbetavae.metrics.evaluation import PROTOCOLS
    from tfbetavae.precision import PRECISIONS
    from tfbetavae.tuning.search import TUNERS

    assert choices.LIKELIHOODS == tuple(LIKELIHOODS)
    assert choices.PROTOCOLS == tuple(PROTOCOLS)
    assert choices.TUNERS == tuple(TUNERS)
    assert set(choices.PRECISIONS) == set(PRECISIONS)
    assert choices.STUDY_SCORES == tuple(STUDY_SCORES)
    from tfbetavae.studies.plan import PRESETS

    assert choices.STUDY_PRESETS == PRESETS
    from tfbetavae.metrics.representation import REPRESENTATIONS

    assert choices.REPRESENTATIONS == REPRESENTATIONS


def test_train_and_tune_offer_the_same_likelihoods():
    """`tfbetavae tune --likelihood gaussian_learned_scale` was refused while train offered it."""
    from tfbetavae.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    offered = {}
    for command in ("train", "tune"):
        action = next(a for a in subparsers.choices[command]._actions if "--likelihood" in a.option_strings)
        offered[command] = tuple(action.choices)
    assert offered["train"] == offered["tune"] == choices.LIKELIHOODS
