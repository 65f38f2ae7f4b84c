"""Processes that share work: KerasTuner's chief and worker roles, the chief's oracle server, local worker
processes' ports and lifetimes, and TensorFlow's thread settings.

``tfbetavae tune`` and ``tfbetavae study`` both spread over processes and machines the same way (KerasTuner's
``KERASTUNER_TUNER_ID`` / ``KERASTUNER_ORACLE_IP`` / ``KERASTUNER_ORACLE_PORT``): the tuner and studies take
these pieces from here rather than from each other.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["die_with_parent", "forget_finished_retries", "free_port", "is_chief", "is_worker", "serve_oracle",
           "set_threads"]


def is_chief() -> bool:
    """True in the KerasTuner chief process (``KERASTUNER_ORACLE_IP`` set, tuner id containing "chief")."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.is_chief_oracle()


def is_worker() -> bool:
    """True in a KerasTuner worker process (``KERASTUNER_ORACLE_IP`` set, tuner id without "chief")."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


def forget_finished_retries(oracle) -> None:
    """Keeps a resumed search from re-running trials that finished.

    KerasTuner 1.4.8 saves ``oracle.json`` at the end of a trial *before* it removes the trial from the ongoing
    ones, and ``reload`` sends every ongoing trial for retry: a process killed in that moment would re-run a
    completed trial on resume. Such trials are dropped from the retry queue here.
    """
    queue = getattr(oracle, "_retry_queue", None)
    trials = getattr(oracle, "trials", None)
    if not queue or trials is None:
        return
    from keras_tuner.engine.trial import TrialStatus

    finished = {TrialStatus.COMPLETED, TrialStatus.FAILED}
    oracle._retry_queue = [tid for tid in queue if trials.get(tid) is None or trials[tid].status not in finished]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def set_threads(threads: int | None) -> None:
    """Pins TensorFlow's intra-op threads (before any TensorFlow work in this process)."""
    if not threads:
        return
    import tensorflow as tf

    if tf.config.threading.get_intra_op_parallelism_threads() == int(threads):
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, int(threads)))
    except RuntimeError:
        raise ValueError(
            f"threads={threads} cannot be set: TensorFlow has already run in this process; "
            "start a fresh process, or leave threads unset"
        ) from None


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
    from keras_tuner.engine.trial import TrialStatus
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    class Servicer(oracle_chief.OracleServicer):
        def __init__(self, oracle) -> None:
            super().__init__(oracle)
            self.finished_workers: set[str] = set()

        def CreateTrial(self, request, context):  # noqa: N802 - gRPC method name
            trial = self.oracle.create_trial(request.tuner_id)
            if trial.status == TrialStatus.STOPPED:
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
