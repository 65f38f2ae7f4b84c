"""``tfbetavae export``: a trained model (a training run or a .keras file) to a served SavedModel version.

    tfbetavae export --run runs/NAME [--name betavae] [--base-dir exported_models] [--version N] [--overwrite]
    tfbetavae export --model PATH.keras ...

writes BASE_DIR/NAME/VERSION/ (see tfbetavae.export) and prints that path on stdout. The model is opened with
``tfbetavae.load`` (see docs/models.md): same paths, same errors as every other command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfbetavae.cli import int_at_least


def _folder_name(text: str) -> str:
    if not text or text in (".", "..") or "/" in text or "\\" in text or text.isdigit():
        raise argparse.ArgumentTypeError(f"must be a plain, non-numeric folder name, got {text!r}")
    return text


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Adds the ``export`` subcommand to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model as a TensorFlow Serving SavedModel version",
        description=(
            "Writes BASE_DIR/NAME/VERSION/ with the SavedModel (signatures encode, decode, reconstruct, sample), "
            "model.keras and model_card.json, atomically, and prints the path."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--run", dest="run_dir", type=Path, metavar="RUN", help="training run folder holding model.keras and config.json"
    )
    source.add_argument("--model", type=Path, metavar="PATH.keras", help="a .keras file (or anything tfbetavae.load opens)")
    parser.add_argument("--name", type=_folder_name, default="betavae", help="model name (default: betavae)")
    parser.add_argument(
        "--base-dir", type=Path, default=Path("exported_models"), help="folder of served models (default: exported_models)"
    )
    parser.add_argument("--version", type=int_at_least(1), default=None, help="version number (default: next free one)")
    parser.add_argument("--overwrite", action="store_true", help="replace VERSION if it exists")
    parser.add_argument(
        "--tflite", action="store_true", help="also write model.tflite (LiteRT: encode, decode, reconstruct; built-in ops)"
    )
    parser.set_defaults(run=run)  # the registry calls args.run(args)
    return parser


def _training_info(location) -> dict:
    """What the model card records about where the model came from (a run's config.json when there is one)."""
    from tfbetavae.loading import run_config  # noqa: PLC0415

    if location.kind == "keras":
        return {"source": str(location.path)}
    config = run_config(location.given)
    if config is None:
        print(f"warning: {location.given / 'config.json'} not found; the model card will lack training settings",
              file=sys.stderr)
    info = {**(config or {}), "run": str(location.given)}
    if location.kind == "checkpoint":
        info["checkpoint"] = location.path.relative_to(location.given).as_posix()  # an unfinished run: the card says so
    return info


def run(args: argparse.Namespace) -> int:
    """Loads the model, exports it, prints the version folder. Returns 0, or 2 on a user error."""
    source = args.run_dir if args.run_dir is not None else args.model
    try:
        from tfbetavae.export import export_saved_model  # noqa: PLC0415 - heavy imports only once the arguments are known
        from tfbetavae.loading import load, locate  # noqa: PLC0415

        model = load(source)  # first: a damaged file gets the same message as in every other command
        location = locate(source)
        if location.kind == "saved_model":
            raise ValueError(
                f"{source}: already a SavedModel export (expected a .keras file or a training run folder to export)"
            )
        path = export_saved_model(
            model,
            base_dir=args.base_dir / args.name,
            version=args.version,
            overwrite=args.overwrite,
            training_info=_training_info(location),
            tflite=args.tflite,
        )
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as error:
        print(f"tfbetavae export: error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0
