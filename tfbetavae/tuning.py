"""Choosing β with KerasTuner: a HyperModel over β (and optionally more), a one-call search, results and plots.

Every trial builds a fresh ``BetaVAE`` from the trial's hyperparameters, trains it for ``steps`` batches of a
``GroundTruthData`` set (training seed ``seed``), and reports a dict of floats (computed on a held-out seed
``eval_seed``, never equal to the training seed):

* the chosen disentanglement metric's keys as ``tfbetavae.metrics.evaluate`` names them
  (``beta_vae_train_accuracy``, ``beta_vae_eval_accuracy``, ``mig``, ``dci_disentanglement``, ...);
* ``score``: the disentanglement number the objective is about (``beta_vae_eval_accuracy`` by default);
* ``reconstruction``, ``kl``, ``loss`` (nats per image) and ``active_dims`` on ``num_eval_images`` held-out
  images, and ``steps_trained`` (the model's step counter);
* ``constrained_score`` when ``max_reconstruction`` is set (see ``constrained_score``).

``search`` runs it with KerasTuner's RandomSearch, BayesianOptimization or Hyperband, resumes a killed search
from its folder (``overwrite=False``), and takes part in KerasTuner's chief/worker distributed mode when the
``KERASTUNER_*`` environment variables are set.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import numpy as np

from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.data.pipeline import training_dataset
from tfbetavae.model import ACTIVE_KL_THRESHOLD, LIKELIHOODS, BetaVAE
from tfbetavae.training import DEFAULT_LEARNING_RATE, StopOnNonFiniteLoss, atomic_write_json, compile_model

__all__ = [
    "DEFAULT_BETAS",
    "METRIC_KEYS",
    "PRIMARY_KEYS",
    "TUNERS",
    "BetaVAEHyperModel",
    "constrained_score",
    "export_best",
    "format_table",
    "is_chief",
    "is_worker",
    "plot_tradeoff",
    "results_table",
    "search",
    "serve_oracle",
]

DEFAULT_BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)
TUNERS = ("random", "bayesian", "hyperband")

# What each registry metric reports (as ``evaluate`` prefixes it), and which of those is "the" score.
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "beta_vae": ("beta_vae_train_accuracy", "beta_vae_eval_accuracy"),
    "factor_vae": ("factor_vae_train_accuracy", "factor_vae_eval_accuracy", "factor_vae_num_active_dims"),
    "mig": ("mig",),
    "dci": ("dci_disentanglement", "dci_completeness", "dci_informativeness_train", "dci_informativeness_test"),
    "sap": ("sap",),
}
PRIMARY_KEYS = {
    "beta_vae": "beta_vae_eval_accuracy",
    "factor_vae": "factor_vae_eval_accuracy",
    "mig": "mig",
    "dci": "dci_disentanglement",
    "sap": "sap",
}
# Keys every trial reports whatever the metric; the first three are minimised when used as objective.
MINIMISED_KEYS = ("reconstruction", "kl", "loss")
COMMON_KEYS = ("score", *MINIMISED_KEYS, "active_dims", "steps_trained")
CONSTRAINED_KEY = "constrained_score"
SETTINGS_FILE = "tfbetavae_search.json"

ScoreFunction = Callable[[BetaVAE, GroundTruthData, int], float]


# --------------------------------------------------------------------------- small checks
def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _positive_float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _choices(values: Any, name: str, convert: Callable[[Any, str], Any]) -> list:
    """A non-empty list of distinct, checked values (a scalar is a one-value list)."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a number or a list of numbers, got {values!r}")
    items = list(values) if isinstance(values, Sequence) or isinstance(values, np.ndarray) else [values]
    if not items:
        raise ValueError(f"{name} is empty: the search space needs at least one value")
    checked = [convert(item, f"{name} entry") for item in items]
    return list(dict.fromkeys(checked))  # drop repeats, keep order


def constrained_score(score: float, reconstruction: float, max_reconstruction: float) -> float:
    """The ``constrained_score`` objective: "highest score among trials whose reconstruction ≤ X".

    ``score`` when ``reconstruction <= max_reconstruction``; otherwise ``-1 - (reconstruction - X) / X``.
    Registry scores lie in [0, 1], so every trial within the bound outranks every trial above it, and among
    trials above it the one closest to the bound ranks highest (which steers Bayesian optimisation back).
    """
    bound = _positive_float(max_reconstruction, "max_reconstruction")
    if not math.isfinite(reconstruction):
        return float("-inf")
    if reconstruction <= bound:
        return float(score)
    return -1.0 - (float(reconstruction) - bound) / bound


def is_chief() -> bool:
    """True in the KerasTuner chief process (``KERASTUNER_ORACLE_IP`` set, tuner id containing "chief")."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.is_chief_oracle()


def is_worker() -> bool:
    """True in a KerasTuner worker process (``KERASTUNER_ORACLE_IP`` set, tuner id without "chief")."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


# --------------------------------------------------------------------------- the hypermodel
class BetaVAEHyperModel(kt.HyperModel):
    """KerasTuner HyperModel: ``build(hp)`` gives a compiled ``BetaVAE``, ``fit`` trains it and scores it.

    Search space (hyperparameter names in brackets):

    * [beta] ``betas`` (a choice, default 1, 2, 4, 8, 16) or ``beta_range=(lo, hi)`` (log-uniform);
    * [latent_dim] ``latent_dim``, [learning_rate] ``learning_rate``: a single value (recorded as fixed) or a
      list to choose from;
    * [capacity], [gamma] ``capacity``: C_max values (nats) for Burgess et al.'s capacity objective. With
      capacity the model ignores β, so β is then not searched (giving ``betas`` too is an error).

    Objective (``objective``):

    * a registry metric name (``"beta_vae"``, ``"factor_vae"``, ``"mig"``, ``"dci"``, ``"sap"``): maximise its
      main key (``PRIMARY_KEYS``);
    * any key a trial reports (``result_keys``), e.g. ``"dci_completeness"`` (maximised) or
      ``"reconstruction"`` (minimised, as are ``kl`` and ``loss``);
    * a function ``f(model, data, seed) -> float`` to maximise, reported as ``score`` (no registry metric runs);
    * with ``max_reconstruction=X`` the objective becomes ``constrained_score`` (see ``constrained_score``).

    ``metric`` picks the registry metric whose keys are reported when the objective is not itself a metric key
    (default ``"beta_vae"``); ``metric_kwargs`` go to ``tfbetavae.metrics.evaluate`` (e.g. ``num_train=500``).
    """

    def __init__(
        self,
        data: GroundTruthData,
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
        max_reconstruction: float | None = None,
        batch_size: int = 64,
        steps_per_epoch: int | None = None,
        seed: int = 0,
        eval_seed: int | None = None,
        num_eval_images: int = 512,
        likelihood: str = "bernoulli",
        kernel_sizes: Sequence[int] = (4, 4, 4, 4),
        name: str | None = None,
        tunable: bool = True,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        if not isinstance(data, GroundTruthData):
            raise TypeError(
                f"data must be a GroundTruthData (a data set with known factors, e.g. tfbetavae.dsprites()), "
                f"got {type(data).__name__}"
            )
        self.data = data
        self.steps = _positive_int(steps, "steps")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.steps_per_epoch = self.steps if steps_per_epoch is None else _positive_int(steps_per_epoch, "steps_per_epoch")
        self.seed = _non_negative_int(seed, "seed")
        self.eval_seed = self.seed + 1 if eval_seed is None else _non_negative_int(eval_seed, "eval_seed")
        if self.eval_seed == self.seed:
            raise ValueError(f"eval_seed must differ from the training seed ({self.seed}) so scores are held out")
        self.num_eval_images = _positive_int(num_eval_images, "num_eval_images")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.likelihood = likelihood
        self.kernel_sizes = tuple(_positive_int(k, "kernel_sizes entry") for k in kernel_sizes)
        self.input_shape = tuple(data.observation_shape)

        # ---- search space
        self.capacities = None if capacity is None else _choices(capacity, "capacity", _positive_float)
        self.gammas = _choices(gamma, "gamma", _positive_float)
        self.capacity_steps = self.steps if capacity_steps is None else _positive_int(capacity_steps, "capacity_steps")
        if betas is not None and beta_range is not None:
            raise ValueError("give either betas (a list to choose from) or beta_range (lo, hi), not both")
        if self.capacities is not None and (betas is not None or beta_range is not None):
            raise ValueError("with capacity set the model ignores β; do not give betas/beta_range as well")
        self.betas = None
        self.beta_range = None
        if self.capacities is None:
            if beta_range is not None:
                if isinstance(beta_range, (str, bytes)) or len(beta_range) != 2:
                    raise ValueError(f"beta_range must be (lo, hi), got {beta_range!r}")
                low, high = (_positive_float(v, "beta_range bound") for v in beta_range)
                if not low < high:
                    raise ValueError(f"beta_range must have lo < hi, got {beta_range!r}")
                self.beta_range = (low, high)
            else:
                self.betas = _choices(DEFAULT_BETAS if betas is None else betas, "betas", _positive_float)
        self.latent_dims = _choices(latent_dim, "latent_dim", _positive_int)
        self.learning_rates = _choices(learning_rate, "learning_rate", _positive_float)

        # ---- objective
        self.score_function: ScoreFunction | None = None
        self.max_reconstruction = (
            None if max_reconstruction is None else _positive_float(max_reconstruction, "max_reconstruction")
        )
        self.metric, self.score_key, objective_name, direction = self._resolve_objective(objective, metric)
        if self.max_reconstruction is not None:
            if objective_name in MINIMISED_KEYS or objective_name in ("active_dims", "steps_trained"):
                raise ValueError(
                    f"max_reconstruction constrains a disentanglement score; the objective {objective_name!r} "
                    "is not one"
                )
            objective_name, direction = CONSTRAINED_KEY, "max"
        elif objective_name == CONSTRAINED_KEY:
            raise ValueError("the objective 'constrained_score' needs max_reconstruction")
        self.objective = kt.Objective(objective_name, direction)
        self.metric_kwargs = {"progress": False, **dict(metric_kwargs or {})}
        if self.metric is not None:
            from tfbetavae.metrics.evaluation import route_kwargs

            route_kwargs([self.metric], self.metric_kwargs)  # unknown keywords fail now, not in trial 1
        elif metric_kwargs:
            raise ValueError("metric_kwargs are for registry metrics; a score function takes none")

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
        if objective in METRICS:
            if metric is not None and metric != objective:
                raise ValueError(f"objective {objective!r} and metric {metric!r} disagree; give one of them")
            metric, key = objective, PRIMARY_KEYS.get(objective)
            if key is None:
                raise ValueError(f"no main key is known for metric {objective!r}; name one of its keys as objective")
            return metric, key, key, direction or "max"
        owner = next((name for name, keys in METRIC_KEYS.items() if objective in keys), None)
        if owner is not None:
            if metric is not None and metric != owner:
                raise ValueError(f"objective {objective!r} is reported by metric {owner!r}, not {metric!r}")
            return owner, objective, objective, direction or "max"
        if objective in COMMON_KEYS or objective == CONSTRAINED_KEY:
            metric = metric or "beta_vae"
            if metric not in PRIMARY_KEYS:
                raise ValueError(f"no main key is known for metric {metric!r}; name one of its keys as objective")
            default = "min" if objective in MINIMISED_KEYS else "max"
            return metric, PRIMARY_KEYS[metric], objective, direction or default
        known = sorted(set(METRICS) | {k for keys in METRIC_KEYS.values() for k in keys} | set(COMMON_KEYS))
        raise ValueError(
            f"unknown objective {objective!r}: no trial reports it. Use a metric name or a result key: {known}, "
            f"or {CONSTRAINED_KEY!r} with max_reconstruction, or a function (model, data, seed) -> float"
        )

    @property
    def result_keys(self) -> tuple[str, ...]:
        """The keys of the dict every trial reports."""
        keys = METRIC_KEYS.get(self.metric, (self.score_key,)) if self.metric is not None else ()
        extra = (CONSTRAINED_KEY,) if self.max_reconstruction is not None else ()
        return (*keys, *COMMON_KEYS, *extra)

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
            "data": f"{type(self.data).__module__}.{type(self.data).__name__}",
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
        }

    # ----------------------------------------------------------------- build
    @staticmethod
    def _declare(hp: kt.HyperParameters, name: str, values: list):
        return hp.Choice(name, values) if len(values) > 1 else hp.Fixed(name, values[0])

    def build(self, hp: kt.HyperParameters) -> BetaVAE:
        """A compiled BetaVAE for the trial's values, its optimizer built (so checkpoints restore Adam's state).

        The weights start from ``seed`` in every trial, so trials differ only in their hyperparameters; this calls
        ``keras.utils.set_random_seed(seed)``, which also reseeds Python's and NumPy's global generators.
        """
        if self.capacities is None:
            if self.beta_range is not None:
                beta = hp.Float("beta", self.beta_range[0], self.beta_range[1], sampling="log")
            else:
                beta = self._declare(hp, "beta", self.betas)
            capacity, gamma = None, 1000.0
        else:
            beta = 1.0
            capacity = self._declare(hp, "capacity", self.capacities)
            gamma = self._declare(hp, "gamma", self.gammas)
        latent_dim = self._declare(hp, "latent_dim", self.latent_dims)
        learning_rate = self._declare(hp, "learning_rate", self.learning_rates)
        keras.utils.set_random_seed(self.seed)
        model = BetaVAE(
            latent_dim=int(latent_dim),
            input_shape=self.input_shape,
            beta=float(beta),
            likelihood=self.likelihood,
            capacity=None if capacity is None else float(capacity),
            capacity_steps=self.capacity_steps,
            gamma=float(gamma),
            kernel_sizes=self.kernel_sizes,
            seed=self.seed,
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
        """
        if kwargs:
            raise ValueError(f"BetaVAEHyperModel.fit got unexpected arguments {sorted(kwargs)}")
        if len(args) > 1:
            raise ValueError("BetaVAEHyperModel.fit takes at most one positional argument (the data)")
        data = args[0] if args else self.data
        if not isinstance(data, GroundTruthData):
            raise TypeError(f"data must be a GroundTruthData, got {type(data).__name__}")
        epochs = self.epochs if epochs is None else _positive_int(epochs, "epochs")
        initial_epoch = _non_negative_int(initial_epoch, "initial_epoch")
        if initial_epoch < epochs:
            # A continued Hyperband trial gets fresh batches rather than the ones its parent already saw.
            dataset = training_dataset(data, batch_size=self.batch_size, seed=self.seed + 7919 * initial_epoch)
            model.fit(
                dataset,
                epochs=epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=self.steps_per_epoch,
                callbacks=[StopOnNonFiniteLoss(), *(callbacks or [])],
                verbose=verbose,
                shuffle=False,
            )
        return self.evaluate_model(model, data)

    def evaluate_model(self, model: BetaVAE, data: GroundTruthData | None = None) -> dict[str, float]:
        """The results dict of a trained model (all values plain floats), computed on the held-out seed."""
        data = self.data if data is None else data
        images = data.sample(self.num_eval_images, np.random.default_rng([self.eval_seed, 7919]))[1]
        totals = {"reconstruction": 0.0, "kl": 0.0, "loss": 0.0}
        kl_per_dim = np.zeros(model.latent_dim)
        for start in range(0, len(images), 256):
            batch = images[start : start + 256].astype(np.float32)
            terms = model.compute_terms(batch, training=False)
            for key in totals:
                totals[key] += float(terms[key]) * len(batch)
            kl_per_dim += np.sum(terms["kl_per_dim"].numpy(), axis=0)
        results = {key: value / len(images) for key, value in totals.items()}
        results["active_dims"] = float(np.sum(kl_per_dim / len(images) > ACTIVE_KL_THRESHOLD))
        results["steps_trained"] = float(model.step_counter.numpy())
        if self.score_function is not None:
            results["score"] = float(self.score_function(model, data, self.eval_seed))
        else:
            from tfbetavae.metrics import evaluate

            scores = evaluate(model, data, names=[self.metric], seed=self.eval_seed, **self.metric_kwargs)
            if self.score_key not in scores:
                raise ValueError(f"metric {self.metric!r} reported {sorted(scores)}, not {self.score_key!r}")
            results.update({key: float(value) for key, value in scores.items()})
            results["score"] = float(scores[self.score_key])
        if self.max_reconstruction is not None:
            results[CONSTRAINED_KEY] = constrained_score(
                results["score"], results["reconstruction"], self.max_reconstruction
            )
        return results


# --------------------------------------------------------------------------- search
def _settings_path(directory, project_name) -> Path:
    return Path(directory) / project_name / SETTINGS_FILE


def _check_settings(path: Path, settings: dict) -> None:
    """A reused search folder must hold the same search; anything else would mix incomparable trials."""
    import json

    if not path.exists():
        return
    saved = json.loads(path.read_text())
    current = json.loads(json.dumps(settings, default=str))
    different = sorted(key for key in set(saved) | set(current) if saved.get(key) != current.get(key))
    if different:
        details = ", ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in different)
        raise ValueError(
            f"{path.parent} holds a search with other settings ({details}); pass overwrite=True or use "
            "another project_name"
        )


def _forget_finished_retries(oracle) -> None:
    """Keeps a resumed search from re-running trials that finished.

    KerasTuner 1.4.8 saves ``oracle.json`` at the end of a trial *before* it removes the trial from the ongoing
    ones, and ``reload`` sends every ongoing trial for retry: a process killed in that moment would re-run a
    completed trial on resume. Such trials are dropped from the retry queue here.
    """
    queue = getattr(oracle, "_retry_queue", None)
    trials = getattr(oracle, "trials", None)
    if not queue or trials is None:
        return
    finished = {"COMPLETED", "FAILED"}
    oracle._retry_queue = [tid for tid in queue if trials.get(tid) is None or trials[tid].status not in finished]


def search(
    data: GroundTruthData | None = None,
    directory: str | os.PathLike = "tuning",
    project_name: str = "betavae",
    tuner: str = "random",
    max_trials: int = 10,
    steps: int = 1000,
    objective: str | ScoreFunction | kt.Objective = "beta_vae",
    *,
    hypermodel: BetaVAEHyperModel | None = None,
    overwrite: bool = False,
    max_epochs: int = 3,
    factor: int = 3,
    hyperband_iterations: int = 1,
    num_initial_points: int | None = None,
    executions_per_trial: int = 1,
    max_consecutive_failed_trials: int = 3,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    tensorboard: bool = False,
    verbose: int = 0,
    num_workers: int | None = None,
    chief_timeout: float | None = None,
    **hypermodel_kwargs: Any,
) -> kt.Tuner:
    """Runs (or resumes) a KerasTuner search over β and returns the tuner.

    Args:
        data: a GroundTruthData (default: ``tfbetavae.dsprites()``).
        directory, project_name: the search folder is ``directory/project_name``; re-running with the same
            folder and ``overwrite=False`` resumes it (finished trials are kept, the interrupted one re-runs).
        tuner: ``"random"`` (RandomSearch), ``"bayesian"`` (BayesianOptimization) or ``"hyperband"``.
        max_trials: number of trials (for Hyperband: a cap on the trials its brackets would run).
        steps: training steps of a full-budget trial. Hyperband splits them into ``max_epochs`` epochs of
            ``ceil(steps / max_epochs)`` steps and trains short trials for fewer epochs.
        objective: see ``BetaVAEHyperModel``.
        hypermodel: a ready hypermodel (then ``steps``/``objective``/``hypermodel_kwargs`` are not used).
        factor, hyperband_iterations: Hyperband's settings; num_initial_points: BayesianOptimization's.
        callbacks: extra Keras callbacks for every trial (deep-copied per trial by KerasTuner).
        tensorboard: log every trial to ``<search folder>/logs`` (with KerasTuner's HParams).
        verbose: KerasTuner's and ``model.fit``'s verbosity.
        num_workers: in the chief process, serve until this many workers have finished (see ``serve_oracle``).
        chief_timeout: in the chief process, stop serving after this many seconds (default: serve until every
            worker has been told that no trials are left).
        **hypermodel_kwargs: ``BetaVAEHyperModel`` arguments (betas, beta_range, latent_dim, metric_kwargs, ...).
    """
    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {TUNERS}, got {tuner!r}")
    max_trials = _positive_int(max_trials, "max_trials (trials)")
    if not isinstance(project_name, str) or not project_name or os.sep in project_name:
        raise ValueError(f"project_name must be a non-empty folder name, got {project_name!r}")
    if tuner == "hyperband":
        max_epochs = _positive_int(max_epochs, "max_epochs")
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
            raise ValueError(f"factor must be an integer >= 2, got {factor!r}")
    if hypermodel is None:
        if data is None:
            from tfbetavae.data import dsprites

            data = dsprites()
        if tuner == "hyperband" and "steps_per_epoch" not in hypermodel_kwargs:
            hypermodel_kwargs["steps_per_epoch"] = math.ceil(_positive_int(steps, "steps") / max_epochs)
        hypermodel = BetaVAEHyperModel(data, steps, objective=objective, **hypermodel_kwargs)
    elif hypermodel_kwargs:
        raise ValueError(f"give hypermodel settings either in the hypermodel or as keywords, not both: {sorted(hypermodel_kwargs)}")
    elif not isinstance(hypermodel, BetaVAEHyperModel):
        raise TypeError(f"hypermodel must be a BetaVAEHyperModel, got {type(hypermodel).__name__}")

    if num_workers is not None:
        num_workers = _positive_int(num_workers, "num_workers")
    worker = is_worker()
    if worker and overwrite:
        warnings.warn("overwrite=True is ignored on a KerasTuner worker (the chief owns the search folder)", stacklevel=2)
        overwrite = False
    settings = {**hypermodel.settings(), "tuner": tuner}
    if tuner == "hyperband":
        settings.update(max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations)
    settings_path = _settings_path(directory, project_name)
    if not overwrite:
        _check_settings(settings_path, settings)

    common = {
        "hypermodel": hypermodel,
        "objective": hypermodel.objective,
        "seed": hypermodel.seed + 1,  # KerasTuner treats seed 0 as "no seed"
        "directory": os.fspath(directory),
        "project_name": project_name,
        "overwrite": overwrite,
        "executions_per_trial": _positive_int(executions_per_trial, "executions_per_trial"),
        "max_consecutive_failed_trials": max_consecutive_failed_trials,
    }
    if tuner == "random":
        instance = kt.RandomSearch(max_trials=max_trials, **common)
    elif tuner == "bayesian":
        extra = {} if num_initial_points is None else {"num_initial_points": num_initial_points}
        instance = kt.BayesianOptimization(max_trials=max_trials, **common, **extra)
    else:
        instance = kt.Hyperband(max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations, **common)
        instance.oracle.max_trials = max_trials
    if not worker:
        instance.oracle.max_trials = max_trials  # a resumed search may be given more trials
        _forget_finished_retries(instance.oracle)
    atomic_write_json(settings, settings_path)

    if is_chief():
        instance.save()
        serve_oracle(instance.oracle, num_workers=num_workers, timeout=chief_timeout)
        return instance
    trial_callbacks = list(callbacks or [])
    if tensorboard:
        trial_callbacks.append(keras.callbacks.TensorBoard(log_dir=os.fspath(Path(instance.project_dir) / "logs")))
    instance.search(callbacks=trial_callbacks, verbose=verbose)
    return instance


def serve_oracle(oracle, num_workers: int | None = None, timeout: float | None = None, poll_seconds: float = 0.5) -> None:
    """The chief's part of a distributed search: serves ``oracle`` over gRPC until the search is over.

    It speaks KerasTuner's protocol (its servicer, its workers) and returns once the oracle has no trials left,
    none is running, and every worker that asked for a trial has been told so — and, with ``num_workers``, once
    that many distinct workers have been told so (a worker that starts after the others finished would
    otherwise wait for a chief that is gone). KerasTuner's own ``start_server`` checks every 20 seconds and
    leaves its server running; this checks every ``poll_seconds`` and stops the server. With ``timeout`` it
    raises ``TimeoutError`` when the search is not over by then.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    class Servicer(oracle_chief.OracleServicer):
        def __init__(self, oracle) -> None:
            super().__init__(oracle)
            self.finished_workers: set[str] = set()

        def CreateTrial(self, request, context):  # noqa: N802 - gRPC method name
            trial = self.oracle.create_trial(request.tuner_id)
            if trial.status == "STOPPED":
                self.stop_triggered = True
                self.finished_workers.add(request.tuner_id)
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = Servicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"the chief cannot listen on {address} (port in use?)")
    server.start()
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    try:
        while not (
            servicer.stop_triggered
            and oracle_chief.exit_chief(oracle)
            and len(servicer.finished_workers) >= (num_workers or 0)
        ):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"the distributed search did not finish within {timeout} s")
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=1.0)


# --------------------------------------------------------------------------- results
def _metric_value(trial, name: str):
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return None if value is None else float(value)


def results_table(tuner: kt.Tuner) -> list[dict]:
    """One row per trial, in trial order: hyperparameters, scores, status (from the oracle's trials).

    Keys: ``trial_id``, ``status``, ``beta``, ``latent_dim``, ``learning_rate``, ``capacity`` (None unless
    searched), ``score``, ``objective`` (the tuner's objective value), ``reconstruction``, ``kl``,
    ``active_dims``, ``steps`` (steps trained), ``parent`` (Hyperband: the trial it continued, else None).
    """
    if is_worker():
        raise ValueError("this process is a KerasTuner worker; the results live with the chief")
    oracle = tuner.oracle
    rows = []
    for trial_id in sorted(oracle.trials, key=lambda t: (len(t), t)):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        steps = _metric_value(trial, "steps_trained")
        score = trial.score
        rows.append(
            {
                "trial_id": trial_id,
                "status": str(trial.status),
                "beta": None if values.get("beta") is None else float(values["beta"]),
                "latent_dim": values.get("latent_dim"),
                "learning_rate": values.get("learning_rate"),
                "capacity": values.get("capacity"),
                "score": _metric_value(trial, "score"),
                "objective": None if score is None else float(score),
                "reconstruction": _metric_value(trial, "reconstruction"),
                "kl": _metric_value(trial, "kl"),
                "active_dims": _metric_value(trial, "active_dims"),
                "steps": None if steps is None else int(steps),
                "parent": values.get("tuner/trial_id"),
            }
        )
    return rows


def _cell(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == int(value) and abs(value) < 1e6:
            return f"{value:g}"
        if abs(value) < 1e-3 or abs(value) >= 1e5:
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def format_table(rows: Sequence[Mapping], objective_name: str = "objective", best_id: str | None = None) -> str:
    """A plain-text table of ``results_table`` rows (β, score, reconstruction, KL, active dims, ...)."""
    use_capacity = any(row.get("capacity") is not None for row in rows)
    x_key = "capacity" if use_capacity else "beta"
    columns = [
        ("trial", "trial_id"),
        (x_key, x_key),
        ("score", "score"),
        ("reconstruction", "reconstruction"),
        ("KL", "kl"),
        ("active dims", "active_dims"),
        ("steps", "steps"),
        ("status", "status"),
    ]
    shown = {key for _, key in columns}
    if objective_name not in shown and any(row.get("objective") != row.get("score") for row in rows):
        columns.insert(3, (objective_name, "objective"))
    if any(row.get("latent_dim") not in (None, rows[0].get("latent_dim")) for row in rows):
        columns.insert(2, ("latent", "latent_dim"))
    if any(row.get("parent") is not None for row in rows):
        columns.append(("continues", "parent"))
    body = [[_cell(row.get(key)) for _, key in columns] for row in rows]
    for line, row in zip(body, rows):
        if best_id is not None and row["trial_id"] == best_id:
            line[0] += " *"
    headers = [title for title, _ in columns]
    widths = [max(len(headers[i]), *(len(line[i]) for line in body)) if body else len(headers[i]) for i in range(len(headers))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in body)
    return "\n".join(lines)


def plot_tradeoff(rows: Sequence[Mapping], path: str | os.PathLike, score_label: str = "disentanglement score") -> Path:
    """The β trade-off plot: β (log axis) against the score (left axis) and reconstruction (right axis).

    Each completed trial is a point; the lines join the mean of each β. With a capacity search the x axis is
    the capacity C_max instead.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    done = [row for row in rows if row.get("score") is not None and row.get("reconstruction") is not None]
    if not done:
        raise ValueError("no completed trial to plot")
    x_key = "beta" if any(row.get("beta") is not None for row in done) else "capacity"
    done = [row for row in done if row.get(x_key) is not None]
    xs = sorted({float(row[x_key]) for row in done})

    def means(key):
        return [float(np.mean([row[key] for row in done if float(row[x_key]) == x])) for x in xs]

    figure, left = plt.subplots(figsize=(6, 4))
    right = left.twinx()
    left.plot([row[x_key] for row in done], [row["score"] for row in done], "o", color="tab:blue", alpha=0.5)
    left.plot(xs, means("score"), "-", color="tab:blue", label=score_label)
    right.plot([row[x_key] for row in done], [row["reconstruction"] for row in done], "s", color="tab:red", alpha=0.5)
    right.plot(xs, means("reconstruction"), "--", color="tab:red", label="reconstruction (nats/image)")
    left.set_xscale("log")
    left.set_xticks(xs, [f"{x:g}" for x in xs])
    left.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    left.set_xlabel("β" if x_key == "beta" else "capacity C_max (nats)")
    left.set_ylabel(score_label, color="tab:blue")
    right.set_ylabel("reconstruction (nats/image)", color="tab:red")
    left.tick_params(axis="y", colors="tab:blue")
    right.tick_params(axis="y", colors="tab:red")
    handles = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize="small")
    left.set_title("Disentanglement vs reconstruction")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def export_best(tuner: kt.Tuner, base_dir: str | os.PathLike, training_info: Mapping | None = None, **kwargs) -> Path:
    """Exports the best trial's model with ``tfbetavae.export.export_saved_model``; returns the version folder.

    The model card gets the trial's results as ``scores`` and the trial id, hyperparameters and search folder
    under ``training``. ``kwargs`` go to ``export_saved_model`` (``version``, ``overwrite``).
    """
    from tfbetavae.export import export_saved_model

    best = tuner.oracle.get_best_trials(1)
    if not best:
        raise ValueError("the search has no completed trial to export")
    trial = best[0]
    model = tuner.load_model(trial)
    scores = {name: _metric_value(trial, name) for name in trial.metrics.metrics}
    steps = scores.get("steps_trained")
    info = {
        "steps": None if steps is None else int(steps),
        "tuning_dir": os.fspath(tuner.project_dir),
        "trial_id": trial.trial_id,
        "objective": tuner.oracle.objective.name,
        "hyperparameters": {k: v for k, v in trial.hyperparameters.values.items()},
        **dict(training_info or {}),
    }
    return export_saved_model(model, base_dir=base_dir, scores=scores, training_info=info, **kwargs)
