"""Does bfloat16 change what the model learns? Train the same runs in float32 and bfloat16 and compare.

Every run is the default β-VAE (β = 4) on procedural dSprites, Adam at ``--learning-rate`` (1e-4), batch 64,
``--steps`` steps. Runs of the same seed share initial weights, data stream and sampling noise, so the two
precisions differ in the network arithmetic only. Each trained model is scored in float32 (the same evaluation
arithmetic for every run): loss, reconstruction and KL on a fixed held-out batch, MIG and the β-VAE score
(standard protocol, ``--score-train``/``--score-eval`` points), plus the training loss of the last epoch.

The job is resumable: one run folder per run under ``--out`` (``tfbetavae.training.train(run_dir=...)``); a
finished run (``model.keras`` and ``scores.json``) is skipped, an interrupted one resumes from its checkpoint.
It uses one intra-op thread, so it leaves the other core to other work. Writes ``precision_parity.md`` and
``precision_parity.json`` into ``--docs`` (default ``docs/``).

    nohup .venv/bin/python scripts/precision_parity.py --out /work/parity > /work/parity.log 2>&1 &
    .venv/bin/python scripts/precision_parity.py --out /tmp/p --steps 4 --seeds 0,1 --score-train 20 \\
        --score-eval 10 --mig-points 200 --docs /tmp/p   # smoke run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PRECISIONS = ("float32", "bfloat16")
SCORES = ("eval_loss", "eval_reconstruction", "eval_kl", "train_loss_last_epoch", "mig", "beta_vae_score")
LABELS = {
    "eval_loss": "loss",
    "eval_reconstruction": "reconstruction",
    "eval_kl": "KL",
    "train_loss_last_epoch": "train loss (last epoch)",
    "mig": "MIG",
    "beta_vae_score": "β-VAE score",
}
HELD_OUT_IMAGES = 1024
HELD_OUT_SEED = 123_456


def parse_args(argv=None):
    from tfbetavae.cli import int_at_least

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder of the run folders (re-running resumes)")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where precision_parity.md/.json go")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (>= 3 for a spread)")
    parser.add_argument("--steps", type=int_at_least(1), default=3000)
    parser.add_argument("--steps-per-epoch", type=int_at_least(1), default=500)
    parser.add_argument("--batch-size", type=int_at_least(1), default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--beta", type=float, default=4.0)
    parser.add_argument("--score-train", type=int_at_least(1), default=2000, help="β-VAE score training points")
    parser.add_argument("--score-eval", type=int_at_least(1), default=1000, help="β-VAE score evaluation points")
    parser.add_argument("--mig-points", type=int_at_least(1), default=10000)
    parser.add_argument("--threads", type=int_at_least(0), default=1,
                        help="TF intra-op threads (0: TensorFlow's default, e.g. in a process where it already ran)")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(part) for part in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    return args


def atomic_json(data, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(temporary, path)


def last_epoch_loss(run: Path) -> float | None:
    rows = list(csv.DictReader((run / "history.csv").open())) if (run / "history.csv").exists() else []
    return float(rows[-1]["loss"]) if rows else None


def train_run(args, precision: str, seed: int, run: Path, data) -> float:
    """Trains (or resumes) one run under ``precision``; returns the wall seconds this call spent."""
    import keras

    from tfbetavae.model import BetaVAE
    from tfbetavae.precision import precision_scope
    from tfbetavae.training import compile_model, train

    start = time.perf_counter()
    keras.utils.set_random_seed(seed)  # the same initial weights for both precisions
    with precision_scope(precision):
        model = BetaVAE(beta=args.beta, seed=seed)
        compile_model(model, args.learning_rate)
    train(
        model, data, steps=args.steps, batch_size=args.batch_size, run_dir=run, steps_per_epoch=args.steps_per_epoch,
        seed=seed, learning_rate=args.learning_rate, verbose=0, extra_config={"precision": precision},
    )
    return time.perf_counter() - start


def score_run(args, run: Path, data, held_out) -> dict:
    """Scores of a finished run, computed in float32 whatever precision it was trained in."""
    from tfbetavae import load
    from tfbetavae.metrics import beta_vae_score, mig
    from tfbetavae.precision import precision_scope
    from tfbetavae.training import compile_model

    with precision_scope("float32"):
        model = load(run / "model.keras")
        compile_model(model, args.learning_rate)
    evaluated = model.evaluate(held_out, batch_size=256, verbose=0, return_dict=True)
    score = beta_vae_score(
        model, data, num_train=args.score_train, num_eval=args.score_eval, seed=0, protocol="standard", progress=False
    )
    return {
        "eval_loss": float(evaluated["loss"]),
        "eval_reconstruction": float(evaluated["reconstruction"]),
        "eval_kl": float(evaluated["kl"]),
        "active_dims": float(evaluated["active_dims"]),
        "train_loss_last_epoch": last_epoch_loss(run),
        "mig": float(mig(model, data, num_train=args.mig_points, seed=0, progress=False)["mig"]),
        "beta_vae_score": float(score["eval_accuracy"]),
        "steps": int(model.step_counter.numpy()),
    }


def summarise(runs: list[dict], seeds) -> dict:
    """Per precision: median, min, max of every score; per seed: bfloat16 − float32; spreads and a verdict."""
    by = {(run["precision"], run["seed"]): run for run in runs}
    summary = {}
    for precision in PRECISIONS:
        summary[precision] = {}
        for key in SCORES:
            values = [by[precision, seed][key] for seed in seeds if (precision, seed) in by]
            values = [v for v in values if v is not None]
            if values:
                summary[precision][key] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                    "values": values,
                }
    comparison = {}
    for key in SCORES:
        if key not in summary.get("float32", {}) or key not in summary.get("bfloat16", {}):
            continue
        paired = [
            by["bfloat16", seed][key] - by["float32", seed][key]
            for seed in seeds
            if ("bfloat16", seed) in by and ("float32", seed) in by
            and by["bfloat16", seed][key] is not None and by["float32", seed][key] is not None
        ]
        f32, bf16 = summary["float32"][key], summary["bfloat16"][key]
        spread = f32["max"] - f32["min"]
        difference = bf16["median"] - f32["median"]
        comparison[key] = {
            "median_difference": difference,
            "paired_differences": paired,
            "float32_seed_spread": spread,
            "bfloat16_seed_spread": bf16["max"] - bf16["min"],
            # Within the spread: the bf16 median lies inside the float32 seeds' range and moves the median by no
            # more than that range.
            "within_seed_spread": bool(f32["min"] <= bf16["median"] <= f32["max"] and abs(difference) <= spread),
        }
    return {"per_precision": summary, "comparison": comparison}


def markdown(results: dict) -> str:
    settings = results["settings"]
    lines = [
        "# Precision parity: bfloat16 vs float32",
        "",
        f"Generated by `scripts/precision_parity.py` ({results['generated']}). β-VAE β = {settings['beta']}, "
        f"procedural dSprites, Adam {settings['learning_rate']:g}, batch {settings['batch_size']}, "
        f"{settings['steps']} steps, seeds {', '.join(map(str, settings['seeds']))}; one intra-op thread per run. "
        "Runs of one seed share initial weights, data order and sampling noise: they differ only in the network "
        "arithmetic (`mixed_bfloat16`: networks in bfloat16; weights, loss, KL and Adam in float32).",
        "",
        f"Scores are computed in float32 for every run: loss, reconstruction and KL (nats per image) on "
        f"{HELD_OUT_IMAGES} fixed held-out images; MIG on {settings['mig_points']} points; β-VAE score (standard "
        f"protocol, eval accuracy) with {settings['score_train']}/{settings['score_eval']} points. "
        "\"train loss\" is the mean training loss of the last epoch, in the run's own precision.",
        "",
        "## Every run",
        "",
        "| precision | seed | " + " | ".join(LABELS[k] for k in SCORES) + " | train wall time |",
        "| --- | ---: | " + " | ".join("---:" for _ in SCORES) + " | ---: |",
    ]
    for run in sorted(results["runs"], key=lambda r: (r["seed"], r["precision"])):
        cells = [_fmt(run.get(key), key) for key in SCORES]
        seconds = run.get("train_seconds")
        lines.append(
            f"| {run['precision']} | {run['seed']} | " + " | ".join(cells) + f" | {_minutes(seconds)} |"
        )
    summary = results["summary"]
    lines += [
        "",
        "## Per precision: median (min – max over seeds)",
        "",
        "| score | float32 | bfloat16 | bf16 − f32 (medians) | bf16 − f32 per seed | float32 seed spread | within spread |",
        "| --- | ---: | ---: | ---: | --- | ---: | :---: |",
    ]
    for key in SCORES:
        comparison = summary["comparison"].get(key)
        if comparison is None:
            continue
        f32, bf16 = summary["per_precision"]["float32"][key], summary["per_precision"]["bfloat16"][key]
        paired = ", ".join(_fmt(v, key, signed=True) for v in comparison["paired_differences"])
        lines.append(
            f"| {LABELS[key]} | {_range(f32, key)} | {_range(bf16, key)} | "
            f"{_fmt(comparison['median_difference'], key, signed=True)} | {paired} | "
            f"{_fmt(comparison['float32_seed_spread'], key)} | {'yes' if comparison['within_seed_spread'] else 'NO'} |"
        )
    verdict = results["verdict"]
    lines += ["", f"**Verdict (mechanical):** {verdict}", ""]
    lines.append(
        "Machine load while this ran is not controlled: the wall times say how long the job took, not how fast "
        "either precision is (see `scripts/bench.py` for speed)."
    )
    return "\n".join(lines) + "\n"


def _fmt(value, key, signed=False) -> str:
    if value is None:
        return "–"
    digits = 3 if key in ("mig", "beta_vae_score") else 1
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _range(stats, key) -> str:
    return f"{_fmt(stats['median'], key)} ({_fmt(stats['min'], key)} – {_fmt(stats['max'], key)})"


def _minutes(seconds) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def verdict_text(summary: dict, complete: bool) -> str:
    if not complete:
        return "incomplete: not every run has finished; no conclusion."
    outside = [LABELS[k] for k, c in summary["comparison"].items() if not c["within_seed_spread"]]
    if not outside:
        return (
            "every bfloat16 median lies within the float32 seeds' range and differs from the float32 median by "
            "no more than that range: at this budget bfloat16 does not change what the model learns beyond the "
            "seed-to-seed variation."
        )
    return (
        f"bfloat16 differs beyond the float32 seed spread on: {', '.join(outside)}. Treat bfloat16 as changing "
        "what the model learns at this budget (`--precision auto` must then choose float32)."
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)  # before any TF work: one core only
    import numpy as np

    from tfbetavae.data import ProceduralDSprites
    from tfbetavae.precision import cpu_has_native_bfloat16

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = ProceduralDSprites()
    held_out = data.sample(HELD_OUT_IMAGES, np.random.default_rng(HELD_OUT_SEED))[1].astype(np.float32)
    runs = []
    for seed in args.seeds:  # seed-major: a partial job already holds complete pairs
        for precision in PRECISIONS:
            run = out / f"{precision}_seed{seed}"
            scores_file = run / "scores.json"
            if scores_file.exists():
                record = json.loads(scores_file.read_text())
                print(f"{run.name}: done (skipped)", flush=True)
            else:
                seconds = None
                if not (run / "model.keras").exists():
                    print(f"{run.name}: training ({args.steps} steps), load {os.getloadavg()[0]:.2f}", flush=True)
                    seconds = train_run(args, precision, seed, run, data)
                print(f"{run.name}: scoring", flush=True)
                record = {"precision": precision, "seed": seed, "train_seconds": seconds, **score_run(args, run, data,
                                                                                                   held_out)}
                atomic_json(record, scores_file)
                print(f"{run.name}: {json.dumps(record)}", flush=True)
            runs.append(record)
    summary = summarise(runs, args.seeds)
    complete = len(runs) == len(args.seeds) * len(PRECISIONS) and all(r.get("steps") == args.steps for r in runs)
    results = {
        "generated": time.strftime("%Y-%m-%d"),
        "settings": {
            "seeds": args.seeds, "steps": args.steps, "steps_per_epoch": args.steps_per_epoch,
            "batch_size": args.batch_size, "learning_rate": args.learning_rate, "beta": args.beta,
            "score_train": args.score_train, "score_eval": args.score_eval, "mig_points": args.mig_points,
            "intra_op_threads": args.threads, "cpu_native_bfloat16": cpu_has_native_bfloat16(),
            "tensorflow": tf.__version__,
        },
        "runs": runs,
        "summary": summary,
        "complete": complete,
    }
    results["verdict"] = verdict_text(summary, complete)
    docs = Path(args.docs)
    atomic_json(results, docs / "precision_parity.json")
    (docs / ".precision_parity.md.tmp").write_text(markdown(results))
    os.replace(docs / ".precision_parity.md.tmp", docs / "precision_parity.md")
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
