"""``tfbetavae evaluate``: disentanglement scores of a trained or exported model on ground-truth data."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="disentanglement scores of a model", description=__doc__)
    parser.add_argument(
        "--model", required=True, help=".keras file, training run folder, or SavedModel version or base folder"
    )
    parser.add_argument("--data", default="dsprites", help="dsprites (procedural or $TFBETAVAE_DSPRITES) or a file")
    parser.add_argument("--metrics", default="beta_vae,mig", help="comma list of beta_vae, factor_vae, mig, dci, sap")
    parser.add_argument("--num-train", type=int, default=10_000, help="training points of each metric")
    parser.add_argument("--num-eval", type=int, default=5_000, help="evaluation points (beta_vae, factor_vae)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    parser.set_defaults(run=run)


def run(args) -> int:
    from tfbetavae.data.sources import has_factors, resolve_data
    from tfbetavae.loading import load
    from tfbetavae.metrics import check_metric_names, evaluate

    names = check_metric_names([name.strip() for name in args.metrics.split(",") if name.strip()])
    model = load(args.model)
    data = resolve_data(args.data)
    if not has_factors(data):
        raise ValueError(f"--data {args.data!r} has no known factors; metrics need ground-truth data such as dsprites")
    kwargs = {"num_train": args.num_train}
    for name in ("beta_vae", "factor_vae"):
        if name in names:
            kwargs[name] = {"num_eval": args.num_eval}
    scores = evaluate(model, data, names, seed=args.seed, **kwargs)
    width = max(len(key) for key in scores)
    print(f"\nScores of {args.model} on {type(data).__name__} (seed {args.seed}):")
    for key, value in scores.items():
        print(f"  {key:{width}s} {value:.4f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(scores, indent=2))
        print(f"Written: {args.json}")
    return 0
