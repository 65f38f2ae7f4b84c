"""The metric registry and ``evaluate``: several metrics in one call, with flat, prefixed result keys.

Flat keys (``beta_vae_eval_accuracy``, ``mig``, ``dci_disentanglement``, ...) are what Keras logs, History,
TensorBoard and KerasTuner can consume directly, so the callback reuses this function.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.metrics import catalogue
from tfbetavae.metrics.beta_vae import beta_vae_score
from tfbetavae.metrics.dci import dci
from tfbetavae.metrics.downstream import downstream_gbt, downstream_logreg
from tfbetavae.metrics.factor_vae import factor_vae_score
from tfbetavae.metrics.irs import irs
from tfbetavae.metrics.mig import mig
from tfbetavae.metrics.modularity import modularity
from tfbetavae.metrics.representation import as_representation, check_representation
from tfbetavae.metrics.sap import sap
from tfbetavae.metrics.unsupervised import resolve_source, unsupervised

METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "beta_vae": beta_vae_score,
    "factor_vae": factor_vae_score,
    "mig": mig,
    "dci": dci,
    "sap": sap,
    "unsupervised": unsupervised,
    "modularity": modularity,
    "irs": irs,
    "downstream_logreg": downstream_logreg,
    "downstream_gbt": downstream_gbt,
}

_RESERVED = ("represent", "data", "seed")

# A library-wide protocol → each metric's fixed settings under it (see docs/metrics.md for the table).
PROTOCOLS: dict[str, dict[str, dict[str, Any]]] = {
    "library": {"dci": {"protocol": "library"}, "sap": {"protocol": "library"}},
    "disentanglement_lib": {
        "beta_vae": {"protocol": "standard"},
        "factor_vae": {"prune_threshold": 0.05},
        "mig": {"num_bins": 20},
        "dci": {"protocol": "disentanglement_lib"},
        "sap": {"protocol": "disentanglement_lib"},
        "unsupervised": {"num_bins": 20},
        "modularity": {"num_bins": 20},
        "irs": {"num_bins": 20, "diff_quantile": 0.99},
        # downstream_logreg / downstream_gbt: the same estimators under both protocols (metrics/downstream.py)
    },
}


def apply_protocol(names: Sequence[str], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Turns ``protocol="library"|"disentanglement_lib"`` into each chosen metric's settings.

    Any other ``protocol`` (the β-VAE score's own ``"standard"`` / ``"paper"``) goes to the β-VAE score only.
    A keyword that contradicts the chosen protocol is an error, so a number never claims a protocol it missed.
    """
    kwargs = dict(kwargs)
    protocol = kwargs.pop("protocol", None)
    if protocol is None:
        return kwargs
    if protocol not in PROTOCOLS:
        if "beta_vae" in names:
            kwargs["beta_vae"] = {**kwargs.get("beta_vae", {}), "protocol": protocol}
            return kwargs
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}")
    for name in names:
        specific = dict(kwargs.get(name, {}))
        for key, value in PROTOCOLS[protocol].get(name, {}).items():
            given = specific.get(key, kwargs.get(key, value))
            if given != value:
                raise ValueError(f"protocol={protocol!r} sets {name}'s {key} to {value!r}, but {key}={given!r} was given")
            specific[key] = value
        if specific:
            kwargs[name] = specific
    return kwargs


def check_metric_names(names: str | Sequence[str]) -> tuple[str, ...]:
    """Names as a tuple; an unknown one raises a ValueError listing the known metrics."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ValueError(f"choose at least one metric from {list(METRICS)}")
    for name in names:
        if name not in METRICS:
            raise ValueError(f"unknown metric {name!r}; known metrics: {list(METRICS)}")
    return names


# What ``evaluate`` scores when no names are given: the five classic scores, minutes at the papers' sizes. The newer
# ones are asked for by name (the downstream task's gradient-boosted trees alone take over ten minutes there).
DEFAULT_METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap")


def metrics_without_factors() -> tuple[str, ...]:
    """The metrics that score data without known factors (an array of images, an image folder)."""
    return tuple(name for name in METRICS if not _needs_factors(name))


def check_data_for(names: Sequence[str], data: Any) -> Any:
    """``data`` ready for the named metrics: a data set name or an image folder is resolved (``resolve_source``), and data
    without factors is refused by name when a chosen metric needs them."""
    if isinstance(data, (str, os.PathLike)):
        data = resolve_source(data)
    if isinstance(data, GroundTruthData):
        return data
    needing = [name for name in names if _needs_factors(name)]
    if needing:
        raise ValueError(
            f"{', '.join(needing)} need{'s' if len(needing) == 1 else ''} data with known factors (a GroundTruthData "
            f"such as tfbetavae.dsprites()), and the {type(data).__name__} given has none; without factors choose from "
            f"{list(metrics_without_factors())}"
        )
    return data


def _needs_factors(name: str) -> bool:
    info = catalogue.METRIC_INFO.get(name)
    return True if info is None else info.needs_factors


def route_kwargs(names: Sequence[str], kwargs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Keyword arguments for each metric.

    A keyword that is a metric name with a dict value (``mig={"num_bins": 10}``) goes to that metric only;
    any other keyword goes to every chosen metric whose signature has it (``num_train=500`` reaches all of
    them, ``num_bins=10`` only MIG). A keyword no chosen metric takes is an error, so typos do not pass silently.
    """
    kwargs = apply_protocol(names, kwargs)  # protocol="disentanglement_lib" → each metric's settings
    routed: dict[str, dict[str, Any]] = {name: {} for name in names}
    shared = {key: value for key, value in kwargs.items() if key not in METRICS}
    for key, value in shared.items():
        takers = [name for name in names if key in _parameters(name)]
        if not takers:
            raise ValueError(f"no chosen metric {list(names)} takes the keyword {key!r}")
        for name in takers:
            routed[name][key] = value
    for name in METRICS:
        if name not in kwargs:
            continue
        specific = kwargs[name]
        if not isinstance(specific, Mapping):
            raise ValueError(f"keyword {name!r} must be a dict of arguments for that metric, got {specific!r}")
        if name not in names:
            raise ValueError(f"arguments given for metric {name!r}, which is not among the chosen {list(names)}")
        for key in specific:
            if key not in _parameters(name) or key in _RESERVED:
                raise ValueError(f"metric {name!r} has no keyword {key!r}; it takes {sorted(_parameters(name))}")
        routed[name].update(specific)
    return routed


def evaluate(
    represent: Any,
    data: Any,
    names: str | Sequence[str] | None = None,
    seed: int = 0,
    representation: str = "mean",
    **kwargs: Any,
) -> dict[str, float]:
    """Runs the named metrics and returns one flat dict: ``{metric}_{key}``, or just ``{metric}`` for ``mig``/``sap``.

    ``kwargs`` are routed as in ``route_kwargs``: shared keywords go to every metric that takes them,
    ``<metric>={...}`` to that metric only. Every metric gets the same ``seed``. ``protocol="disentanglement_lib"``
    scores every metric with that library's estimators and settings (``apply_protocol``). ``names=None`` is
    ``DEFAULT_METRICS`` (the five classic scores) for a GroundTruthData, ``metrics_without_factors()`` for data without factors
    (an array of images, an image folder, a ``tf.data.Dataset``), which the other metrics refuse (``check_data_for``).
    ``representation="sampled"`` scores one posterior draw per image instead of the mean (``as_representation``);
    each metric draws from its own generator seeded with ``seed``, so its codes do not depend on the other metrics.
    """
    representation = check_representation(representation)
    if names is None:
        data = check_data_for((), data)
        names = DEFAULT_METRICS if isinstance(data, GroundTruthData) else metrics_without_factors()
    names = check_metric_names(names)
    data = check_data_for(names, data)
    routed = route_kwargs(names, kwargs)
    for name in names:  # a score on a handful of points is noise: say so where it is made
        reason = catalogue.too_few_points(name, catalogue.sizes(name, "paper", routed[name])) \
            if name in catalogue.METRIC_INFO else None
        if reason:
            warnings.warn(reason, UserWarning, stacklevel=2)
    represent_fn = as_representation(represent)
    results: dict[str, float] = {}
    for name in names:
        codes_fn = represent_fn if representation == "mean" else as_representation(represent_fn, representation, seed)
        for key, value in METRICS[name](codes_fn, data, seed=seed, **routed[name]).items():
            results[name if key == name else f"{name}_{key}"] = value
    return results


SIZE_KEYS = catalogue.SIZE_KEYS


def scoring_record(
    names: str | Sequence[str], seed: int = 0, representation: str = "mean", **kwargs: Any
) -> dict[str, Any]:
    """How ``evaluate(represent, data, names, seed, representation, **kwargs)`` makes its scores, to be stored beside them.

    ``{"protocol": "library" | "disentanglement_lib", "metric_sizes": {metric: {"num_train": ..., ...}}, "seed":
    ...}``, plus ``"beta_vae_protocol"`` (``"standard"`` or ``"paper"``) when the β-VAE score is among them. The
    protocols and the sizes move every score (docs/metrics.md), so a number written without them cannot be put
    beside another: a JSON file, a model card, a training history keep this record with their scores.
    ``"representation": "sampled"`` is added when the codes were posterior draws; a record without that key scored the
    posterior means (the default, and every record written before the choice existed).
    """
    representation = check_representation(representation)
    names = check_metric_names(names)
    routed = route_kwargs(names, kwargs)
    protocol = kwargs.get("protocol")
    record: dict[str, Any] = {
        "protocol": protocol if protocol in PROTOCOLS else "library",
        "metric_sizes": {},
        "seed": int(seed),
    }
    for name in names:
        record["metric_sizes"][name] = catalogue.sizes(name, "paper", routed[name])
    if "beta_vae" in names:
        default = inspect.signature(METRICS["beta_vae"]).parameters["protocol"].default
        record["beta_vae_protocol"] = routed["beta_vae"].get("protocol", default)
    if representation != "mean":
        record["representation"] = representation
    return record


def _parameters(name: str) -> set[str]:
    return set(inspect.signature(METRICS[name]).parameters) - set(_RESERVED)
