"""``tfbetavae tune``: choose β with KerasTuner; prints a results table, plots the trade-off, exports the best model.

Writes into ``--dir`` (the KerasTuner project folder): the trials, ``results.json``, ``tradeoff.png``, and the best
model as ``DIR/exported/<version>`` (TensorFlow Serving layout; ``--export-dir`` elsewhere), a new version only when
the best trial changed. Trials score on the tuner's metric sizes (a small share of a trial; ``--paper-sizes`` for the
papers'). It prints a line per trial as it trains and scores; ``--verbose`` shows KerasTuner's own tables too.
Running the same command again resumes a killed search.
On your own images (``--data FOLDER --image-size H,W --channels C``: no known factors) the objectives that need no
factors work: ``udr`` (each trial trains ``--seeds-per-trial`` seeds of its β, default 3, and maximises how much they
agree; the median-UDR model is exported), ``unsupervised``, ``reconstruction``, ``kl``, ``loss``.
With ``KERASTUNER_TUNER_ID``/``KERASTUNER_ORACLE_IP``/``KERASTUNER_ORACLE_PORT`` set, the process is the chief
(tuner id containing "chief": it serves the oracle, then reports and exports) or a worker (it runs trials).
"""

from __future__ import annotations

import os
from pathlib import Path

from tfbetavae.choices import LIKELIHOODS, PROTOCOLS, REPRESENTATIONS, TUNERS
from tfbetavae.cli.train_command import add_data_arguments, parse_floats, parse_ints


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("tune", help="choose β with KerasTuner", description=__doc__)
    add_data_arguments(parser)
    space = parser.add_argument_group("search space")
    space.add_argument("--betas", default=None, help="β values to choose from (default 1,2,4,8,16)")
    space.add_argument("--beta-range", default=None, help="LO,HI: β log-uniform in [LO, HI] instead of --betas")
    space.add_argument("--latent-dim", default="10", help="latent size, or a comma list to search")
    space.add_argument("--learning-rate", default="1e-4", help="learning rate, or a comma list to search")
    space.add_argument("--capacity", default=None, help="C_max values (nats): search the capacity objective, not β")
    space.add_argument("--gamma", default="1000", help="γ of the capacity objective (or a comma list)")
    space.add_argument("--capacity-steps", type=int, default=None, help="steps over which C rises (default --steps)")
    space.add_argument("--likelihood", choices=LIKELIHOODS, default="bernoulli")
    space.add_argument("--kernel-sizes", default="4,4,4,4", help="encoder kernels, e.g. 4,4,2,2")
    search = parser.add_argument_group("search")
    search.add_argument("--dir", required=True, help="search folder, e.g. tuning/NAME (re-running resumes it)")
    search.add_argument("--tuner", choices=TUNERS, default="random")
    search.add_argument("--trials", type=int, default=10, help="number of trials (Hyperband: a cap)")
    search.add_argument("--steps", type=int, default=1000, help="training steps of a full trial")
    search.add_argument("--batch-size", type=int, default=64)
    search.add_argument("--max-epochs", type=int, default=3, help="Hyperband: epochs a full trial is split into")
    search.add_argument("--factor", type=int, default=3, help="Hyperband's reduction factor")
    search.add_argument("--seed", type=int, default=0, help="training seed (weights, batches, oracle)")
    search.add_argument(
        "--seeds-per-trial", type=int, default=None,
        help="--objective udr: seeds trained per trial, SEED, SEED+1, ... (default 3, at least 2)",
    )
    search.add_argument(
        "--eval-seed", type=int, default=None,
        help="held-out seed of the scores (default the seed after the last training seed: SEED+1, or with udr SEED+N)",
    )
    search.add_argument("--overwrite", action="store_true", help="delete an existing search in --dir first")
    search.add_argument(
        "--num-workers", type=int, default=None,
        help="distributed chief: keep serving until this many workers have finished",
    )
    search.add_argument("--chief-timeout", type=float, default=None, help="distributed chief: give up after S seconds")
    search.add_argument("--tensorboard", action="store_true", help="TensorBoard logs (with HParams) in DIR/logs")
    objective = parser.add_argument_group("objective")
    objective.add_argument(
        "--objective", default="beta_vae",
        help="beta_vae | factor_vae | mig | dci | sap | unsupervised | udr, or a result key (dci_completeness, "
        "reconstruction, ...). Without known factors: udr, unsupervised, reconstruction, kl, loss",
    )
    objective.add_argument("--metric", default=None, help="registry metric to report with a non-metric objective")
    objective.add_argument(
        "--max-reconstruction", type=float, default=None,
        help="maximise the score among trials with reconstruction <= X nats/image (objective constrained_score)",
    )
    objective.add_argument("--num-train", type=int, default=None, help="metric training points (metric default)")
    objective.add_argument("--num-eval", type=int, default=None, help="metric evaluation/test points")
    objective.add_argument("--udr-points", type=int, default=None, help="--objective udr: images every seed encodes (1000)")
    objective.add_argument("--eval-images", type=int, default=512, help="held-out images for reconstruction/KL")
    objective.add_argument(
        "--paper-sizes", action="store_true",
        help="score on the metrics' own (the papers') sizes, e.g. 10000 + 5000 β-VAE-score points, not the tuner's",
    )
    objective.add_argument(
        "--protocol", choices=PROTOCOLS, default="library",
        help="the metric's estimators and settings: the library's own, or disentanglement_lib's (docs/metrics.md)",
    )
    objective.add_argument(
        "--representation", choices=REPRESENTATIONS, default="mean",
        help="the codes the metric scores: posterior means (default) or one posterior draw per image (docs/metrics.md)",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--export-dir", default=None, help="export the best model as versions of this folder (default DIR/exported)"
    )
    output.add_argument("--no-export", action="store_true", help="do not export the best model")
    output.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    parser.set_defaults(run=run)


def metric_size_kwargs(metric: str | None, num_train: int | None, num_eval: int | None) -> dict:
    """--num-train/--num-eval under the keyword names the chosen metric uses."""
    if metric is None:
        return {}
    from tfbetavae.metrics.evaluation import METRICS, check_metric_names

    check_metric_names([metric])
    import inspect

    parameters = inspect.signature(METRICS[metric]).parameters
    kwargs = {}
    if num_train is not None:
        kwargs["num_train"] = num_train
    if num_eval is not None:
        name = next((n for n in ("num_eval", "num_test") if n in parameters), None)
        if name is None:
            raise ValueError(f"metric {metric!r} has no evaluation set; drop --num-eval")
        kwargs[name] = num_eval
    return kwargs


def _search_kwargs(args, has_factors: bool = True) -> dict:
    """Hypermodel settings from the command line (values checked by BetaVAEHyperModel)."""
    from tfbetavae.tuning import METRIC_KEYS, UDR_OBJECTIVE

    def one_or_many(values):
        return values[0] if len(values) == 1 else values

    kwargs = {
        "latent_dim": one_or_many(list(parse_ints(args.latent_dim, "--latent-dim"))),
        "learning_rate": one_or_many(parse_floats(args.learning_rate, "--learning-rate")),
        "gamma": one_or_many(parse_floats(args.gamma, "--gamma")),
        "likelihood": args.likelihood,
        "kernel_sizes": parse_ints(args.kernel_sizes, "--kernel-sizes"),
        "batch_size": args.batch_size,
        "seed": args.seed,
        "eval_seed": args.eval_seed,
        "num_eval_images": args.eval_images,
        "max_reconstruction": args.max_reconstruction,
        "metric": args.metric,
        "capacity_steps": args.capacity_steps,
        "paper_sizes": args.paper_sizes,
        "seeds_per_trial": args.seeds_per_trial,
        "representation": args.representation,
    }
    if args.betas is not None:
        kwargs["betas"] = parse_floats(args.betas, "--betas")
    if args.beta_range is not None:
        bounds = parse_floats(args.beta_range, "--beta-range")
        if len(bounds) != 2:
            raise ValueError(f"--beta-range must be LO,HI, got {args.beta_range!r}")
        kwargs["beta_range"] = tuple(bounds)
    if args.capacity is not None:
        kwargs["capacity"] = parse_floats(args.capacity, "--capacity")
    if args.objective == UDR_OBJECTIVE:
        given = [name for name, value in (("--num-train", args.num_train), ("--num-eval", args.num_eval),
                                          ("--protocol", None if args.protocol == "library" else args.protocol),
                                          ("--representation", None if args.representation == "mean" else args.representation))
                 if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} set a registry metric; --objective udr takes --udr-points")
        kwargs["metric_kwargs"] = {} if args.udr_points is None else {"num_points": args.udr_points}
        return kwargs
    if args.udr_points is not None:
        raise ValueError("--udr-points is for --objective udr")
    metric = args.metric
    if metric is None:
        if args.objective in METRIC_KEYS:
            metric = args.objective
        else:
            default = "beta_vae" if has_factors else "unsupervised"
            metric = next((name for name, keys in METRIC_KEYS.items() if args.objective in keys), default)
    kwargs["metric_kwargs"] = metric_size_kwargs(metric, args.num_train, args.num_eval)
    if args.protocol != "library":
        kwargs["metric_kwargs"]["protocol"] = args.protocol
    return kwargs


def run(args) -> int:
    from tfbetavae.cli.train_command import build_source
    from tfbetavae.data.sources import has_factors
    from tfbetavae.runs import atomic_write_json
    from tfbetavae.tuning import (
        export_best,
        exported_version,
        format_table,
        is_worker,
        plot_tradeoff,
        results_table,
        search,
        trial_number,
    )
    from tfbetavae.tuning.sizes import sizes_in_effect

    if args.trials < 1:
        raise ValueError(f"--trials must be >= 1, got {args.trials}")
    folder = Path(args.dir)
    if not folder.name:
        raise ValueError(f"--dir must name a folder, got {args.dir!r}")
    source, _ = build_source(args)
    tuner = search(
        source,
        directory=str(folder.parent),
        project_name=folder.name,
        tuner=args.tuner,
        max_trials=args.trials,
        steps=args.steps,
        objective=args.objective,
        overwrite=args.overwrite,
        max_epochs=args.max_epochs,
        factor=args.factor,
        tensorboard=args.tensorboard,
        num_workers=args.num_workers,
        chief_timeout=args.chief_timeout,
        verbose=1 if getattr(args, "verbose", False) else 0,
        report=not args.quiet,
        **_search_kwargs(args, has_factors(source)),
    )
    if is_worker():
        print(f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: no trials left; results are with the chief")
        return 0
    rows = results_table(tuner)
    best = tuner.oracle.get_best_trials(1)
    objective_name = tuner.oracle.objective.name
    hypermodel = tuner.hypermodel
    if hypermodel.uses_udr:
        sizes = {"num_points": hypermodel.udr_options["num_points"]}
    else:
        sizes = {} if hypermodel.metric is None else sizes_in_effect(hypermodel.metric, hypermodel.metric_kwargs)
    scored = hypermodel.describe_scoring()
    print(f"\nResults ({objective_name}, {tuner.oracle.objective.direction}imise; scored {scored}; * = best):")
    print(format_table(rows, objective_name, best[0].trial_id if best else None))
    atomic_write_json(rows, folder / "results.json")
    if not best:
        print("No trial completed; nothing to plot or export.")
        return 1
    plot = plot_tradeoff(rows, folder / "tradeoff.png", score_label=tuner.hypermodel.score_key)
    print(f"Trade-off plot: {plot}")
    if not args.no_export:
        export_dir = Path(args.export_dir) if args.export_dir else folder / "exported"
        number = trial_number(best[0].trial_id)
        existing = exported_version(tuner, export_dir)
        if existing is not None:
            print(f"Best model (trial {number}) unchanged: already exported as {existing}")
        else:
            info = {"data": args.data, "metric_sizes": sizes, "paper_sizes": hypermodel.paper_sizes}
            if hypermodel.uses_udr:  # the exported model is the trial's median-UDR seed
                info["seed"] = int(best[0].metrics.get_last_value("model_seed"))
            path = export_best(tuner, export_dir, training_info=info, only_if_changed=False)
            print(f"Best model (trial {number}) exported to {path}")
    return 0
