"""Running a search: ``search`` drives KerasTuner's RandomSearch, BayesianOptimization or Hyperband over a
``BetaVAEHyperModel``, resumes a killed search from its folder (``overwrite=False``), and takes part in KerasTuner's
chief/worker distributed mode when the ``KERASTUNER_*`` environment variables are set (``serve_oracle``).

The pieces another runner over KerasTuner needs are public: ``check_settings``/``settings_path`` (a reused folder
must hold the same search), ``forget_finished_retries`` (a resumed oracle must not re-run finished trials),
``serve_oracle``, ``is_chief`` and ``is_worker``.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt

from tfbetavae.data.ground_truth import GroundTruthData
from tfbetavae.training import atomic_write_json
from tfbetavae.tuning._checks import positive_int
from tfbetavae.tuning.hypermodel import BetaVAEHyperModel, ScoreFunction

__all__ = [
    "SETTINGS_FILE",
    "TUNERS",
    "check_settings",
    "forget_finished_retries",
    "is_chief",
    "is_worker",
    "search",
    "serve_oracle",
    "settings_path",
]

TUNERS = ("random", "bayesian", "hyperband")
SETTINGS_FILE = "tfbetavae_search.json"


def is_chief() -> bool:
    """True in the KerasTuner chief process (``KERASTUNER_ORACLE_IP`` set, tuner id containing "chief")."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.is_chief_oracle()


def is_worker() -> bool:
    """True in a KerasTuner worker process (``KERASTUNER_ORACLE_IP`` set, tuner id without "chief")."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


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
        details = ", ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in different)
        raise ValueError(
            f"{path.parent} holds a search with other settings ({details}); {hint}"
        )


def forget_finished_retries(oracle: kt.Oracle) -> None:
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
    max_trials = positive_int(max_trials, "max_trials (trials)")
    if not isinstance(project_name, str) or not project_name or os.sep in project_name:
        raise ValueError(f"project_name must be a non-empty folder name, got {project_name!r}")
    if tuner == "hyperband":
        max_epochs = positive_int(max_epochs, "max_epochs")
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 2:
            raise ValueError(f"factor must be an integer >= 2, got {factor!r}")
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
        forget_finished_retries(instance.oracle)
    atomic_write_json(settings, settings_file)

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
