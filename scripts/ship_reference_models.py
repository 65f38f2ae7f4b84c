"""Exports the reference models shipped in ``exported_models/`` from the paper study (scripts/paper_study.py).

    python scripts/ship_reference_models.py --study studies/paper                 # version 1 (the 10,000-step study)
    python scripts/ship_reference_models.py --study studies/paper --only beta-vae --same-runs-as 1 --partial
                                                                  # version 2: the same run, trained to 30,000 steps
    python scripts/ship_reference_models.py --study studies/paper --dry-run       # which runs the rule chooses

* ``exported_models/vae/``: the β=1 run (a plain VAE) whose MIG is the median of its seeds;
* ``exported_models/beta-vae/``: the β whose median MIG over seeds is highest (β > 1), and of its seeds the one
  whose MIG is the median — a typical run of the recommended setting, not the luckiest.

MIG chooses because it separates the settings of that study best; the β-VAE score saturates on this data (see
docs/reproduction.md). Each model card holds the run's scores at its last step as the study measured them, the
metric sizes and seed they were measured with, the setting, seed, steps, the study it came from, the scores of
every seed of its setting, and the rule that chose it.

Each shipping writes the next version beside the earlier ones (TF Serving's layout: a user's pinned version keeps
working). ``--same-runs-as V`` ships the setting and seed that version V shipped, trained further, when the rule
cannot be re-applied because not every seed has reached the study's last step; the card says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfbetavae.progress import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # TensorFlow's start-up lines (oneDNN, CUDA, cuInit) stay hidden, as on the command line

SETTING_KEYS = ("objective", "beta", "capacity", "gamma", "capacity_steps", "learning_rate", "latent_dim", "precision")
IDENTITY_KEYS = ("cell", "setting", "seed", "step", "fast", "wall_seconds", "train_seconds", "metric_seconds")
# What a study row records about its data and how it was scored (tfbetavae.studies.runner.RECORD_COLUMNS): not scores.
RECORD_KEYS = ("data", "protocol", "metric_sizes", "held_out_images", "eval_seed")


def median_run(rows: list[dict], score: str) -> dict:
    """The row whose score is the median of the rows' (the lower middle one for an even count)."""
    ordered = sorted(rows, key=lambda row: row[score])
    return ordered[(len(ordered) - 1) // 2]


def choose(rows: list[dict], score: str = "mig") -> dict[str, tuple[dict, str]]:
    """{shipped name: (row, why)} from the rows of a study at its last common step."""
    by_beta: dict[float, list[dict]] = {}
    for row in rows:
        by_beta.setdefault(float(row["beta"]), []).append(row)
    if 1.0 not in by_beta:
        raise ValueError("the study has no β=1 setting to ship as the VAE")
    medians = {beta: statistics.median(row[score] for row in group) for beta, group in by_beta.items()}
    larger = [beta for beta in by_beta if beta > 1.0]
    if not larger:
        raise ValueError("the study has no β > 1 to ship as the β-VAE")
    best = max(larger, key=lambda beta: medians[beta])
    listing = ", ".join(f"β={b:g}: {medians[b]:.3f}" for b in sorted(medians))
    return {
        "vae": (median_run(by_beta[1.0], score), f"β=1, the seed whose {score} is the median of its seeds"),
        "beta-vae": (
            median_run(by_beta[best], score),
            f"the β > 1 with the highest median {score} over seeds ({listing}); of its seeds, the median one",
        ),
    }


def without_optimizer(model):
    """The same model, uncompiled: a shipped model is for use, and Adam's state would double its size."""
    fresh = type(model).from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    fresh.step_counter.assign(model.step_counter)
    return fresh


def next_version(folder: Path) -> int:
    versions = [int(p.name) for p in folder.glob("*") if p.is_dir() and p.name.isdigit()] if folder.is_dir() else []
    return max(versions, default=0) + 1


def same_runs_as(out: Path, version: int, rows: list[dict], names: list[str]) -> dict[str, tuple[dict, str]]:
    """{name: (row, why)}: the setting and seed a shipped version holds, at the study's last step."""
    import json

    chosen = {}
    for name in names:
        card = json.loads((out / name / str(version) / "model_card.json").read_text())
        training = card["training"]
        matches = [r for r in rows if r["seed"] == training["seed"]
                   and all(r[k] == v for k, v in training["setting"].items())]
        if not matches:
            raise SystemExit(f"{name}: the run of version {version} (seed {training['seed']}) has not reached the "
                             "study's last step")
        chosen[name] = (matches[0], (
            f"the setting and seed of version {version}, trained to step {matches[0]['step']}; version {version} "
            f"was chosen at {training['steps']} steps as {training['chosen_by']}. Not re-chosen here: "
            f"{len(rows)} run(s) reached step {matches[0]['step']}"
        ))
    return chosen


def describe(name: str, row: dict, score: str) -> str:
    """One line naming the run chosen for ``name``: what a dry run and an export both print."""
    return f"{name}: {row['setting']} seed {row['seed']} at step {row['step']} ({score} {row[score]:.3f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="studies/paper")
    parser.add_argument("--out", default="exported_models")
    parser.add_argument("--score", default="mig", help="the score that chooses the runs")
    parser.add_argument("--only", choices=("vae", "beta-vae"), default=None, help="ship one of the two")
    parser.add_argument("--same-runs-as", type=int, default=None, metavar="V",
                        help="ship the setting and seed of shipped version V, at this study's last step")
    parser.add_argument("--partial", action="store_true", help="choose from the runs finished so far (a preview)")
    parser.add_argument("--dry-run", action="store_true", help="say which runs the rule chooses; export nothing")
    args = parser.parse_args(argv)

    from tfbetavae import load
    from tfbetavae.export import export_saved_model
    from tfbetavae.studies import collect_results, load_plan

    study_dir, out = Path(args.study), Path(args.out)
    plan = load_plan(study_dir)
    rows = [row for row in collect_results(study_dir) if row["step"] == plan.steps]
    expected = len(plan.settings) * len(plan.seeds)
    if len(rows) != expected and not args.partial:
        raise SystemExit(f"{study_dir}: {len(rows)} of {expected} runs reached step {plan.steps}; finish the study first")
    names = [args.only] if args.only else ["vae", "beta-vae"]
    if args.same_runs_as is None:
        chosen = {name: pick for name, pick in choose(rows, args.score).items() if name in names}
    else:
        chosen = same_runs_as(out, args.same_runs_as, rows, names)
    if args.dry_run:
        for name, (row, why) in chosen.items():
            print(f"{describe(name, row, args.score)}: {why}")
        return 0
    for name, (row, why) in chosen.items():
        siblings = sorted((r for r in rows if r["setting"] == row["setting"]), key=lambda r: r["seed"])
        model = without_optimizer(load(study_dir / "runs" / row["cell"] / "model.keras"))
        scores = {k: v for k, v in row.items() if k not in IDENTITY_KEYS + SETTING_KEYS + RECORD_KEYS}
        scoring = {"protocol": plan.protocol, "metric_sizes": plan.metric_sizes, "seed": plan.eval_seed,
                   "held_out_images": plan.held_out_images}
        info = {
            "study": Path(*study_dir.parts[-2:]).as_posix(),  # the study's name in the repository, no machine path
            "reproduce": "python scripts/paper_study.py --only paper && python scripts/ship_reference_models.py",
            "setting": {k: row[k] for k in SETTING_KEYS if k in row},
            "seed": row["seed"],
            "steps": row["step"],
            "batch_size": plan.batch_size,
            "data": plan.data,
            "chosen_by": why,
            "scores_measured_with": {"metric_sizes": plan.metric_sizes, "eval_seed": plan.eval_seed,
                                     "held_out_images": plan.held_out_images},
            "seeds_of_this_setting": {str(r["seed"]): {k: r[k] for k in scores if k in r} for r in siblings},
        }
        version = next_version(out / name)
        path = export_saved_model(model, out / name, version=version, scores=scores, training_info=info,
                                  scoring=scoring)
        print(f"{describe(name, row, args.score)} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
