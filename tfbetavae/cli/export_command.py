"""``tfbetavae export``: a trained model (a training run or a .keras file) to a served SavedModel version.

    tfbetavae export --run runs/NAME [--name betavae] [--base-dir exported_models] [--version N] [--overwrite]
    tfbetavae export --model PATH.keras ...

writes BASE_DIR/NAME/VERSION/ (see tfbetavae.export) and prints that path on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfbetavae.cli import int_at_least

RUN_MODEL_FILE = "model.keras"
RUN_CONFIG_FILE = "config.json"


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
    source.add_argument("--model", type=Path, metavar="PATH.keras", help="a saved BetaVAE .keras file")
    parser.add_argument("--name", type=_folder_name, default="betavae", help="model name (default: betavae)")
    parser.add_argument(
        "--base-dir", type=Path, default=Path("exported_models"), help="folder of served models (default: exported_models)"
    )
    parser.add_argument("--version", type=int_at_least(1), default=None, help="version number (default: next free one)")
    parser.add_argument("--overwrite", action="store_true", help="replace VERSION if it exists")
    parser.set_defaults(run=run)  # the registry calls args.run(args)
    return parser


def _read_run(run_dir: Path) -> tuple[Path, dict]:
    if not run_dir.is_dir():
        raise FileNotFoundError(f"training run folder {run_dir} does not exist")
    model_path = run_dir / RUN_MODEL_FILE
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} does not exist: has the run finished training?")
    info: dict = {}
    config_path = run_dir / RUN_CONFIG_FILE
    if config_path.is_file():
        try:
            info = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{config_path} is not valid JSON: {error}") from error
        if not isinstance(info, dict):
            raise ValueError(f"{config_path} must hold a JSON object")
    else:
        print(f"warning: {config_path} not found; the model card will lack training settings", file=sys.stderr)
    return model_path, {**info, "run": str(run_dir)}


def run(args: argparse.Namespace) -> int:
    """Loads the model, exports it, prints the version folder. Returns 0, or 2 on a user error."""
    try:
        if args.run_dir is not None:
            model_path, training_info = _read_run(args.run_dir)
        else:
            model_path, training_info = args.model, {"source": str(args.model)}
            if not model_path.is_file():
                raise FileNotFoundError(f"model file {model_path} does not exist")

        import keras  # noqa: PLC0415 - heavy imports only once the arguments are known

        import tfbetavae.model  # noqa: F401, PLC0415 - registers BetaVAE, Encoder and Decoder for loading
        from tfbetavae.export import export_saved_model  # noqa: PLC0415

        try:
            model = keras.models.load_model(model_path)
        except Exception as error:
            raise ValueError(f"cannot load {model_path} as a Keras model: {error}") from error
        path = export_saved_model(
            model,
            base_dir=args.base_dir / args.name,
            version=args.version,
            overwrite=args.overwrite,
            training_info=training_info,
        )
    except (FileNotFoundError, FileExistsError, ValueError, TypeError) as error:
        print(f"tfbetavae export: error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0
