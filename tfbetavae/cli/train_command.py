"""``tfbetavae train``: train a β-VAE into a resumable run folder."""

from __future__ import annotations

import argparse

from tfbetavae.choices import LIKELIHOODS, PRECISIONS
from tfbetavae.objective_names import PAIR_OBJECTIVES, TRAIN_OBJECTIVES  # capacity is beta-vae with --capacity


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model settings shared by the commands that build models (train, tune)."""
    parser.add_argument("--latent-dim", type=int, default=10)
    parser.add_argument(  # one list for train and tune (tfbetavae.choices), so --help imports no TensorFlow
        "--likelihood", choices=LIKELIHOODS,
        default="bernoulli", help="p(x|z); gaussian/laplace have a fixed scale 0.1 (docs/own-model-and-data.md)",
    )
    parser.add_argument("--capacity", type=float, default=None, help="Burgess et al. C_max (nats); enables capacity")
    parser.add_argument("--capacity-steps", type=int, default=10_000, help="steps over which C rises to C_max (default 10000)")
    parser.add_argument("--gamma", type=float, default=1000.0, help="weight of |KL - C| with --capacity")
    parser.add_argument("--kernel-sizes", default="4,4,4,4", help="encoder kernels, e.g. 4,4,2,2")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="dsprites",
        help="a data set NAME or NAME:PATH (dsprites, color-dsprites, noisy-dsprites, scream-dsprites:IMAGE, "
        "shapes3d:FILE, mpi3d:FILE, smallnorb:DIR, cars3d:DIR; docs/data.md), a dSprites .npz/.hdf5, "
        "an image folder, or tfds:NAME",
    )
    parser.add_argument("--tfds-data-dir", default=None, help="TFDS data_dir for --data tfds:NAME (offline)")
    parser.add_argument("--image-size", default="64,64", help="H,W for image folders")
    parser.add_argument("--channels", type=int, default=1, help="channels for image folders (1 or 3)")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a β-VAE", description=__doc__)
    add_data_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument(
        "--beta", type=float, default=None, help="weight of the KL (default 4; 1 for ada-gvae and ada-ml-vae)"
    )
    parser.add_argument(
        "--objective", choices=TRAIN_OBJECTIVES, default="beta-vae",
        help="beta-vae (β·KL or capacity), beta-tcvae (Chen et al.), factor-vae (Kim & Mnih), "
        "dip-vae-i or dip-vae-ii (Kumar et al.), ada-gvae or ada-ml-vae (Locatello et al. 2020, on pairs: --pairs)",
    )
    parser.add_argument(
        "--tc-weight", type=float, default=None,
        help="weight of the total correlation: β of beta-tcvae (default 6), γ of factor-vae (default 35)",
    )
    parser.add_argument("--dataset-size", type=int, default=None, help="N for beta-tcvae on data without factors")
    parser.add_argument(
        "--lambda-od", type=float, default=None,
        help="dip-vae-i/ii: weight of the codes' off-diagonal covariances (default 10)",
    )
    parser.add_argument(
        "--lambda-d", type=float, default=None,
        help="dip-vae-i/ii: weight of the diagonal's distance to 1 (default 10·λ_od for dip-vae-i, λ_od for dip-vae-ii)",
    )
    pairs = parser.add_mutually_exclusive_group()
    pairs.add_argument(
        "--pairs", default=None, metavar="k=N|k=random",
        help="ada-gvae/ada-ml-vae: pairs of --data images sharing all factors but k (k=random: 1 to F-1 per pair)",
    )
    pairs.add_argument(
        "--pairs-from", default=None, metavar="A,B",
        help="ada-gvae/ada-ml-vae: your pairs, two image folders aligned by sorted file name (--image-size, --channels)",
    )
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="Adam's learning rate (default 1e-4, see docs/defaults.md)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deterministic", action="store_true", help="TF op determinism: same seed, same weights")
    parser.add_argument(
        "--precision", choices=PRECISIONS, default="auto",
        help="network compute precision (weights, losses, optimizer stay float32); auto: bfloat16 where the CPU "
        "has native bf16 (AVX512-BF16/AMX), else float32. float16 is meant for GPUs",
    )
    parser.add_argument(
        "--strategy", choices=("default", "mirrored", "multiworker"), default="default",
        help="tf.distribute strategy; multiworker reads TF_CONFIG. --batch-size is the global batch",
    )
    parser.add_argument(
        "--out", required=True,
        help="run folder: re-running with it resumes an interrupted run, and a larger --steps extends a finished one",
    )
    parser.set_defaults(run=run)


def parse_floats(text: str, name: str) -> list[float]:
    """Comma-separated numbers (``"1,4,8"``), with an error naming the option."""
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers, got {text!r}") from None


def parse_ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{name} must be comma-separated integers, got {text!r}") from None


def build_source(args):
    """The data source and the image shape the model needs for it."""
    from tfbetavae.data.pipeline import image_folder_dataset
    from tfbetavae.data.sources import has_factors, resolve_data

    source = resolve_data(args.data, args.tfds_data_dir)
    if has_factors(source):
        return source, source.observation_shape
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        size = parse_ints(args.image_size, "--image-size")
        return image_folder_dataset(source, size, args.channels, repeat=False).unbatch(), (*size, args.channels)
    shape = tuple(source.element_spec.shape)
    return source, shape


def run(args) -> int:
    import keras

    from tfbetavae.precision import precision_scope
    from tfbetavae.training import make_deterministic, make_strategy, train

    strategy = make_strategy(args.strategy)  # first: multi-worker setup must precede other TF work
    if args.deterministic:
        make_deterministic(args.seed)
    else:
        keras.utils.set_random_seed(args.seed)
    pair_objective = args.objective in PAIR_OBJECTIVES
    if not pair_objective and (args.pairs or args.pairs_from):
        raise ValueError(f"--pairs and --pairs-from are for the objectives trained on pairs: {', '.join(PAIR_OBJECTIVES)}")
    source, shape = build_pair_source(args) if pair_objective else build_source(args)
    pair_config = {"pairs": args.pairs, "pairs_from": args.pairs_from} if pair_objective else {}
    # A run on your pair folders names the first as its data: evaluate and traverse read single images there.
    data = args.pairs_from.split(",")[0] if pair_objective and args.pairs_from else args.data
    with strategy.scope(), precision_scope(args.precision) as precision:  # the model keeps its dtype policy
        model = model_from_args(args, source, shape)  # seeded again here, so the weights depend on the seed alone
    train(
        model, source, steps=args.steps, batch_size=args.batch_size, run_dir=args.out,
        steps_per_epoch=args.steps_per_epoch, seed=args.seed, learning_rate=args.learning_rate,
        extra_config={"data": data, "objective": args.objective, "precision": precision, **pair_config},
    )
    print_summary(args.out)
    return 0


def parse_pairs(text: str) -> int | str:
    """``--pairs``: ``k=N`` or ``k=random`` (the number of factors a pair differs in), with an error naming it."""
    key, _, value = str(text).partition("=")
    if key.strip() != "k" or not value.strip():
        raise ValueError(f"--pairs must be k=N or k=random (how many factors a pair differs in), got {text!r}")
    value = value.strip()
    if value == "random":
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--pairs must be k=N or k=random (how many factors a pair differs in), got {text!r}") from None


def build_pair_source(args):
    """The pairs (``tfbetavae.data.pairs``) and the image shape for a pair objective: ``--pairs k=…`` over the
    ground-truth data of ``--data``, or ``--pairs-from A,B``, two aligned image folders."""
    if args.pairs_from:
        folders = [part.strip() for part in args.pairs_from.split(",")]
        if len(folders) != 2 or not all(folders):
            raise ValueError(f"--pairs-from must be two image folders A,B, got {args.pairs_from!r}")
        size = parse_ints(args.image_size, "--image-size")
        return tuple(folders), (*size, args.channels)
    if not args.pairs:
        raise ValueError(
            f"--objective {args.objective} trains on pairs: give --pairs k=N (or k=random) to draw them from --data, "
            "or --pairs-from A,B (two aligned image folders)"
        )
    from tfbetavae.data.pairs import GroundTruthPairs
    from tfbetavae.data.sources import has_factors, resolve_data

    k = parse_pairs(args.pairs)
    source = resolve_data(args.data, args.tfds_data_dir)
    if not has_factors(source):
        raise ValueError(
            f"--pairs {args.pairs} draws pairs from a data set with known factors; --data {args.data} has none "
            "(give --pairs-from A,B for your own pairs)"
        )
    return GroundTruthPairs(source, k), tuple(source.observation_shape)


def model_from_args(args, source, shape):
    """The seeded, compiled model the arguments ask for (``tfbetavae.training.new_model``, through the one factory,
    ``tfbetavae.objectives.build_model``): BetaVAE (β or, with --capacity, the capacity objective), BetaTCVAE,
    FactorVAE, DIPVAE, AdaGVAE or AdaMLVAE on the same network."""
    from tfbetavae.data.sources import has_factors
    from tfbetavae.training import new_model

    common = {
        "latent_dim": args.latent_dim, "input_shape": shape, "likelihood": args.likelihood,
        "kernel_sizes": parse_ints(args.kernel_sizes, "--kernel-sizes"), "seed": args.seed,
        "learning_rate": args.learning_rate,
    }
    # DIP-VAE's weights when given (None: its defaults); the factory refuses them for another objective.
    dip = {key: getattr(args, key, None) for key in ("lambda_od", "lambda_d")}
    dip = {key: value for key, value in dip.items() if value is not None}
    if args.objective == "beta-vae":
        objective = "beta-vae" if args.capacity is None else "capacity"
        return new_model(objective, beta=args.beta, capacity=args.capacity, capacity_steps=args.capacity_steps,
                         gamma=args.gamma, **dip, **common)
    if args.objective in PAIR_OBJECTIVES:  # beta None: the objective's own default (1)
        return new_model(args.objective, beta=args.beta, tc_weight=args.tc_weight, **dip, **common)
    size = None
    if args.objective == "beta-tcvae":
        size = args.dataset_size if args.dataset_size is not None else len(source) if has_factors(source) else None
        if size is None:
            raise ValueError("--objective beta-tcvae on data without known factors needs --dataset-size N")
    # tc_weight None: the objective's own default (β 6 for beta-tcvae, γ 35 for factor-vae).
    return new_model(args.objective, tc_weight=args.tc_weight, dataset_size=size, **dip, **common)


def print_summary(run_dir) -> None:
    """First and last epoch of the whole run, resumes and extensions included (read from its history.csv)."""
    import csv
    from pathlib import Path

    from tfbetavae.runs import read_run_config

    try:
        with open(Path(run_dir) / "history.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        rows = []
    config = read_run_config(run_dir) or {}
    keys = [k for k in ("loss", "reconstruction", "kl", "active_dims", "capacity", "total_correlation", "dip_penalty",
                        "shared_dims")
            if rows and rows[0].get(k) not in (None, "")]
    if keys:
        width = max(len(k) for k in keys)
        print(f"\nTraining summary, whole run ({len(rows)} epochs to step {config.get('steps', '?')}, "
              f"{config.get('precision', 'float32')} precision): first epoch -> last epoch")
        for key in keys:
            print(f"  {key:{width}s} {float(rows[0][key]):10.3f} -> {float(rows[-1][key]):10.3f}")
    print(f"Run folder: {run_dir} (model.keras, checkpoints/, logs/ for TensorBoard)")
