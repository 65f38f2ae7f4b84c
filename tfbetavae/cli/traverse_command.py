"""``tfbetavae traverse``: a latent traversal picture (and optionally an animated GIF) of a trained model.

    tfbetavae traverse --model PATH --out traversal.png [--data dsprites] [--seed 0] [--limits -3,3]
                       [--steps 10] [--dims K] [--num-images 64] [--scale 1] [--gif traversal.gif]

PATH is anything tfbetavae.load opens: a .keras file, a training run folder, or a SavedModel version or base
folder (its highest version); see docs/models.md. Omitted --data, --image-size and --channels come from a run
folder's config.json (else dsprites at the model's image shape). The seed image is the
first of ``--num-images`` images drawn from the data with ``--seed``; the KL that orders the rows (and marks
inactive dimensions) is averaged over all of them. Prints the written path(s).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from tfbetavae.cli import int_at_least
from tfbetavae.cli.run_settings import fill_data_arguments, omit_data_defaults, resolve_with_origin
from tfbetavae.cli.train_command import add_data_arguments


def _limits(text: str) -> tuple[float, float]:
    parts = text.replace(":", ",").split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be LOW,HIGH (e.g. -3,3), got {text!r}") from None
    if not low < high:
        raise argparse.ArgumentTypeError(f"LOW must be below HIGH, got {text!r}")
    return low, high


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "traverse",
        help="draw a latent traversal of a trained model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, help=".keras file, training run folder, or SavedModel version or base folder"
    )
    parser.add_argument("--out", default="traversal.png", help="PNG to write (default: traversal.png)")
    add_data_arguments(parser)
    omit_data_defaults(parser)  # a run folder's config.json supplies the omitted ones
    parser.add_argument("--seed", type=int, default=0, help="seed of the images drawn from the data")
    parser.add_argument("--limits", type=_limits, default=(-3.0, 3.0), help="LOW,HIGH of the sweep (default -3,3)")
    parser.add_argument("--relative", action="store_true", help="sweep mean+LOW .. mean+HIGH instead of LOW .. HIGH")
    parser.add_argument("--steps", type=int_at_least(2), default=10, help="columns (values of the sweep)")
    parser.add_argument("--dims", type=int_at_least(1), default=None, help="only the K dimensions of highest KL")
    parser.add_argument("--num-images", type=int_at_least(1), default=64, help="images to average the KL over")
    parser.add_argument("--scale", type=int_at_least(1), default=1, help="integer upscaling of each image")
    parser.add_argument("--gif", default=None, help="also write an animated GIF of the traversal here")
    parser.set_defaults(run=run)
    # argparse before Python 3.13 reads "-3,3" as an unknown option, so `--limits -3,3` would fail; let
    # this parser treat "-number[,number]" as a value (the command has no options that look like numbers).
    if hasattr(parser, "_negative_number_matcher"):
        parser._negative_number_matcher = re.compile(r"^-\d*\.?\d+([,:]-?\d*\.?\d+)?$")
    return parser


def _images(args, image_shape, origin: str | None = None):
    """``args.num_images`` images from ``--data``, drawn with ``--seed``."""
    import numpy as np

    from tfbetavae.data.sources import has_factors

    source, shape = resolve_with_origin(args, origin)
    if image_shape is not None and tuple(shape) != tuple(image_shape):
        raise ValueError(f"the data {args.data!r} has images of shape {tuple(shape)} but the model expects {tuple(image_shape)}")
    if has_factors(source):
        return source.sample(args.num_images, np.random.default_rng(args.seed))[1]
    dataset = source.shuffle(max(args.num_images * 4, 256), seed=args.seed).take(args.num_images)
    images = [np.asarray(item[0] if isinstance(item, tuple) else item) for item in dataset.as_numpy_iterator()]
    if not images:
        raise ValueError(f"the data {args.data!r} holds no images")
    return np.stack(images).astype(np.float32)


def run(args) -> int:
    from tfbetavae import viz
    from tfbetavae.loading import load

    model = load(args.model)
    origin = fill_data_arguments(args, args.model, model.image_shape)
    images = _images(args, model.image_shape, origin)
    title = f"{Path(args.model).name}: traversal of image 0 (seed {args.seed}), KL over {len(images)} images"
    dims = None if args.dims is None else min(args.dims, model.latent_dim)
    path = viz.save_traversal(
        model, images, args.out, limits=args.limits, steps=args.steps, dims=dims, relative=args.relative,
        scale=args.scale, title=title,
    )
    print(path)
    if args.gif:
        gif = viz.save_traversal_gif(
            model, images[0], args.gif, limits=args.limits, steps=max(args.steps, 2), dims=dims, reference=images,
            relative=args.relative, scale=args.scale,
        )
        print(gif)
    return 0
