"""A small study across data sets: β ∈ {1, 4} × seeds {0, 1, 2} on dSprites and Color-dSprites (docs/data_study.md).

    nohup nice -n 10 python scripts/data_study.py --out studies > /tmp/logs/data_study.log 2>&1 &
    python scripts/data_study.py --out studies      # run it again to continue: the study folder resumes
    python scripts/data_study.py --out studies --plan   # what it would run (settings, seeds, steps, folder)

Every cell trains 2,000 steps (Adam 1e-4, batch 64) and is scored at 1,000 and 2,000 steps with the study's
default scores and metric sizes (``tfbetavae.studies.STUDY_SIZES``) under the library protocol, in two local
workers with one thread each: a budget that fits beside a longer study on 2 cores. Both data sets are made
offline by the library (the procedural renderer; Color-dSprites colours each sprite from [0.5, 1]³), so anyone
can rerun it. ``tfbetavae study --report studies/data`` redraws the report of a finished or partial run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = ["dsprites", "color-dsprites"]
BETAS = [1.0, 4.0]
SEEDS = [0, 1, 2]
EVAL_STEPS = [1000, 2000]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="studies", help="folder for the study folder (data/)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads per worker")
    parser.add_argument("--fast", action="store_true", help="small metric sizes (a quick look; says so everywhere)")
    parser.add_argument("--plan", action="store_true", help="print the study's plan and folder; train nothing")
    args = parser.parse_args(argv)
    if args.plan:
        sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/: study_plan.py
        from study_plan import print_plan as run
    else:
        from tfbetavae.studies import study as run

    run(
        Path(args.out) / "data", betas=BETAS, seeds=SEEDS, eval_steps=EVAL_STEPS, learning_rates=1e-4,
        data=DATA, workers=args.workers, threads=args.threads, fast=args.fast,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
