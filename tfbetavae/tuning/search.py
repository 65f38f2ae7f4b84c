"""Running a search: ``search`` drives KerasTuner's RandomSearch, BayesianOptimization or Hyperband over a
``BetaVAEHyperModel``, resumes a killed search from its folder (``overwrite=False``), and takes part in KerasTuner's
chief/worker distributed mode when the ``KERASTUNER_*`` environment variables are set (``serve_oracle``).

The pieces another runner over KerasTuner needs are public: ``check_settings``/``settings_path`` (a reused folder
must hold the same search), ``forget_finished_retries`` (a resumed oracle must not re-run finished trials),
``serve_oracle``, ``is_chief`` and ``is_worker``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt

from tfbetavae.checks import int_at_least, positive_int
from tfbetavae.cluster import forget_finished_retries, is_chief, is_worker, serve_oracle  # noqa: F401 - their old home
from tfbetavae.runs import atomic_write_json
from tfbetavae.tuning.hypermodel import PRIMARY_KEYS, BetaVAEHyperModel, ScoreFunction
from tfbetavae.tuning.sizes import sizes_in_effect

__all__ = [
    "SETTINGS_FILE",
    "TUNERS",
    "TrialReporter",
    "check_settings",
    "forget_finished_retries",
    "is_chief",
    "is_worker",
    "search",
    "serve_oracle",
    "settings_path",
    "trial_number",
]

TUNERS = ("random", "bayesian", "hyperband")
SETTINGS_FILE = "tfbetavae_search.json"
logger = logging.getLogger("tfbetavae.tuning")
# Scoring seconds per scored image before any trial has been timed, as a multiple of a training image's seconds
# (measured on a 2-core Xeon under load: 0.27-0.58, scripts/bench.py --sections tune and single runs).
_FIRST_GUESS_SCORING_VS_TRAINING = 0.4


def trial_number(trial_id: str) -> int | str:
    """The number a trial is shown with: KerasTuner's ids count from 0 ("0", "07", "0003"), people from 1."""
    try:
        return int(trial_id) + 1
    except (TypeError, ValueError):
        return trial_id


class TrialReporter:
    """A search's own progress lines, on the ``tfbetavae.tuning`` logger (INFO): what the trials score on, and per
    trial when it has trained (with the scoring ahead: which score, how many points, about how long) and what it
    scored. A UDR trial also says when each of its seeds has trained. ``tfbetavae tune`` shows them instead of
    KerasTuner's per-trial tables."""

    def __init__(self, hypermodel: BetaVAEHyperModel, max_trials: int) -> None:
        self.hypermodel = hypermodel
        self.max_trials = max_trials
        self.seconds_per_scored_image: float | None = None  # learnt from each trial that scored
        self.scoring = hypermodel.describe_scoring()
        self._started = self._trained = self._seed_started = 0.0
        self._step = 0
        self._seeds_trained = 0
        self._label = ""

    @property
    def sizes(self) -> dict[str, int]:
        if self.hypermodel.metric is None:
            return {}
        return sizes_in_effect(self.hypermodel.metric, self.hypermodel.metric_kwargs)

    @property
    def images(self) -> int:
        """Images one trial's scoring renders and encodes (held-out terms included, every seed's)."""
        return self.hypermodel.scored_images()

    def label(self, trial) -> str:
        values = trial.hyperparameters.values
        if values.get("capacity") is not None:
            setting = f"C={values['capacity']:g}"
        else:
            setting = f"β={values.get('beta', float('nan')):.3g}"
        for name, title in (("latent_dim", "latent"), ("learning_rate", "lr")):
            choices = getattr(self.hypermodel, f"{name}s", [])
            if len(choices) > 1 and name in values:
                setting += f" {title}={values[name]:g}"
        seeds = self.hypermodel.seeds
        which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
        return f"trial {trial_number(trial.trial_id)}/{self.max_trials}: {setting} {which}"

    def target_steps(self, trial) -> int:
        epochs = trial.hyperparameters.values.get("tuner/epochs", self.hypermodel.epochs)
        return min(int(epochs) * self.hypermodel.steps_per_epoch, self.hypermodel.steps)

    def search_begins(self, directory, done: int = 0) -> None:
        paper = self.hypermodel.paper_sizes or self.hypermodel.metric is None
        hint = "" if paper else "; the paper's sizes with --paper-sizes (paper_sizes=True)"
        resumed = f" ({done} done before: resuming)" if done else ""
        logger.info("search %s: %d trials%s, each scored with %s%s", directory, self.max_trials, resumed, self.scoring,
                    hint)

    def trial_begins(self, trial) -> None:
        self._label = self.label(trial)
        self._started = self._seed_started = time.monotonic()
        self._trained = 0.0
        self._seeds_trained = 0

    def trained(self, model) -> None:
        """Called when a model's training ends: after the trial's last seed, its scoring starts."""
        now = time.monotonic()
        self._step = int(model.step_counter.numpy())
        self._seeds_trained += 1
        seeds = self.hypermodel.seeds_per_trial
        if self._seeds_trained < seeds:
            logger.info("%s: seed %d (%d/%d), step %d trained in %s", self._label, model.seed, self._seeds_trained,
                        seeds, self._step, _duration(now - self._seed_started))
            self._seed_started = now
            return
        self._trained = now
        seconds = self._trained - self._started
        if self.seconds_per_scored_image is not None:
            left = self.seconds_per_scored_image * self.images
            estimate = f"about {_duration(left)} left"
        else:
            per_image = seconds / max(self._step * self.hypermodel.batch_size * seeds, 1)
            estimate = f"roughly {_duration(_FIRST_GUESS_SCORING_VS_TRAINING * per_image * self.images)} left (first trial: a guess)"
        what = f"step {self._step}" if seeds == 1 else f"{seeds} seeds to step {self._step}"
        logger.info("%s, %s trained in %s; scoring %s, %s", self._label, what, _duration(seconds), self.scoring,
                    estimate)

    def trial_ends(self, trial) -> None:
        now = time.monotonic()
        label = self.label(trial)
        status = str(trial.status)
        if status != kt.engine.trial.TrialStatus.COMPLETED:
            reason = (trial.message or "").strip().splitlines()[-1:] or [status.lower()]
            logger.info("%s %s: %s", label, status.lower(), reason[0])
            return
        scoring = now - self._trained if self._trained else None
        if scoring is not None:
            self.seconds_per_scored_image = scoring / max(self.images, 1)
        metrics = trial.metrics
        names = ("score", "reconstruction", "kl", "steps_trained", "udr_pair_min", "udr_pair_max", "model_seed")
        values = {name: metrics.get_last_value(name) for name in names if metrics.exists(name)}
        hypermodel = self.hypermodel
        primary = hypermodel.metric is not None and PRIMARY_KEYS.get(hypermodel.metric) == hypermodel.score_key
        score_name = hypermodel.metric if primary else hypermodel.score_key  # "beta_vae", or "dci_completeness"
        parts = [f"step {int(values.get('steps_trained', self._step))}/{self.target_steps(trial)}"]
        if values.get("score") is not None:
            spread = ""
            if values.get("udr_pair_min") is not None:
                spread = f" (seed pairs {values['udr_pair_min']:.3f} to {values['udr_pair_max']:.3f})"
            parts.append(f"{score_name} {values['score']:.3f}{spread}")
        medians = " (medians over the seeds)" if hypermodel.seeds_per_trial > 1 else ""
        if values.get("reconstruction") is not None:
            parts.append(f"reconstruction {values['reconstruction']:.1f}")
        if values.get("kl") is not None:
            parts.append(f"KL {values['kl']:.2f}{medians}")
        if values.get("model_seed") is not None:
            parts.append(f"median-UDR model: seed {int(values['model_seed'])}")
        timing = ""
        if scoring is not None:
            total = now - self._started
            timing = f" (trained {_duration(self._trained - self._started)}, scored {_duration(scoring)}: " \
                     f"{scoring / max(total, 1e-9):.0%} of the trial)"
        logger.info("%s, %s%s", label, ", ".join(parts), timing)


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


class _TrainingEnd(keras.callbacks.Callback):
    """Tells the reporter that a trial's training ended (its scoring begins). KerasTuner deep-copies a search's
    callbacks for every trial; this one carries the search's reporter, so a copy is the same object."""

    def __init__(self, reporter: TrialReporter) -> None:
        super().__init__()
        self.reporter = reporter

    def __deepcopy__(self, memo):
        return self

    def on_train_end(self, logs=None) -> None:
        self.reporter.trained(self.model)


def _reporting(base: type) -> type:
    """``base`` (a KerasTuner tuner class) that tells its ``reporter`` when a trial begins and ends, and loads a UDR
    trial's model with the seed it was trained from."""

    class Reporting(base):
        reporter: TrialReporter | None = None

        def on_trial_begin(self, trial):
            super().on_trial_begin(trial)
            if self.reporter is not None:
                self.reporter.trial_begins(trial)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if self.reporter is not None:
                self.reporter.trial_ends(self.oracle.get_trial(trial.trial_id))

        def load_model(self, trial):
            """The trial's checkpointed model; a UDR trial's is its median-UDR seed's, built with that seed."""
            if not trial.metrics.exists("model_seed"):
                return super().load_model(trial)
            keras.backend.clear_session()  # as KerasTuner builds every model it loads
            model = self.hypermodel.build(trial.hyperparameters, seed=int(trial.metrics.get_last_value("model_seed")))
            model.load_weights(self._get_checkpoint_fname(trial.trial_id))
            return model

    Reporting.__name__ = Reporting.__qualname__ = base.__name__
    return Reporting


_TUNER_CLASSES = {
    "random": _reporting(kt.RandomSearch),
    "bayesian": _reporting(kt.BayesianOptimization),
    "hyperband": _reporting(kt.Hyperband),
}


def settings_path(directory: str | os.PathLike, project_name: str) -> Path:
    """Where a search folder records the settings it was started with."""
    return Path(directory) / project_name / SETTINGS_FILE


def check_settings(
    path: str | os.PathLike,
    settings: Mapping[str, Any],
    hint: str = "pass overwrite=True or use another project_name",
) -> None:
    """Raises ValueError naming what differs when ``path`` records other settings than ``settings``.

    A reused folder must hold the same search; anything else would mix incomparable trials. A missing file
    passes (a new folder). ``hint`` ends the message (what the caller can do about it).
    """
    path = Path(path)
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except ValueError as error:  # not UTF-8, not JSON
        raise ValueError(f"{path}: corrupt settings file ({error}); {hint}") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: corrupt settings file (a JSON {type(saved).__name__}, not an object); {hint}")
    current = json.loads(json.dumps(settings, default=str))
    different = sorted(key for key in set(saved) | set(current) if saved.get(key) != current.get(key))
    if different:
        def shown(values: Mapping[str, Any], key: str) -> str:  # settings recorded only when set: absent is default
            return repr(values[key]) if key in values else "the default"

        details = ", ".join(f"{key}: {shown(saved, key)} -> {shown(current, key)}" for key in different)
        raise ValueError(
            f"{path.parent} holds a search with other settings ({details}); {hint}"
        )


def search(
    data: Any = None,
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
    report: bool = True,
    num_workers: int | None = None,
    chief_timeout: float | None = None,
    **hypermodel_kwargs: Any,
) -> kt.Tuner:
    """Runs (or resumes) a KerasTuner search over β and returns the tuner.

    Args:
        data: a GroundTruthData (default: ``tfbetavae.dsprites()``), or data without factors: an array of images
            [N, H, W, C] or a ``tf.data.Dataset`` of images, for the objectives that need none
            (``objectives_without_factors()``: ``"udr"``, ``"unsupervised"``, ``"reconstruction"``, ...) and score
            functions; any other objective is refused before training.
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
        verbose: KerasTuner's and ``model.fit``'s verbosity (1: KerasTuner's per-trial tables and Keras' bars).
        report: the search's own progress lines on the ``tfbetavae.tuning`` logger (INFO; see ``TrialReporter``).
        num_workers: in the chief process, serve until this many workers have finished (see ``serve_oracle``).
        chief_timeout: in the chief process, stop serving after this many seconds (default: serve until every
            worker has been told that no trials are left).
        **hypermodel_kwargs: ``BetaVAEHyperModel`` arguments (betas, beta_range, latent_dim, metric_kwargs,
            paper_sizes, representation ("sampled": score posterior draws, recorded in the search's settings and
            in ``scoring``), ...).
    """
    if tuner not in TUNERS:
        raise ValueError(f"tuner must be one of {TUNERS}, got {tuner!r}")
    max_trials = positive_int(max_trials, "max_trials (trials)")
    if not isinstance(project_name, str) or not project_name or os.sep in project_name:
        raise ValueError(f"project_name must be a non-empty folder name, got {project_name!r}")
    if tuner == "hyperband":
        max_epochs = positive_int(max_epochs, "max_epochs")
        factor = int_at_least(factor, "factor", 2)
    if hypermodel is None:
        if data is None:
            from tfbetavae.data import dsprites

            data = dsprites()
        if tuner == "hyperband" and "steps_per_epoch" not in hypermodel_kwargs:
            hypermodel_kwargs["steps_per_epoch"] = math.ceil(positive_int(steps, "steps") / max_epochs)
        hypermodel = BetaVAEHyperModel(data, steps, objective=objective, **hypermodel_kwargs)
    elif hypermodel_kwargs:
        raise ValueError(f"give hypermodel settings either in the hypermodel or as keywords, not both: {sorted(hypermodel_kwargs)}")
    elif not isinstance(hypermodel, BetaVAEHyperModel):
        raise TypeError(f"hypermodel must be a BetaVAEHyperModel, got {type(hypermodel).__name__}")
    if tuner == "hyperband" and hypermodel.uses_udr:
        raise ValueError(
            "Hyperband continues a trial from its parent's one checkpoint, and a UDR trial trains several seeds from "
            "their first step: use tuner='random' or 'bayesian' with the objective 'udr'"
        )

    if num_workers is not None:
        num_workers = positive_int(num_workers, "num_workers")
    worker = is_worker()
    if worker and overwrite:
        warnings.warn("overwrite=True is ignored on a KerasTuner worker (the chief owns the search folder)", stacklevel=2)
        overwrite = False
    settings = {**hypermodel.settings(), "tuner": tuner}
    if tuner == "hyperband":
        settings.update(max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations)
    settings_file = settings_path(directory, project_name)
    if not overwrite:
        check_settings(settings_file, settings)

    # KerasTuner prints "Reloading Tuner from ..." itself; the reporter says it its own way.
    quiet = contextlib.redirect_stdout(io.StringIO()) if not verbose else contextlib.nullcontext()
    common = {
        "hypermodel": hypermodel,
        "objective": hypermodel.objective,
        "seed": hypermodel.seed + 1,  # KerasTuner treats seed 0 as "no seed"
        "directory": os.fspath(directory),
        "project_name": project_name,
        "overwrite": overwrite,
        "executions_per_trial": positive_int(executions_per_trial, "executions_per_trial"),
        "max_consecutive_failed_trials": max_consecutive_failed_trials,
    }
    with quiet:
        if tuner == "random":
            instance = _TUNER_CLASSES["random"](max_trials=max_trials, **common)
        elif tuner == "bayesian":
            extra = {} if num_initial_points is None else {"num_initial_points": num_initial_points}
            instance = _TUNER_CLASSES["bayesian"](max_trials=max_trials, **common, **extra)
        else:
            instance = _TUNER_CLASSES["hyperband"](
                max_epochs=max_epochs, factor=factor, hyperband_iterations=hyperband_iterations, **common
            )
    if tuner == "hyperband":
        instance.oracle.max_trials = max_trials
    if not worker:
        instance.oracle.max_trials = max_trials  # a resumed search may be given more trials
        forget_finished_retries(instance.oracle)
    atomic_write_json(settings, settings_file)

    if is_chief():
        instance.oracle.verbose = verbose  # KerasTuner's per-trial display (tuner.search sets it elsewhere)
        instance.save()
        serve_oracle(instance.oracle, num_workers=num_workers, timeout=chief_timeout)
        return instance
    trial_callbacks = list(callbacks or [])
    if report:
        instance.reporter = TrialReporter(hypermodel, max_trials)
        done = 0 if worker else sum(trial.status == kt.engine.trial.TrialStatus.COMPLETED for trial in instance.oracle.trials.values())
        instance.reporter.search_begins(instance.project_dir, done)
        trial_callbacks.append(_TrainingEnd(instance.reporter))
    if tensorboard:
        trial_callbacks.append(keras.callbacks.TensorBoard(log_dir=os.fspath(Path(instance.project_dir) / "logs")))
    instance.search(callbacks=trial_callbacks, verbose=verbose)
    return instance
