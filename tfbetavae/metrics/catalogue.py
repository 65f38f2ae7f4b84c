"""The metric catalogue: for every score the library computes, the one place that says what it is called.

Per metric: the flat keys ``evaluate`` writes (``beta_vae_eval_accuracy``, ``mig``, ...), which key is "the"
score, each key's readable label and direction (higher is better, lower, or neither), and the number of points it
scores on under each size preset:

* ``paper``: the metric's own defaults, the papers' sizes (10,000 / 5,000 points);
* ``study``: what a study scores every run on at every evaluation step (scoring must stay a small share of a study);
* ``fast``: a study's ``--fast`` preset, a quick look;
* ``tune``: what a tuning trial scores on unless ``--paper-sizes``.

Studies, the tuner, reports and the benchmark read their tables from here, so a new metric is one entry
(``register``), and changing a size is one edit. This module imports nothing heavy: ``--help`` and reports use it
without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACROSS_MODELS",
    "COMMON_SCORES",
    "METRIC_INFO",
    "PRESETS",
    "SIZE_KEYS",
    "STUDY_SCORES",
    "MetricInfo",
    "Score",
    "direction",
    "MIN_EVALUATION_POINTS",
    "label",
    "metric_keys",
    "primary_key",
    "register",
    "score_info",
    "sizes",
    "study_main_key",
    "study_sizes",
    "too_few_points",
]

PRESETS = ("paper", "study", "fast", "tune")
SIZE_KEYS = ("num_train", "num_eval", "num_test", "num_variance_estimate")


@dataclass(frozen=True)
class Score:
    """One key a metric writes: its readable label and whether higher is better (None: neither)."""

    key: str
    label: str
    higher_is_better: bool | None = True


@dataclass(frozen=True)
class MetricInfo:
    """What the library knows about one metric of ``tfbetavae.metrics.METRICS`` besides its function."""

    name: str
    scores: tuple[Score, ...]
    main: str
    sizes: Mapping[str, Mapping[str, int]]
    needs_factors: bool = True
    about: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(score.key for score in self.scores)


METRIC_INFO: dict[str, MetricInfo] = {}


def register(info: MetricInfo) -> MetricInfo:
    """Adds a metric to the catalogue; its main key must be one of its keys and every preset must be given."""
    if info.main not in info.keys:
        raise ValueError(f"metric {info.name!r}: main key {info.main!r} is not among its keys {info.keys}")
    missing = [preset for preset in PRESETS if preset not in info.sizes]
    if missing:
        raise ValueError(f"metric {info.name!r}: no sizes for the presets {missing}")
    METRIC_INFO[info.name] = info
    return info


def _sizes(paper: dict, study: dict, fast: dict, tune: dict) -> dict[str, dict[str, int]]:
    return {"paper": paper, "study": study, "fast": fast, "tune": tune}


# A β-VAE-score point encodes 64 pairs of images (a FactorVAE point 64 images), so those two get few points in a
# study or a trial: the sampling error of an accuracy on 500 points is about ±0.02, on 150 about ±0.035 — enough
# to rank β values that differ, not to split hairs (use the paper's sizes for that). Studies score every run at
# several steps and trials score once, so scoring stays under a fifth of either (scripts/bench.py measures it).
register(MetricInfo(
    "beta_vae",
    (Score("beta_vae_train_accuracy", "β-VAE score (train)"), Score("beta_vae_eval_accuracy", "β-VAE score")),
    main="beta_vae_eval_accuracy",
    sizes=_sizes({"num_train": 10000, "num_eval": 5000}, {"num_train": 500, "num_eval": 500},
                 {"num_train": 200, "num_eval": 100}, {"num_train": 150, "num_eval": 150}),
    about="accuracy of a linear classifier telling which factor a batch of pairs shares (Higgins et al. 2017)",
))
register(MetricInfo(
    "factor_vae",
    (Score("factor_vae_train_accuracy", "FactorVAE score (train)"), Score("factor_vae_eval_accuracy", "FactorVAE score"),
     Score("factor_vae_num_active_dims", "FactorVAE active dims", None)),
    main="factor_vae_eval_accuracy",
    sizes=_sizes({"num_train": 10000, "num_eval": 5000, "num_variance_estimate": 10000},
                 {"num_train": 500, "num_eval": 500, "num_variance_estimate": 5000},
                 {"num_train": 200, "num_eval": 100, "num_variance_estimate": 1000},
                 {"num_train": 200, "num_eval": 200, "num_variance_estimate": 5000}),
    about="majority-vote accuracy of the least-varying dimension per fixed factor (Kim & Mnih 2018)",
))
register(MetricInfo(
    "mig",
    (Score("mig", "MIG"),),
    main="mig",
    sizes=_sizes({"num_train": 10000}, {"num_train": 10000}, {"num_train": 1000}, {"num_train": 10000}),
    about="mutual information gap between the two most informative dimensions per factor (Chen et al. 2018)",
))
register(MetricInfo(
    "dci",
    (Score("dci_disentanglement", "DCI disentanglement"), Score("dci_completeness", "DCI completeness"),
     Score("dci_informativeness_train", "DCI informativeness (train)"),
     Score("dci_informativeness_test", "DCI informativeness (test)")),
    main="dci_disentanglement",
    sizes=_sizes({"num_train": 10000, "num_test": 5000}, {"num_train": 2000, "num_test": 1000},
                 {"num_train": 1000, "num_test": 500}, {"num_train": 2000, "num_test": 1000}),
    about="disentanglement, completeness, informativeness from per-factor importances (Eastwood & Williams 2018)",
))
register(MetricInfo(
    "sap",
    (Score("sap", "SAP"),),
    main="sap",
    sizes=_sizes({"num_train": 10000, "num_test": 5000}, {"num_train": 2000, "num_test": 1000},
                 {"num_train": 1000, "num_test": 500}, {"num_train": 2000, "num_test": 1000}),
    about="separated attribute predictability: gap between the two best single-dimension predictors (Kumar et al. 2018)",
))

register(MetricInfo(
    "unsupervised",
    (Score("unsupervised_gaussian_total_correlation", "Gaussian total correlation", False),
     Score("unsupervised_gaussian_wasserstein_correlation", "Gaussian Wasserstein correlation", False),
     Score("unsupervised_gaussian_wasserstein_correlation_norm", "Gaussian Wasserstein correlation (normalised)", False),
     Score("unsupervised_mutual_info_score", "mutual information between dimensions", False)),
    main="unsupervised_gaussian_total_correlation",
    # Encoding is the whole cost (the arithmetic on 10,000 codes takes milliseconds), as for MIG.
    sizes=_sizes({"num_train": 10000}, {"num_train": 10000}, {"num_train": 1000}, {"num_train": 10000}),
    needs_factors=False,
    about="dependence between the dimensions of the posterior means, no labels needed (Locatello et al. 2019)",
))

# Modularity and IRS cost an encoding of their points plus arithmetic (and for explicitness one logistic regression
# per factor, about 2 s on 10,000 codes): their plug-in informations and maxima move with the number of points, so
# studies and trials keep MIG's 10,000 training points and test explicitness on fewer.
register(MetricInfo(
    "modularity",
    (Score("modularity", "modularity"), Score("modularity_explicitness_train", "explicitness (train)"),
     Score("modularity_explicitness_test", "explicitness")),
    main="modularity",
    sizes=_sizes({"num_train": 10000, "num_test": 5000}, {"num_train": 10000, "num_test": 2000},
                 {"num_train": 1000, "num_test": 500}, {"num_train": 10000, "num_test": 2000}),
    about="is each dimension about one factor (modularity), can a linear model read each factor (Ridgeway & Mozer 2018)",
))
register(MetricInfo(
    "irs",
    (Score("irs", "IRS"), Score("irs_num_active_dims", "IRS active dims", None)),
    main="irs",
    sizes=_sizes({"num_train": 10000}, {"num_train": 10000}, {"num_train": 1000}, {"num_train": 10000}),
    about="how little each dimension moves when its factor is held fixed and the others change (Suter et al. 2019)",
))


def _downstream_scores(name: str, text: str) -> tuple[Score, ...]:
    """Main key (accuracy with num_train training codes), train accuracy, and the paper's learning-curve points."""
    curve = tuple(Score(f"{name}_{n}_test_accuracy", f"{text}, {n:,} training codes") for n in (10, 100, 1000, 10000))
    return (Score(f"{name}_test_accuracy", text), Score(f"{name}_train_accuracy", f"{text} (train)")) + curve


# The downstream classifiers are the cost. Measured on the shipped 10-dim β-VAE and dSprites' 5 factors (AMD EPYC, 2
# cores shared with other work): at the paper's sizes logistic regression took 55 s and boosted trees 13 min; at the
# study's 1,000 / 1,000 points 4 s and 30 s; at fast's 100 / 500 3 s and 9 s. Studies and trials train on at most
# 1,000 codes; their keys are the main one and the curve's 10, 100 and 1,000.
register(MetricInfo(
    "downstream_logreg",
    _downstream_scores("downstream_logreg", "downstream accuracy, logistic regression"),
    main="downstream_logreg_test_accuracy",
    sizes=_sizes({"num_train": 10000, "num_test": 5000}, {"num_train": 1000, "num_test": 1000},
                 {"num_train": 100, "num_test": 500}, {"num_train": 1000, "num_test": 1000}),
    about="test accuracy of a cross-validated logistic regression per factor (Locatello et al. 2019)",
))
register(MetricInfo(
    "downstream_gbt",
    _downstream_scores("downstream_gbt", "downstream accuracy, boosted trees"),
    main="downstream_gbt_test_accuracy",
    sizes=_sizes({"num_train": 10000, "num_test": 5000}, {"num_train": 1000, "num_test": 1000},
                 {"num_train": 100, "num_test": 500}, {"num_train": 1000, "num_test": 1000}),
    about="test accuracy of gradient-boosted trees per factor (Locatello et al. 2019)",
))

# UDR scores a model against the other seeds of its setting (tfbetavae.metrics.udr), so it is no per-model entry of
# METRICS: a study's cells save their codes of ``num_points`` images and its results score them.
ACROSS_MODELS: dict[str, MetricInfo] = {
    "udr": MetricInfo(
        "udr",
        (Score("udr", "UDR"), Score("udr_a2a", "UDR-A2A")),
        main="udr",
        sizes=_sizes({"num_points": 1000}, {"num_points": 1000}, {"num_points": 300}, {"num_points": 1000}),
        needs_factors=False,
        about="how alike the codes of models of one setting are across seeds, up to permutation and sign (Duan et al. 2020)",
    ),
}

# Scores every trial and every study row has, whatever the metrics: measured on held-out images.
COMMON_SCORES: tuple[Score, ...] = (
    Score("reconstruction", "reconstruction (nats)", False),
    Score("kl", "KL (nats)", None),
    Score("loss", "loss", None),
    Score("active_dims", "active dims", None),
)

# A study's score name -> (catalogue metric, fixed arguments): both β-VAE protocols are scored under their own name,
# so a study row holds ``beta_vae_eval_accuracy`` and ``beta_vae_paper_eval_accuracy`` side by side.
STUDY_SCORES: dict[str, tuple[str, dict[str, Any]]] = {
    "beta_vae": ("beta_vae", {"protocol": "standard"}),
    "beta_vae_paper": ("beta_vae", {"protocol": "paper"}),
    "factor_vae": ("factor_vae", {}),
    "mig": ("mig", {}),
    "dci": ("dci", {}),
    "sap": ("sap", {}),
    "unsupervised": ("unsupervised", {}),
    "udr": ("udr", {}),  # across the seeds of a setting: each cell saves codes, the results score them
}
_STUDY_VARIANT_LABELS = {"beta_vae_paper": ("beta_vae", "paper protocol")}


def _variant_scores(name: str) -> tuple[Score, ...]:
    """The keys a study score variant writes: its metric's keys renamed, labelled with the variant."""
    metric, note = _STUDY_VARIANT_LABELS[name]
    renamed = []
    for score in METRIC_INFO[metric].scores:
        key = name + score.key[len(metric):]
        base, _, rest = score.label.partition(" (")
        text = f"{base}, {note}" + (f" ({rest}" if rest else "")
        renamed.append(Score(key, text, score.higher_is_better))
    return tuple(renamed)


def score_info() -> dict[str, tuple[str, bool | None]]:
    """Every known result key -> (label, higher is better), in the order reports list them."""
    info: dict[str, tuple[str, bool | None]] = {}
    for name, (metric, _) in STUDY_SCORES.items():
        scores = _variant_scores(name) if name in _STUDY_VARIANT_LABELS else _info(metric).scores
        for score in sorted(scores, key=lambda s: s.key != _info(metric).main.replace(metric, name, 1)):
            info.setdefault(score.key, (score.label, score.higher_is_better))
    for metric in METRIC_INFO.values():  # metrics no study names (yet) still get their labels
        for score in metric.scores:
            info.setdefault(score.key, (score.label, score.higher_is_better))
    for score in COMMON_SCORES:
        info.setdefault(score.key, (score.label, score.higher_is_better))
    return info


def label(key: str) -> str:
    """The readable label of a result key (the key itself for one the catalogue does not know)."""
    return score_info().get(key, (key, None))[0]


def direction(key: str) -> bool | None:
    """True when higher is better, False when lower is, None when neither or unknown."""
    return score_info().get(key, (key, None))[1]


def metric_keys() -> dict[str, tuple[str, ...]]:
    """Metric -> the flat keys ``evaluate`` writes for it."""
    return {name: info.keys for name, info in METRIC_INFO.items()}


def primary_key(metric: str) -> str:
    """The key that is "the" score of a metric (``mig`` for MIG, ``beta_vae_eval_accuracy`` for the β-VAE score)."""
    return _info(metric).main


def _info(metric: str) -> MetricInfo:
    if metric in ACROSS_MODELS:
        return ACROSS_MODELS[metric]
    if metric not in METRIC_INFO:
        raise ValueError(f"unknown metric {metric!r}; known metrics: {[*METRIC_INFO, *ACROSS_MODELS]}")
    return METRIC_INFO[metric]


def sizes(metric: str, preset: str = "paper", overrides: Mapping[str, Any] | None = None) -> dict[str, int]:
    """The sizes a metric scores on under a preset, with ``overrides`` (flat, or nested under the metric's name).

    An override the metric has no size for is ignored here (it may be another metric's, or not a size at all).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown size preset {preset!r}; choose from {list(PRESETS)}")
    result = dict(_info(metric).sizes[preset])
    overrides = overrides or {}
    nested = overrides.get(metric)
    for source in (overrides, nested if isinstance(nested, Mapping) else {}):
        result.update({key: int(value) for key, value in source.items() if key in result})
    return result


# Fewer held-out points than this and an accuracy moves by more than ±0.1 from sampling alone (1/√n): the number
# says nothing about the model. A score on so few points is reported with a warning, never silently.
MIN_EVALUATION_POINTS = 100


def too_few_points(metric: str, sizes: Mapping[str, int]) -> str | None:
    """Why a score on ``sizes`` means nothing (its evaluation points below ``MIN_EVALUATION_POINTS``), or None."""
    key = next((k for k in ("num_eval", "num_test") if k in sizes), "num_train")
    points = int(sizes.get(key, MIN_EVALUATION_POINTS))
    if points >= MIN_EVALUATION_POINTS:
        return None
    return (f"{metric} on {points} {'evaluation' if key != 'num_train' else ''} points moves by about "
            f"±{1 / points ** 0.5:.2f} from sampling alone; use {key} ≥ {MIN_EVALUATION_POINTS} for a number that means "
            "something").replace("  ", " ")


def study_main_key(name: str) -> str:
    """The main key of a study score: its metric's, under the study score's own name (``beta_vae_paper_eval_accuracy``)."""
    if name not in STUDY_SCORES:
        raise ValueError(f"unknown score {name!r}; choose from {list(STUDY_SCORES)}")
    metric = STUDY_SCORES[name][0]
    return name + primary_key(metric)[len(metric):]


def study_sizes(name: str, preset: str = "study") -> dict[str, int]:
    """The sizes of a study score (``beta_vae_paper`` included) under the ``study`` or ``fast`` preset."""
    if name not in STUDY_SCORES:
        raise ValueError(f"unknown score {name!r}; choose from {list(STUDY_SCORES)}")
    return sizes(STUDY_SCORES[name][0], preset)

