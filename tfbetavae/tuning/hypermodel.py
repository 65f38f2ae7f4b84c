"""The β search space and trial as a KerasTuner ``HyperModel``: ``build(hp)`` makes a compiled model, ``fit``
trains and scores it.

Every trial builds a fresh ``BetaVAE`` from the trial's hyperparameters, trains it for ``steps`` batches of a
``GroundTruthData`` set (training seed ``seed``), and reports a dict of floats (computed on a held-out seed
``eval_seed``, never equal to the training seed):

* the chosen disentanglement metric's keys as ``tfbetavae.metrics.evaluate`` names them
  (``beta_vae_train_accuracy``, ``beta_vae_eval_accuracy``, ``mig``, ``dci_disentanglement``, ...);
* ``score``: the disentanglement number the objective is about (``beta_vae_eval_accuracy`` by default);
* ``reconstruction``, ``kl``, ``loss`` (nats per image) and ``active_dims`` on ``num_eval_images`` held-out
  images, and ``steps_trained`` (the model's step counter);
* ``constrained_score`` when ``max_reconstruction`` is set (see ``constrained_score``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import keras_tuner as kt

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
    "METRIC_KEYS",
    "MINIMISED_KEYS",
    "PRIMARY_KEYS",
    "BetaVAEHyperModel",
    "ScoreFunction",
    "constrained_score",
]

DEFAULT_BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)

# What each registry metric reports (as ``evaluate`` prefixes it), and which of those is "the" score: the catalogue's.
METRIC_KEYS: dict[str, tuple[str, ...]] = catalogue.metric_keys()
PRIMARY_KEYS = {name: catalogue.primary_key(name) for name in catalogue.METRIC_INFO}
# Keys every trial reports whatever the metric; the first three are minimised when used as objective.
MINIMISED_KEYS = ("reconstruction", "kl", "loss")
COMMON_KEYS = ("score", *MINIMISED_KEYS, "active_dims", "steps_trained")
CONSTRAINED_KEY = "constrained_score"

ScoreFunction = Callable[[BetaVAE, GroundTruthData, int], float]


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


# --------------------------------------------------------------------------- the hypermodel
class BetaVAEHyperModel(kt.HyperModel):
    """KerasTuner HyperModel: ``build(hp)`` gives a compiled ``BetaVAE``, ``fit`` trains it and scores it.

    Search space (hyperparameter names in brackets):

    * [beta] ``betas`` (a choice, default 1, 2, 4, 8, 16) or ``beta_range=(lo, hi)`` (log-uniform);
    * [latent_dim] ``latent_dim``, [learning_rate] ``learning_rate``: a single value (recorded as fixed) or a
      list to choose from;
    * [capacity], [gamma] ``capacity``: C_max values (nats) for Burgess et al.'s capacity objective. With
      capacity the model ignores β, so β is then not searched (giving ``betas`` too is an error);
    * the networks: ``build_networks=fn``, ``fn(hp) -> (encoder, decoder)`` declaring its own hyperparameters
      (see ``build_networks``), so architecture is searched alongside β.

    Objective (``objective``):

    * a registry metric name (``"beta_vae"``, ``"factor_vae"``, ``"mig"``, ``"dci"``, ``"sap"``): maximise its
      main key (``PRIMARY_KEYS``);
    * any key a trial reports (``result_keys``), e.g. ``"dci_completeness"`` (maximised) or
      ``"reconstruction"`` (minimised, as are ``kl`` and ``loss``);
    * a function ``f(model, data, seed) -> float`` to maximise, reported as ``score`` (no registry metric runs);
    * with ``max_reconstruction=X`` the objective becomes ``constrained_score`` (see ``constrained_score``).

    ``metric`` picks the registry metric whose keys are reported when the objective is not itself a metric key
    (default ``"beta_vae"``); ``metric_kwargs`` go to ``tfbetavae.metrics.evaluate`` (e.g. ``num_train=500``), over
    the tuner's sizes (``tfbetavae.tuning.sizes.TUNING_SIZES``), or over the metrics' own (the papers') sizes with
    ``paper_sizes=True``.
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
        paper_sizes: bool = False,
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
        build_networks: Callable[[kt.HyperParameters], tuple] | None = None,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        if not isinstance(data, GroundTruthData):
            raise TypeError(
                f"data must be a GroundTruthData (a data set with known factors, e.g. tfbetavae.dsprites()), "
                f"got {type(data).__name__}"
            )
        self.data = data
        self.steps = positive_int(steps, "steps")
        self.batch_size = positive_int(batch_size, "batch_size")
        self.steps_per_epoch = self.steps if steps_per_epoch is None else positive_int(steps_per_epoch, "steps_per_epoch")
        self.seed = non_negative_int(seed, "seed")
        self.eval_seed = self.seed + 1 if eval_seed is None else non_negative_int(eval_seed, "eval_seed")
        if self.eval_seed == self.seed:
            raise ValueError(f"eval_seed must differ from the training seed ({self.seed}) so scores are held out")
        self.num_eval_images = positive_int(num_eval_images, "num_eval_images")
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.likelihood = likelihood
        self.kernel_sizes = tuple(positive_int(k, "kernel_sizes entry") for k in kernel_sizes)
        self.input_shape = tuple(data.observation_shape)
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
        self.max_reconstruction = (
            None if max_reconstruction is None else positive_float(max_reconstruction, "max_reconstruction")
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
        from tfbetavae.tuning.sizes import TUNING_SIZES

        self.paper_sizes = bool(paper_sizes)
        sizes = {} if self.paper_sizes or self.metric is None else TUNING_SIZES.get(self.metric, {})
        self.metric_kwargs = {"progress": False, **sizes, **dict(metric_kwargs or {})}
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
            gamma=float(gamma),
            kernel_sizes=self.kernel_sizes,
            seed=self.seed,
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
        """
        if kwargs:
            raise ValueError(f"BetaVAEHyperModel.fit got unexpected arguments {sorted(kwargs)}")
        if len(args) > 1:
            raise ValueError("BetaVAEHyperModel.fit takes at most one positional argument (the data)")
        data = args[0] if args else self.data
        if not isinstance(data, GroundTruthData):
            raise TypeError(f"data must be a GroundTruthData, got {type(data).__name__}")
        epochs = self.epochs if epochs is None else positive_int(epochs, "epochs")
        initial_epoch = non_negative_int(initial_epoch, "initial_epoch")
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
        from tfbetavae.metrics.held_out import held_out_terms

        data = self.data if data is None else data
        results = held_out_terms(model, data, self.num_eval_images, self.eval_seed)
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
