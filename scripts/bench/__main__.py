"""The benchmark's command line: which sections to run, with what, and the report at the end."""

from __future__ import annotations

import argparse
import os
import time

from . import (
    clients,
    data,
    fit,
    independent,
    investigate,
    isa,
    metric,
    networks,
    op_profile,
    pairs,
    report,
    serving,
    study,
    training,
    tune,
    udr,
)
from .children import NATIVE, isa_environment
from .config import DEFAULT_STEPS_PER_EXECUTION, FULL, MODES, PRECISIONS, QUICK, Context
from .machine import machine_info
from .measure import load

# name -> run(context) -> what it adds to the results; they run in this order whatever --sections says.
SECTIONS = {
    "training": training.run,
    "fit": fit.run,
    "networks": networks.run,
    "independent": independent.run,
    "study": study.run,
    "tune": tune.run,
    "data": data.run,  # after training: it compares the pipeline with training's consumption
    "metric": metric.run,
    "udr": udr.run,
    "pairs": pairs.run,
    "serving": serving.run,
    "clients": clients.run,
    "isa": isa.run,
    "profile": op_profile.run,
}
# The profile is a diagnostic (like --investigate): run it by name.
DEFAULT_SECTIONS = tuple(name for name in SECTIONS if name != "profile")
DEFAULT_ISAS = (NATIVE, "AVX2")
# Jobs of child processes: name -> function(context) -> the JSON the child writes.
CHILDREN = {"isa": isa.child, "profile": op_profile.child, "onednn": op_profile.verbose_child}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="tfbetavae benchmark (see docs/performance.md)")
    parser.add_argument("--quick", action="store_true", help="tiny repetition counts (smoke test)")
    parser.add_argument("--json", default="bench_results.json", help="where to write the results")
    parser.add_argument("--sections", default=",".join(DEFAULT_SECTIONS),
                        help=f"comma list of {', '.join(SECTIONS)} (default: all but profile)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"training modes: comma list of {', '.join(MODES)}")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument(
        "--threads", type=int, default=None, help="intra-op threads for TF and PyTorch (default: cores)"
    )
    parser.add_argument("--inter-threads", type=int, default=None, help="TF inter-op threads (default: auto)")
    parser.add_argument("--investigate", action="store_true", help="also run the experiments (slow)")
    parser.add_argument(
        "--precisions", default=",".join(PRECISIONS), help=f"fit and isa sections: comma list of {', '.join(PRECISIONS)}"
    )
    parser.add_argument(
        "--steps-per-execution", type=int, default=DEFAULT_STEPS_PER_EXECUTION,
        help="fit section: the steps_per_execution compared with compile_model's default",
    )
    parser.add_argument(
        "--isas", default=",".join(DEFAULT_ISAS),
        help="isa and profile sections: instruction sets, 'native' or ONEDNN_MAX_CPU_ISA names (default native,AVX2)",
    )
    # A worker process of the "independent" section, and a child process of the isa and profile sections (started
    # by the benchmark itself).
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-steps", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--worker-precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--worker-seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=sorted(CHILDREN), default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    sections, modes, precisions, isas = (_names(text) for text in (args.sections, args.modes, args.precisions,
                                                                     args.isas))
    unknown = (set(sections) - set(SECTIONS)) | (set(modes) - set(MODES)) | (set(precisions) - set(PRECISIONS))
    if unknown:
        raise SystemExit(f"unknown sections, modes or precisions: {sorted(unknown)}")
    if args.steps_per_execution < 1:
        raise SystemExit(f"--steps-per-execution must be >= 1, got {args.steps_per_execution}")
    try:
        for name in isas:
            isa_environment(name)
    except ValueError as error:
        raise SystemExit(f"--isas: {error}") from None
    threads = args.threads or os.cpu_count()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    if args.inter_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads)
    if args.worker:
        independent.independent_worker(args)
        return {}
    context = Context(cfg, threads, modes, precisions, isas, not args.no_torch, args.steps_per_execution)
    if args.child:
        result = CHILDREN[args.child](context)
        report.write(result, args.json)
        return result

    results = {"machine": machine_info(threads, args.inter_threads), "quick": bool(args.quick), "config": dict(cfg)}
    context.results = results
    start = time.perf_counter()
    section_seconds = results["section_seconds"] = {}  # where a benchmark run's own time goes
    for name, run in SECTIONS.items():
        if name in sections:
            began = time.perf_counter()
            results.update(run(context))
            section_seconds[name] = round(time.perf_counter() - began, 1)
    if args.investigate:
        results.update(investigate.run(context))
    results["machine"]["load_after"] = load()
    results["seconds"] = round(time.perf_counter() - start, 1)
    results["targets"] = report.targets(results)
    report.write(results, args.json)
    print(report.table(results))
    print(f"\nwritten to {args.json} ({results['seconds']} s)")
    return results


if __name__ == "__main__":
    main()
