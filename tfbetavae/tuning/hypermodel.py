"""The β search space and trial as a KerasTuner ``HyperModel``: ``build(hp)`` makes a compiled model, ``fit``
trains and scores it.

Every trial builds a fresh ``BetaVAE`` from the trial's hyperparameters, trains it for ``steps`` batches of the data
(training seed ``seed``), and reports a dict of floats (computed on a held-out seed ``eval_seed``, never equal to a
training seed):

* the chosen metric's keys as ``tfbetavae.metrics.evaluate`` names them (``beta_vae_train_accuracy``,
  ``beta_vae_eval_accuracy``, ``mig``, ``dci_disentanglement``, ``unsupervised_gaussian_total_correlation``, ...);
* ``score``: the number the objective is about (``beta_vae_eval_accuracy`` by default);
* ``reconstruction``, ``kl``, ``loss`` (nats per image) and ``active_dims`` on ``num_eval_images`` images drawn with
  the held-out seed, and ``steps_trained`` (the model's step counter);
* ``constrained_score`` when ``max_reconstruction`` is set (see ``constrained_score``).

The data may have known factors (a ``GroundTruthData``) or not (an array of images, a ``tf.data.Dataset``): without
factors only the objectives that need none run (``objectives_without_factors``), among them ``"udr"``, which trains
``seeds_per_trial`` seeds of every β and scores how much they agree (Duan et al. 2020; ``UDR_KEYS``).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import keras_tuner as kt
import numpy as np
import tensorflow as tf
from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

from tfbetavae.checks import int_at_least, non_negative_float
from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.data.pipeline import training_dataset
from tfbetavae.metrics import catalogue
from tfbetavae.model import LIKELIHOODS, BetaVAE
from tfbetavae.objectives import build_model
from tfbetavae.training import DEFAULT_LEARNING_RATE, StopOnNonFiniteLoss, compile_model
from tfbetavae.tuning._checks import choices, non_negative_int, positive_float, positive_int

__all__ = [
    "COMMON_KEYS",
    "CONSTRAINED_KEY",
    "DEFAULT_BETAS",
    "DEFAULT_SEEDS_PER_TRIAL",
    "METRIC_KEYS",
    "MINIMISED_KEYS",
    "PRIMARY_KEYS",
    "UDR_KEYS",
    "UDR_OBJECTIVE",
    "BetaVAEHyperModel",
    "ScoreFunction",
    "constrained_score",
    "objective_direction",
    "objectives_without_factors",
]

DEFAULT_BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)

# What each registry metric reports (as ``evaluate`` prefixes it), and which of those is "the" score: the catalogue's.
METRIC_KEYS: dict[str, tuple[str, ...]] = catalogue.metric_keys()
PRIMARY_KEYS = {name: catalogue.primary_key(name) for name in catalogue.METRIC_INFO}
# Keys every trial reports whatever the metric; the first three are minimised when used as objective.
MINIMISED_KEYS = ("reconstruction", "kl", "loss")
COMMON_KEYS = ("score", *MINIMISED_KEYS, "active_dims", "steps_trained")
CONSTRAINED_KEY = "constrained_score"
# The UDR objective: a trial trains several seeds of its β and reports their agreement (maximised), the lowest and
# highest score of a seed pair, and the seed of its median-UDR model, the one checkpointed and exported.
UDR_OBJECTIVE = "udr"
UDR_KEYS = ("udr", "udr_pair_min", "udr_pair_max", "model_seed")
DEFAULT_SEEDS_PER_TRIAL = 3
_UDR_OPTIONS = ("num_points", "batch_size", "correlation", "kl_threshold", "alpha")  # what metric_kwargs may set

ScoreFunction = Callable[[BetaVAE, Any, int], float]


def objectives_without_factors() -> tuple[str, ...]:
    """The objectives a search on data without known factors can use (a score function can be used as well)."""
    names = [UDR_OBJECTIVE]
    for name, info in catalogue.METRIC_INFO.items():
        if not info.needs_factors:
            names += [name, *info.keys]
    return (*names, *MINIMISED_KEYS, "active_dims")


def objective_direction(key: str, metric: str | None = None) -> str:
    """``"min"`` or ``"max"`` for a result key, from the metric catalogue (``score`` takes its metric's main key's).

    Reconstruction, KL and loss are minimised, as is every key the catalogue says is better lower (the unsupervised
    total correlation); keys it calls neither (active dimensions) and keys it does not know (``udr``) are maximised.
    """
    if key in MINIMISED_KEYS:
        return "min"
    if key == "score" and metric is not None:
        key = PRIMARY_KEYS[metric]
    return "min" if catalogue.direction(key) is False else "max"


def constrained_score(score: float, reconstruction: float, max_reconstruction: float) -> float:
    """The ``constrained_score`` objective: "highest score among trials whose reconstruction ≤ X".

    ``score`` when ``reconstruction <= max_reconstruction``; otherwise ``-1 - (reconstruction - X) / X``.
    Registry scores lie in [0, 1], so every trial within the bound outranks every trial above it, and among
    trials above it the one closest to the bound ranks highest (which steers Bayesian optimisation back).
    """
    bound = positive_float(max_reconstruction, "max_reconstruction")
    if not math.isfinite(reconstruction):
        return float("-inf")
    if reconstruction <= bound:
        return float(score)
    return -1.0 - (float(reconstruction) - bound) / bound


# --------------------------------------------------------------------------- the data
def _is_dataset(data: Any) -> bool:
    return isinstance(data, tf.data.Dataset)


def _check_data(data: Any) -> None:
    """Refuses data the tuner cannot train on, naming what it takes instead."""
    if isinstance(data, GroundTruthData) or _is_dataset(data):
        return
    if isinstance(data, (str, os.PathLike)):
        raise TypeError(
            f"data {os.fspath(data)!r} is a path: give an image folder as "
            "tfbetavae.data.image_folder_dataset(folder, (H, W), channels, repeat=False).unbatch(), "
            "or use `tfbetavae tune --data FOLDER --image-size H,W --channels C`"
        )
    if not isinstance(data, np.ndarray):
        raise TypeError(
            "data must be a GroundTruthData (known factors, e.g. tfbetavae.dsprites()), an array of images "
            f"[N, H, W, C] or a tf.data.Dataset of images, got {type(data).__name__}"
        )
    if data.ndim != 4:
        raise ValueError(f"an array of images must be [N, H, W, C], got shape {data.shape}")


def _data_shape(data: Any) -> tuple[int, ...]:
    """The shape of one image of ``data`` (an array's values and a dataset's element shape are checked here)."""
    if isinstance(data, GroundTruthData):
        return tuple(data.observation_shape)
    spec = training_dataset(data, batch_size=1, seed=0).element_spec  # checks an array's values, a dataset's rank
    shape = tuple(spec.shape[1:])
    if any(size is None for size in shape):
        raise ValueError(f"the dataset's images need a fixed shape [H, W, C], got {shape} (resize them first)")
    return tuple(int(size) for size in shape)


def _describe_data(data: Any) -> str:
    """What ``settings`` records of the data (a GroundTruthData by its class, as searches always have)."""
    if isinstance(data, GroundTruthData):
        return f"{type(data).__module__}.{type(data).__name__}"
    if isinstance(data, np.ndarray):
        return f"numpy.ndarray of {len(data)} images"
    return "tf.data.Dataset of images"


# --------------------------------------------------------------------------- the hypermodel
class BetaVAEHyperModel(kt.HyperModel):
    """KerasTuner HyperModel: ``build(hp)`` gives a compiled ``BetaVAE``, ``fit`` trains it and scores it.

    Data (``data``): a ``GroundTruthData`` (known factors: every objective), or data without factors, an array of
    images [N, H, W, C] or a ``tf.data.Dataset`` of images (only ``objectives_without_factors()`` and score
    functions; any other objective is refused here, before training).

    Search space (hyperparameter names in brackets):

    * [beta] ``betas`` (a choice, default 1, 2, 4, 8, 16) or ``beta_range=(lo, hi)`` (log-uniform);
    * [latent_dim] ``latent_dim``, [learning_rate] ``learning_rate``: a single value (recorded as fixed) or a
      list to choose from;
    * [capacity], [gamma] ``capacity``: C_max values (nats) for Burgess et al.'s capacity objective. With
      capacity the model ignores β, so β is then not searched (giving ``betas`` too is an error);
    * the networks: ``build_networks=fn``, ``fn(hp) -> (encoder, decoder)`` declaring its own hyperparameters
      (see ``build_networks``), so architecture is searched alongside β.

    Objective (``objective``):

    * a registry metric name (``"beta_vae"``, ``"factor_vae"``, ``"mig"``, ``"dci"``, ``"sap"``,
      ``"unsupervised"``): its main key (``PRIMARY_KEYS``), in the catalogue's direction (the unsupervised total
      correlation is minimised, the others maximised);
    * any key a trial reports (``result_keys``), e.g. ``"dci_completeness"`` (maximised) or
      ``"reconstruction"`` (minimised, as are ``kl`` and ``loss``);
    * ``"udr"``: every trial trains ``seeds_per_trial`` seeds (default 3, at least 2) and maximises their UDR
      (``tfbetavae.metrics.udr``), reporting ``UDR_KEYS`` and the seeds' median reconstruction, KL and loss; its
      checkpoint is the median-UDR model. ``metric_kwargs`` go to ``udr`` (``num_points``, ``correlation``, ...);
    * a function ``f(model, data, seed) -> float`` to maximise, reported as ``score`` (no registry metric runs);
    * with ``max_reconstruction=X`` the objective becomes ``constrained_score`` (see ``constrained_score``).

    ``metric`` picks the registry metric whose keys are reported when the objective is not itself a metric key
    (default ``"beta_vae"``, or ``"unsupervised"`` on data without factors); ``metric_kwargs`` go to
    ``tfbetavae.metrics.evaluate`` (e.g. ``num_train=500``), over the tuner's sizes
    (``tfbetavae.tuning.sizes.TUNING_SIZES``), or over the metrics' own (the papers') sizes with ``paper_sizes=True``.
    ``representation="sampled"`` scores one posterior draw per image instead of the mean (``evaluate``'s choice).
    """

    def __init__(
        self,
        data: Any,
        steps: int = 1000,
        *,
        betas: Sequence[float] | None = None,
        beta_range: tuple[float, float] | None = None,
        latent_dim: int | Sequence[int] = 10,
        learning_rate: float | Sequence[float] = DEFAULT_LEARNING_RATE,
        capacity: float | Sequence[float] | None = None,
        gamma: float | Sequence[float] = 1000.0,
        capacity_steps: int | None = None,
        objective: str | ScoreFunction | kt.Objective = "beta_vae",
        metric: str | None = None,
        metric_kwargs: Mapping[str, Any] | None = None,
        paper_sizes: bool = False,
        representation: str = "mean",
        max_reconstruction: float | None = None,
        seeds_per_trial: int | None = None,
        batch_size: int = 64,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        eval_seed: int | None = None,
        num_eval_images: int = 512,
        likelihood: str = "bernoulli",
        kernel_sizes: Sequence[int] = (4, 4, 4, 4),
        name: str | None = None,
        tunable: bool = True,
        build_networks: Callable[[kt.HyperParameters], tuple] | None = None,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        _check_data(data)
        self.data = data
        self.has_factors = isinstance(data, GroundTruthData)
        self.steps = positive_int(steps, "steps")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.steps_per_epoch = self.steps if steps_per_epoch is None else positive_int(steps_per_epoch, "steps_per_epoch")
        self.seed = non_negative_int(seed, "seed")
        self.num_eval_images = positive_int(num_eval_images, "num_eval_images")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.likelihood = likelihood
        self.kernel_sizes = tuple(positive_int(k, "kernel_sizes entry") for k in kernel_sizes)
        if build_networks is not None and not callable(build_networks):
            raise TypeError(f"build_networks must be a function hp -> (encoder, decoder), got {build_networks!r}")
        self._networks_hook = build_networks

        # ---- search space
        self.capacities = None if capacity is None else choices(capacity, "capacity", positive_float)
        self.gammas = choices(gamma, "gamma", positive_float)
        self.capacity_steps = self.steps if capacity_steps is None else positive_int(capacity_steps, "capacity_steps")
        if betas is not None and beta_range is not None:
            raise ValueError("give either betas (a list to choose from) or beta_range (lo, hi), not both")
        if self.capacities is not None and (betas is not None or beta_range is not None):
            raise ValueError("with capacity set the model ignores β; do not give betas/beta_range as well")
        self.betas = None
        self.beta_range = None
        if self.capacities is None:
            if beta_range is not None:
                if isinstance(beta_range, (str, bytes)) or not hasattr(beta_range, "__len__") or len(beta_range) != 2:
                    raise ValueError(f"beta_range must be (lo, hi), got {beta_range!r}")
                low, high = (positive_float(v, "beta_range bound") for v in beta_range)
                if not low < high:
                    raise ValueError(f"beta_range must have lo < hi, got {beta_range!r}")
                self.beta_range = (low, high)
            else:
                self.betas = choices(DEFAULT_BETAS if betas is None else betas, "betas", positive_float)
        self.latent_dims = choices(latent_dim, "latent_dim", positive_int)
        self.learning_rates = choices(learning_rate, "learning_rate", positive_float)

        # ---- objective
        self.score_function: ScoreFunction | None = None
        self.uses_udr = False
        self.max_reconstruction = (
            None if max_reconstruction is None else positive_float(max_reconstruction, "max_reconstruction")
        )
        self.metric, self.score_key, objective_name, direction = self._resolve_objective(objective, metric)
        self._check_factors(objective.name if isinstance(objective, kt.Objective) else objective)
        if self.max_reconstruction is not None:
            if direction == "min" or objective_name in ("active_dims", "steps_trained"):
                raise ValueError(
                    f"max_reconstruction constrains a score to maximise; the objective {objective_name!r} "
                    "is not one"
                )
            objective_name, direction = CONSTRAINED_KEY, "max"
        elif objective_name == CONSTRAINED_KEY:
            raise ValueError("the objective 'constrained_score' needs max_reconstruction")
        self.objective = kt.Objective(objective_name, direction)

        # ---- seeds: UDR compares several seeds of one β; every other objective trains one
        if self.uses_udr:
            count = DEFAULT_SEEDS_PER_TRIAL if seeds_per_trial is None else seeds_per_trial
            self.seeds_per_trial = int_at_least(
                count, "seeds_per_trial", 2, "an integer >= 2 for the objective 'udr' (it compares the seeds of a β)"
            )
        else:
            if seeds_per_trial not in (None, 1):
                positive_int(seeds_per_trial, "seeds_per_trial")
                raise ValueError(
                    f"seeds_per_trial={seeds_per_trial} is for the objective 'udr' (which compares the seeds of a β); "
                    f"the objective {objective_name!r} trains one seed a trial"
                )
            self.seeds_per_trial = 1
        self.seeds = tuple(range(self.seed, self.seed + self.seeds_per_trial))
        self.eval_seed = self.seed + self.seeds_per_trial if eval_seed is None else non_negative_int(eval_seed, "eval_seed")
        if self.eval_seed in self.seeds:
            which = f"seed ({self.seed})" if len(self.seeds) == 1 else f"seeds {list(self.seeds)}"
            raise ValueError(f"eval_seed must differ from the training {which} so scores are held out")
        self.input_shape = _data_shape(data)

        from tfbetavae.tuning.sizes import TUNING_SIZES

        self.paper_sizes = bool(paper_sizes)
        sizes = {} if self.paper_sizes or self.metric is None else TUNING_SIZES.get(self.metric, {})
        self.metric_kwargs = {"progress": False, **sizes, **dict(metric_kwargs or {})}
        if self.uses_udr:
            self._check_udr_kwargs(metric_kwargs or {})
        elif self.metric is not None:
            from tfbetavae.metrics.evaluation import route_kwargs

            route_kwargs([self.metric], self.metric_kwargs)  # unknown keywords fail now, not in trial 1
        elif metric_kwargs:
            raise ValueError("metric_kwargs are for registry metrics; a score function takes none")
        from tfbetavae.metrics.representation import check_representation

        self.representation = check_representation(representation)
        if self.representation != "mean" and self.metric is None:
            what = "UDR compares posterior means across seeds" if self.uses_udr else "a score function encodes as it likes"
            raise ValueError(f"representation={self.representation!r} is the codes a registry metric scores; {what}, "
                             "so keep representation='mean'")

    # ----------------------------------------------------------------- objective
    def _resolve_objective(self, objective, metric):
        """(metric name or None, key reported as ``score``, objective key, direction)."""
        from tfbetavae.metrics.evaluation import METRICS, check_metric_names

        if metric is not None:
            check_metric_names([metric])
        if callable(objective) and not isinstance(objective, kt.Objective):
            if metric is not None:
                raise ValueError("give either a score function as objective or a registry metric, not both")
            self.score_function = objective
            return None, "score", "score", "max"
        direction = None
        if isinstance(objective, kt.Objective):
            objective, direction = objective.name, objective.direction
        if not isinstance(objective, str):
            raise ValueError(f"objective must be a metric name, a result key or a function, got {objective!r}")
        if objective == UDR_OBJECTIVE:
            if metric is not None:
                raise ValueError(f"the objective 'udr' is its own score; drop metric={metric!r}")
            self.uses_udr = True
            return None, UDR_OBJECTIVE, UDR_OBJECTIVE, direction or "max"
        if objective in METRICS:
            if metric is not None and metric != objective:
                raise ValueError(f"objective {objective!r} and metric {metric!r} disagree; give one of them")
            metric, key = objective, PRIMARY_KEYS.get(objective)
            if key is None:
                raise ValueError(f"no main key is known for metric {objective!r}; name one of its keys as objective")
            return metric, key, key, direction or objective_direction(key)
        owner = next((name for name, keys in METRIC_KEYS.items() if objective in keys), None)
        if owner is not None:
            if metric is not None and metric != owner:
                raise ValueError(f"objective {objective!r} is reported by metric {owner!r}, not {metric!r}")
            return owner, objective, objective, direction or objective_direction(objective)
        if objective in COMMON_KEYS or objective == CONSTRAINED_KEY:
            metric = metric or ("beta_vae" if self.has_factors else "unsupervised")
            if metric not in PRIMARY_KEYS:
                raise ValueError(f"no main key is known for metric {metric!r}; name one of its keys as objective")
            return metric, PRIMARY_KEYS[metric], objective, direction or objective_direction(objective, metric)
        known = sorted(
            set(METRICS) | {k for keys in METRIC_KEYS.values() for k in keys} | set(COMMON_KEYS) | {UDR_OBJECTIVE}
        )
        raise ValueError(
            f"unknown objective {objective!r}: no trial reports it. Use a metric name or a result key: {known}, "
            f"or {CONSTRAINED_KEY!r} with max_reconstruction, or a function (model, data, seed) -> float"
        )

    def _check_factors(self, given: str) -> None:
        """Refuses, before any training, a metric that needs known factors on data that has none (``given``: the
        objective as the caller named it)."""
        if self.has_factors or not self._metric_needs_factors():
            return
        why = f"the metric {self.metric!r}" if given != self.metric else "it"
        raise ValueError(
            f"objective {given!r} needs data with known factors ({why} compares the codes with them), and "
            f"the {_describe_data(self.data)} given has none. Without factors, use one of "
            f"{list(objectives_without_factors())} or a function (model, data, seed) -> float; "
            "for 'reconstruction', 'kl' or 'loss' give metric='unsupervised' or none"
        )

    def _metric_needs_factors(self) -> bool:
        if self.metric is None:
            return False
        info = catalogue.METRIC_INFO.get(self.metric)
        return True if info is None else info.needs_factors

    def _check_udr_kwargs(self, kwargs: Mapping[str, Any]) -> None:
        from tfbetavae.metrics.udr import CORRELATIONS

        unknown = sorted(set(kwargs) - set(_UDR_OPTIONS))
        if unknown:
            raise ValueError(f"metric_kwargs {unknown} are not UDR's; it takes {list(_UDR_OPTIONS)}")
        for key in ("num_points", "batch_size"):
            if key in kwargs:
                positive_int(kwargs[key], key)
        if "alpha" in kwargs:
            positive_float(kwargs["alpha"], "alpha")
        if kwargs.get("kl_threshold") is not None:
            non_negative_float(kwargs["kl_threshold"], "kl_threshold")
        if kwargs.get("correlation", CORRELATIONS[0]) not in CORRELATIONS:
            raise ValueError(f"correlation must be one of {CORRELATIONS}, got {kwargs['correlation']!r}")

    @property
    def udr_options(self) -> dict[str, Any]:
        """UDR's settings in effect (its defaults, overridden by ``metric_kwargs``); empty unless the objective is udr."""
        if not self.uses_udr:
            return {}
        from tfbetavae.metrics.udr import udr

        defaults = {key: inspect.signature(udr).parameters[key].default for key in _UDR_OPTIONS}
        return {**defaults, **{k: v for k, v in self.metric_kwargs.items() if k in _UDR_OPTIONS}}

    @property
    def result_keys(self) -> tuple[str, ...]:
        """The keys of the dict every trial reports."""
        if self.uses_udr:
            keys = UDR_KEYS
        else:
            keys = METRIC_KEYS.get(self.metric, (self.score_key,)) if self.metric is not None else ()
        extra = (CONSTRAINED_KEY,) if self.max_reconstruction is not None else ()
        return (*keys, *COMMON_KEYS, *extra)

    def describe_scoring(self) -> str:
        """How a trial is scored, as the progress lines and the results header say it."""
        if self.uses_udr:
            return f"UDR on {self.udr_options['num_points']} points over {self.seeds_per_trial} seeds"
        if self.metric is None:
            return "a score function"
        from tfbetavae.tuning.sizes import describe_sizes, sizes_in_effect

        described = describe_sizes(self.metric, sizes_in_effect(self.metric, self.metric_kwargs), self.paper_sizes)
        return described if self.representation == "mean" else f"{described}, on sampled codes (posterior draws)"

    def scored_images(self) -> int:
        """Images one trial's scoring encodes (held-out terms included), over all its seeds."""
        if self.uses_udr:
            return self.seeds_per_trial * (self.num_eval_images + int(self.udr_options["num_points"]))
        if self.metric is None:
            return self.num_eval_images
        from tfbetavae.tuning.sizes import scored_images, sizes_in_effect

        return self.num_eval_images + scored_images(self.metric, sizes_in_effect(self.metric, self.metric_kwargs))

    def settings(self) -> dict:
        """What makes two searches the same search (checked when a search folder is reused)."""
        function = self.score_function
        return {
            "steps": self.steps,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "eval_seed": self.eval_seed,
            "num_eval_images": self.num_eval_images,
            "data": _describe_data(self.data),
            "input_shape": list(self.input_shape),
            "likelihood": self.likelihood,
            "kernel_sizes": list(self.kernel_sizes),
            "betas": self.betas,
            "beta_range": None if self.beta_range is None else list(self.beta_range),
            "latent_dim": self.latent_dims,
            "learning_rate": self.learning_rates,
            "capacity": self.capacities,
            "gamma": self.gammas if self.capacities is not None else None,
            "capacity_steps": self.capacity_steps if self.capacities is not None else None,
            "objective": self.objective.name,
            "direction": self.objective.direction,
            "metric": self.metric,
            "score_function": None if function is None else getattr(function, "__qualname__", repr(function)),
            "metric_kwargs": {k: v for k, v in self.metric_kwargs.items() if k != "progress"},
            "max_reconstruction": self.max_reconstruction,
            # Only where they are used, so a folder made before they existed still resumes.
            **({} if self.seeds_per_trial == 1 else {"seeds_per_trial": self.seeds_per_trial}),
            **({} if self.representation == "mean" else {"representation": self.representation}),
            **({} if self._networks_hook is None else {"build_networks": getattr(self._networks_hook, "__qualname__", repr(self._networks_hook))}),
        }

    def build_networks(self, hp: kt.HyperParameters) -> tuple | None:
        """(encoder, decoder) for a trial, or None for the standard networks: the hook that searches architecture.

        Give ``build_networks=fn`` (or override this method); ``fn(hp)`` declares its own hyperparameters and reads
        the trial's ``hp.get("latent_dim")``. The networks follow ``BetaVAE``'s contract.
        """
        return None if self._networks_hook is None else self._networks_hook(hp)

    # ----------------------------------------------------------------- build
    @staticmethod
    def _declare(hp: kt.HyperParameters, name: str, values: list):
        return hp.Choice(name, values) if len(values) > 1 else hp.Fixed(name, values[0])

    def build(self, hp: kt.HyperParameters, seed: int | None = None) -> BetaVAE:
        """A compiled BetaVAE for the trial's values, its optimizer built (so checkpoints restore Adam's state).

        The weights start from ``seed`` (default the hypermodel's ``seed``) in every trial, so trials differ only in
        their hyperparameters; this calls ``keras.utils.set_random_seed(seed)``, which also reseeds Python's and
        NumPy's global generators. A UDR trial builds one model a seed of ``seeds``.
        """
        seed = self.seed if seed is None else non_negative_int(seed, "seed")
        if self.capacities is None:
            if self.beta_range is not None:
                beta = hp.Float("beta", self.beta_range[0], self.beta_range[1], sampling="log")
            else:
                beta = self._declare(hp, "beta", self.betas)
            capacity, gamma = None, None  # γ belongs to the capacity objective: the class default elsewhere
        else:
            beta = 1.0
            capacity = self._declare(hp, "capacity", self.capacities)
            gamma = self._declare(hp, "gamma", self.gammas)
        latent_dim = self._declare(hp, "latent_dim", self.latent_dims)
        learning_rate = self._declare(hp, "learning_rate", self.learning_rates)
        keras.utils.set_random_seed(seed)
        networks = self.build_networks(hp)
        if networks is not None and (not isinstance(networks, (tuple, list)) or len(networks) != 2):
            raise ValueError(f"build_networks must return (encoder, decoder), got {type(networks).__name__}")
        encoder, decoder = (None, None) if networks is None else networks
        model = build_model(
            "beta-vae" if capacity is None else "capacity",
            latent_dim=int(latent_dim),
            input_shape=self.input_shape,
            beta=float(beta),
            likelihood=self.likelihood,
            capacity=None if capacity is None else float(capacity),
            capacity_steps=self.capacity_steps,
            gamma=None if gamma is None else float(gamma),
            kernel_sizes=self.kernel_sizes,
            seed=seed,
            encoder=encoder,
            decoder=decoder,
        )
        compile_model(model, float(learning_rate))
        # Optimizer variables now, so a checkpoint's Adam state loads too (Hyperband continues trials from them).
        model.optimizer.build(model.trainable_variables)
        return model

    # ----------------------------------------------------------------- fit
    @property
    def epochs(self) -> int:
        """Epochs of ``steps_per_epoch`` steps that make up ``steps`` (rounded up)."""
        return math.ceil(self.steps / self.steps_per_epoch)

    def fit(self, hp, model, *args, callbacks=None, epochs=None, initial_epoch=0, verbose=0, **kwargs) -> dict:
        """Trains ``model`` and returns the trial's results dict (the tuner reads the objective from it).

        KerasTuner passes ``callbacks`` (its checkpointing callback among them: they go to ``model.fit`` so the
        weights land where ``get_best_models`` and Hyperband look for them); Hyperband also passes ``epochs``
        and ``initial_epoch`` (epochs of ``steps_per_epoch`` steps; a continued trial starts from the weights
        of its parent trial). One positional argument may replace the hypermodel's data.

        With the UDR objective ``model`` is the first seed's; the others are built here, all are trained, and the
        tuner's checkpoint callback is given the median-UDR model alone.
        """
        if kwargs:
            raise ValueError(f"BetaVAEHyperModel.fit got unexpected arguments {sorted(kwargs)}")
        if len(args) > 1:
            raise ValueError("BetaVAEHyperModel.fit takes at most one positional argument (the data)")
        data = args[0] if args else self.data
        _check_data(data)
        if not isinstance(data, GroundTruthData) and self._metric_needs_factors():
            raise TypeError(f"the metric {self.metric!r} needs a GroundTruthData, got {type(data).__name__}")
        epochs = self.epochs if epochs is None else positive_int(epochs, "epochs")
        initial_epoch = non_negative_int(initial_epoch, "initial_epoch")
        callbacks = list(callbacks or [])
        if self.uses_udr:
            return self._fit_seeds(hp, model, data, callbacks, epochs, initial_epoch, verbose)
        if initial_epoch < epochs:
            self._train(model, data, self.seed, callbacks, epochs, initial_epoch, verbose)
        return self.evaluate_model(model, data)

    def _train(self, model, data, seed: int, callbacks: list, epochs: int, initial_epoch: int, verbose: int) -> None:
        # A continued Hyperband trial gets fresh batches rather than the ones its parent already saw.
        dataset = training_dataset(data, batch_size=self.batch_size, seed=seed + 7919 * initial_epoch)
        model.fit(
            dataset,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=self.steps_per_epoch,
            callbacks=[StopOnNonFiniteLoss(), *callbacks],
            verbose=verbose,
            shuffle=False,
        )

    def _fit_seeds(self, hp, model, data, callbacks: list, epochs: int, initial_epoch: int, verbose: int) -> dict:
        """A UDR trial: one model a seed, trained in turn (each built just before, as a one-seed trial would be),
        scored together; the tuner's checkpoint gets the median-UDR model."""
        if initial_epoch:
            raise ValueError("a UDR trial trains every seed from its first step; it cannot continue a trial "
                             f"(initial_epoch={initial_epoch})")
        checkpoints = [callback for callback in callbacks if isinstance(callback, SaveBestEpoch)]
        others = [callback for callback in callbacks if not isinstance(callback, SaveBestEpoch)]
        models = []
        for seed in self.seeds:
            member = model if seed == self.seed else self.build(hp, seed=seed)
            self._train(member, data, seed, others, epochs, 0, verbose)
            models.append(member)
        results, chosen = self.evaluate_seeds(models, data)
        for checkpoint in checkpoints:  # it saves the model it is given, where get_best_models looks
            checkpoint.set_model(models[chosen])
            checkpoint.on_epoch_end(epochs - 1, dict(results))
        return results

    def _held_out(self, model: BetaVAE, data: Any) -> dict[str, float]:
        """Reconstruction, KL, loss and active dimensions on ``num_eval_images`` images drawn with ``eval_seed``.

        From a GroundTruthData they are rendered from the held-out seed's factors; from data without factors they
        are drawn (with that seed) from the same images the model trained on: there is no held-out split.
        """
        from tfbetavae.metrics.held_out import held_out_terms

        return held_out_terms(model, data, self.num_eval_images, self.eval_seed)

    def evaluate_model(self, model: BetaVAE, data: Any = None) -> dict[str, float]:
        """The results dict of a trained model (all values plain floats), computed on the held-out seed."""
        if self.uses_udr:
            raise ValueError("a UDR trial is scored over its seeds: use evaluate_seeds(models)")
        data = self.data if data is None else data
        results = self._held_out(model, data)
        results["steps_trained"] = float(model.step_counter.numpy())
        if self.score_function is not None:
            results["score"] = float(self.score_function(model, data, self.eval_seed))
        else:
            from tfbetavae.metrics import evaluate

            scores = evaluate(model, data, names=[self.metric], seed=self.eval_seed,
                              representation=self.representation, **self.metric_kwargs)
            if self.score_key not in scores:
                raise ValueError(f"metric {self.metric!r} reported {sorted(scores)}, not {self.score_key!r}")
            results.update({key: float(value) for key, value in scores.items()})
            results["score"] = float(scores[self.score_key])
        return self._constrained(results)

    def evaluate_seeds(self, models: Sequence[BetaVAE], data: Any = None) -> tuple[dict[str, float], int]:
        """A UDR trial's results dict and the index of its median-UDR model (the lower middle of an even count).

        ``udr`` is the median of the models' UDR (each the median of its scores against the other seeds),
        ``udr_pair_min``/``udr_pair_max`` the lowest and highest score of an ordered seed pair, ``model_seed`` the
        median model's seed; ``reconstruction``, ``kl``, ``loss`` and ``active_dims`` are medians over the seeds.
        """
        from tfbetavae.metrics.udr import udr

        if len(models) != self.seeds_per_trial:
            raise ValueError(f"expected {self.seeds_per_trial} models (one a seed), got {len(models)}")
        data = self.data if data is None else data
        terms = [self._held_out(model, data) for model in models]
        result = udr(list(models), data, seed=self.eval_seed, progress=False, **self.udr_options)
        order = np.argsort(np.asarray(result.scores), kind="stable")
        chosen = int(order[(len(models) - 1) // 2])
        pairs = result.pairwise[~np.eye(len(models), dtype=bool)]
        results = {key: float(np.median([t[key] for t in terms])) for key in ("reconstruction", "kl", "loss", "active_dims")}
        results["steps_trained"] = float(models[chosen].step_counter.numpy())
        results["udr"] = float(next(iter(result.setting_scores.values()))["udr"])
        results["udr_pair_min"] = float(np.min(pairs))
        results["udr_pair_max"] = float(np.max(pairs))
        results["model_seed"] = float(self.seeds[chosen])
        results["score"] = results["udr"]
        return self._constrained(results), chosen

    def _constrained(self, results: dict[str, float]) -> dict[str, float]:
        if self.max_reconstruction is not None:
            results[CONSTRAINED_KEY] = constrained_score(
                results["score"], results["reconstruction"], self.max_reconstruction
            )
        return results
