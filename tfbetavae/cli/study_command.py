"""``tfbetavae study``: what β (or an objective, a learning rate) buys, over seeds — a grid of resumable runs.

    tfbetavae study studies/betas --betas 1,4,8 --seeds 0,1,2 --eval-steps 2500,5000,10000 --workers 2
    tfbetavae study studies/data --data dsprites,color-dsprites --betas 1,4 --eval-steps 1000,2000
    tfbetavae study --report studies/betas      # redraw table and pictures of a finished or partial study
    tfbetavae study --report docs/paper_study   # a study without its run folders: redrawn from results.json
"""

from __future__ import annotations

import argparse
import json

from tfbetavae.choices import OBJECTIVES, PROTOCOLS, REPRESENTATIONS, STUDY_PRESETS, STUDY_SCORES
from tfbetavae.cli.train_command import parse_floats, parse_ints

SCORE_NAMES = STUDY_SCORES  # kept: its old name


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "study", help="a grid of settings × seeds, scored over training (what β buys)", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", nargs="?", default=None, help="study folder (re-running with it resumes)")
    parser.add_argument(
        "--report", metavar="DIR", default=None,
        help="only redraw the table and pictures of DIR (from DIR/results.json when its run folders are absent)",
    )
    grid = parser.add_argument_group("grid")
    grid.add_argument("--preset", choices=STUDY_PRESETS, default=None,
                      help="a named sweep instead of the grid flags: locatello2019 is disentanglement_lib's 6 models × "
                      "6 values (docs/studies.md); --objective keeps some of its models, e.g. dip-vae-i,beta-vae")
    grid.add_argument("--plan", action="store_true", help="print the plan and its cost on this machine, train nothing")
    grid.add_argument("--betas", default="1,4", help="β values (beta-vae, beta-tcvae), e.g. 1,4,8")
    grid.add_argument("--objective", default=None,
                      help=f"one or more of {','.join(OBJECTIVES)} (default beta-vae; with --preset: all its models)")
    grid.add_argument("--capacity", default="25", help="C_max values (nats) of the capacity objective")
    grid.add_argument("--gamma", default=None, help="γ values: capacity (default 1000) or factor-vae (default 35)")
    grid.add_argument("--capacity-steps", type=int, default=None, help="steps over which C rises to C_max")
    grid.add_argument("--lambda-od", default="10", help="λ_od values of dip-vae-i and dip-vae-ii (λ_d follows)")
    grid.add_argument("--pair-k", default="random",
                      help="ada-gvae, ada-ml-vae: factors a pair does not share, a number or 'random' (default)")
    grid.add_argument("--learning-rate", default=None, help="learning rate(s), e.g. 1e-4,5e-4 (default: the library's)")
    grid.add_argument("--latent-dim", default="10", help="latent size(s)")
    grid.add_argument("--seeds", default="0,1,2", help="training seeds, e.g. 0,1,2 (each appears once)")
    run = parser.add_argument_group("training and scoring")
    run.add_argument("--steps", type=int, default=None, help="training steps of every run (default: last eval step)")
    run.add_argument("--eval-steps", default=None, help="score at these steps, e.g. 2500,5000,10000 (default: --steps)")
    run.add_argument(
        "--scores", default=None,
        help=f"from {','.join(SCORE_NAMES)} (default: beta_vae,beta_vae_paper,mig,dci; udr for data without factors: "
        "an image folder or a .npy array)",
    )
    run.add_argument(
        "--metric-sizes", default=None,
        help='JSON of per-score sizes, e.g. \'{"beta_vae": {"num_train": 10000, "num_eval": 5000}}\'',
    )
    run.add_argument("--fast", action="store_true", help="small metric sizes for a quick look (every output says so)")
    run.add_argument("--batch-size", type=int, default=64)
    run.add_argument("--precision", default="float32", help="float32, bfloat16, float16 or auto")
    run.add_argument(
        "--data", default="dsprites",
        help="data with known factors (NAME or NAME:PATH, see docs/data.md); a comma list makes data a grid axis: "
             "dsprites,color-dsprites,noisy-dsprites trains and scores every setting × seed on each",
    )
    run.add_argument(
        "--protocol", choices=PROTOCOLS, default="library",
        help="the metrics' estimators and settings (docs/metrics.md); every result row records it",
    )
    run.add_argument(
        "--representation", choices=REPRESENTATIONS, default="mean",
        help="the codes scored: posterior means (default) or one posterior draw per image (docs/metrics.md); "
             "the plan and every result row record it",
    )
    run.add_argument("--level", type=float, default=0.05, help="significance level of the rank tests in the report")
    scale = parser.add_argument_group("processes")
    scale.add_argument("--workers", type=int, default=1, help="local worker processes training cells in parallel")
    scale.add_argument("--threads", type=int, default=None, help="intra-op threads per process (default: cores/workers)")
    scale.add_argument(
        "--num-workers", type=int, default=None,
        help="distributed chief (KERASTUNER_* set): serve until this many workers finished",
    )
    scale.add_argument("--chief-timeout", type=float, default=None, help="distributed chief: give up after S seconds")
    parser.set_defaults(run=run_command)


def parse_data(text: str) -> str | list[str]:
    """``--data``: one name, or a comma list (the data axis); an empty entry is an error naming the flag."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ValueError(f"--data {text!r} has an empty entry; give names separated by commas, e.g. dsprites,color-dsprites")
    return parts[0] if len(parts) == 1 else parts


def run_command(args) -> int:
    if args.report is not None:
        if args.dir is not None:
            raise ValueError("give either a study folder to run or --report DIR, not both")
        from tfbetavae.studies import report

        report(args.report, level=args.level)
        return 0
    if args.dir is None:
        raise ValueError("name the study folder (tfbetavae study DIR ...) or use --report DIR")
    sizes = None
    if args.metric_sizes:
        try:
            sizes = json.loads(args.metric_sizes)
        except json.JSONDecodeError as error:
            raise ValueError(f"--metric-sizes is not valid JSON ({error})") from None
        if not isinstance(sizes, dict) or not all(isinstance(v, dict) for v in sizes.values()):
            raise ValueError('--metric-sizes must map score names to sizes, e.g. {"mig": {"num_train": 20000}}')
    from tfbetavae.studies import study
    from tfbetavae.training import DEFAULT_LEARNING_RATE

    objectives = None if args.objective is None else [part.strip() for part in args.objective.split(",") if part.strip()]
    study(
        args.dir,
        betas=parse_floats(args.betas, "--betas"),
        seeds=parse_ints(args.seeds, "--seeds"),
        steps=args.steps,
        eval_steps=None if args.eval_steps is None else parse_ints(args.eval_steps, "--eval-steps"),
        objectives=objectives,
        capacities=parse_floats(args.capacity, "--capacity"),
        gammas=None if args.gamma is None else parse_floats(args.gamma, "--gamma"),
        capacity_steps=args.capacity_steps,
        learning_rates=DEFAULT_LEARNING_RATE if args.learning_rate is None else parse_floats(args.learning_rate, "--learning-rate"),
        latent_dims=parse_ints(args.latent_dim, "--latent-dim"),
        lambdas_od=parse_floats(args.lambda_od, "--lambda-od"),
        pair_k=args.pair_k if args.pair_k == "random" else parse_ints(args.pair_k, "--pair-k")[0],
        preset=args.preset,
        plan_only=args.plan,
        scores=None if args.scores is None else [part for part in args.scores.split(",") if part],
        metric_sizes=sizes,
        fast=args.fast,
        data=parse_data(args.data),
        protocol=args.protocol,
        representation=args.representation,
        batch_size=args.batch_size,
        precision=args.precision,
        workers=args.workers,
        threads=args.threads,
        level=args.level,
        num_workers=args.num_workers,
        chief_timeout=args.chief_timeout,
        keras_tuner_output=bool(getattr(args, "verbose", False)),
    )
    return 0
