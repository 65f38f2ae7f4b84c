"""``tfbetavae evaluate``: disentanglement scores of a trained or exported model on ground-truth data.

Omitted --data, --image-size and --channels come from a run folder's config.json (else dsprites). On data without
known factors (an image folder) there is nothing to score disentanglement against: it prints the reconstruction,
KL and active dimensions on the data's images instead.
"""

from __future__ import annotations

from pathlib import Path

from tfbetavae.cli.run_settings import fill_data_arguments, omit_data_defaults, resolve_with_origin
from tfbetavae.cli.train_command import add_data_arguments


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="disentanglement scores of a model", description=__doc__)
    parser.add_argument(
        "--model", required=True, help=".keras file, training run folder, or SavedModel version or base folder"
    )
    add_data_arguments(parser)
    omit_data_defaults(parser)
    parser.add_argument("--metrics", default="beta_vae,mig", help="comma list of metrics: beta_vae, factor_vae, mig, dci, sap, modularity, irs, downstream_logreg, downstream_gbt, unsupervised")
    parser.add_argument("--num-train", type=int, default=10_000, help="training points of each metric")
    parser.add_argument("--num-eval", type=int, default=5_000, help="evaluation points (beta_vae, factor_vae)")
    parser.add_argument("--num-images", type=int, default=512, help="images for reconstruction/KL on data without factors")
    parser.add_argument(
        "--protocol", choices=("library", "disentanglement_lib"), default=None,
        help="disentanglement_lib: score every metric with that library's estimators and settings (docs/metrics.md)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores here")
    parser.set_defaults(run=run)


def image_terms(model, source, num_images: int, seed: int, batch_size: int = 64) -> dict[str, float]:
    """Mean reconstruction, KL and loss (nats per image) and active dimensions on images of a dataset."""
    import numpy as np

    from tfbetavae.model import ACTIVE_KL_THRESHOLD

    if num_images < 1:
        raise ValueError(f"--num-images must be >= 1, got {num_images}")
    if not hasattr(model, "compute_terms"):
        raise ValueError("this model is an export (no loss terms); evaluate its run folder or .keras file")
    dataset = source.shuffle(max(num_images * 2, 256), seed=seed).take(num_images).batch(batch_size)
    totals, kl_per_dim, count = {"reconstruction": 0.0, "kl": 0.0, "loss": 0.0}, 0.0, 0
    for batch in dataset.as_numpy_iterator():
        batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, np.float32)
        terms = model.compute_terms(batch, training=False)
        for key in totals:
            totals[key] += float(terms[key]) * len(batch)
        kl_per_dim = kl_per_dim + np.sum(np.asarray(terms["kl_per_dim"], np.float64), axis=0)
        count += len(batch)
    if count == 0:
        raise ValueError("the data holds no images")
    results = {key: value / count for key, value in totals.items()}
    results["active_dims"] = float(np.sum(np.asarray(kl_per_dim) / count > ACTIVE_KL_THRESHOLD))
    results["images"] = float(count)
    return results


def _sizes_text(sizes: dict) -> str:
    """``beta_vae 10000/5000 points, mig 10000``: the sizes a printed score was made with."""
    return ", ".join(f"{name} {'/'.join(str(v) for v in given.values())}" for name, given in sizes.items()) + " points"


def run(args) -> int:
    from tfbetavae.data.sources import has_factors
    from tfbetavae.loading import load
    from tfbetavae.metrics import check_metric_names, evaluate, scoring_record

    names = check_metric_names([name.strip() for name in args.metrics.split(",") if name.strip()])
    model = load(args.model)
    origin = fill_data_arguments(args, args.model, model.image_shape)
    data, shape = resolve_with_origin(args, origin)
    if tuple(shape) != tuple(model.image_shape):
        raise ValueError(
            f"the data {args.data!r} has images of shape {tuple(shape)} but the model expects {tuple(model.image_shape)}"
        )
    source = f" (from {origin})" if origin else ""
    if not has_factors(data):
        scores, record = image_terms(model, data, args.num_images, args.seed), {}  # terms, not metric scores
        print(f"\n{args.data!r}{source} has no known factors, so no disentanglement score: metrics need ground-truth "
              "data such as dsprites.")
        print(f"Reconstruction and KL of {args.model} on {int(scores['images'])} of its images (nats per image):")
    else:
        kwargs = {"num_train": args.num_train}
        if args.protocol is not None:
            kwargs["protocol"] = args.protocol
        for name in ("beta_vae", "factor_vae"):
            if name in names:
                kwargs[name] = {"num_eval": args.num_eval}
        scores = evaluate(model, data, names, seed=args.seed, **kwargs)
        record = scoring_record(names, seed=args.seed, **kwargs)
        print(f"\nScores of {args.model} on {type(data).__name__}{source} (seed {args.seed}, {record['protocol']} "
              f"protocol; {_sizes_text(record['metric_sizes'])}):")
    width = max(len(key) for key in scores)
    for key, value in scores.items():
        print(f"  {key:{width}s} {value:.4f}")
    if args.json is not None:
        from tfbetavae.runs import atomic_write_json

        # The scores stay top-level numbers (readers of earlier files keep working); beside them, how they were
        # made: protocol, each metric's sizes and the seed (tfbetavae.metrics.scoring_record).
        atomic_write_json({**scores, **record}, args.json)
        print(f"Written: {args.json}")
    return 0
