"""A local study worker: ``python -m tfbetavae.studies.worker STUDY_DIR`` (started by ``study(workers=N)``).

It reads the plan from the study folder, pins its threads from ``TFBETAVAE_THREADS`` before TensorFlow does any
work, and asks the chief named by the ``KERASTUNER_*`` variables for cells until none are left, opening each data
set of the plan when its first cell comes.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tfbetavae.studies.worker STUDY_DIR", file=sys.stderr)
        return 2
    from pathlib import Path

    from tfbetavae.progress import import_tensorflow_quietly

    # First: the chief shows this log's lines, so no TensorFlow start-up noise (threads are fixed before it runs).
    import_tensorflow_quietly(threads=int(os.environ.get("TFBETAVAE_THREADS", "0")) or None)
    from tfbetavae.studies.runner import (
        StudyData,
        load_plan,
        networks_factory,
        run_grid,
        set_threads,
        use_plan_precision,
    )

    threads = int(os.environ.get("TFBETAVAE_THREADS", "0")) or None
    set_threads(threads)
    study_dir = Path(args[0])
    plan = load_plan(study_dir)
    use_plan_precision(plan)
    run_grid(plan, study_dir, StudyData(plan), say=lambda text: print(text, flush=True),
             networks=networks_factory(plan.networks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
