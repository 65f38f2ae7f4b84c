"""The data settings of a command that opens a trained model (``evaluate``, ``traverse``): what the flags say, else
what the run's ``config.json`` says, else what the model itself needs.

A run trained on a folder of RGB images must be evaluated and drawn on those images without the user repeating
``--data``, ``--image-size`` and ``--channels``; the run folder already records them (``data`` is written by
``tfbetavae train``, the image shape is the model's ``input_shape``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA = "dsprites"


def omit_data_defaults(parser: argparse.ArgumentParser) -> None:
    """Makes ``--data``, ``--image-size`` and ``--channels`` default to None, so an omitted flag can be told apart."""
    parser.set_defaults(data=None, image_size=None, channels=None)


def fill_data_arguments(args: argparse.Namespace, model_path, image_shape) -> str | None:
    """Sets every omitted data flag of ``args`` in place; returns where the data came from (for messages).

    ``image_shape`` is the opened model's ``(H, W, C)``: the fallback for the image size and channels of a model
    that has no run config (a ``.keras`` file or an export), since it can only read images of that shape.
    """
    from tfbetavae.loading import locate, run_config  # noqa: PLC0415

    location = locate(model_path)
    config = run_config(location.given) if location.kind in ("run", "checkpoint") else None
    config = config or {}
    shape = (config.get("model") or {}).get("input_shape") or (None if image_shape is None else list(image_shape))
    origin = None
    if args.data is None:
        if config.get("data"):
            args.data = str(config["data"])
            origin = f"{Path(location.given) / 'config.json'}"
        else:
            args.data = DEFAULT_DATA
    if args.image_size is None:
        args.image_size = f"{shape[0]},{shape[1]}" if shape else "64,64"
    if args.channels is None:
        args.channels = int(shape[2]) if shape else 1
    return origin


def resolve_with_origin(args: argparse.Namespace, origin: str | None):
    """``build_source(args)``, with an error that names the run config when the data came from there."""
    from tfbetavae.cli.train_command import build_source  # noqa: PLC0415

    try:
        return build_source(args)
    except FileNotFoundError as error:
        if origin is None:
            raise
        raise FileNotFoundError(f"{error} (the data named in {origin}; give --data)") from None
