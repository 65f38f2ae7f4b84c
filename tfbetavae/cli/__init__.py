"""The ``tfbetavae`` command line: one module ``<name>_command.py`` per subcommand, found automatically.

Building the parser imports no TensorFlow, Keras or NumPy (command modules import those inside ``run``), so
``--help`` and ``--version`` answer at once. Running a command imports TensorFlow first, with file descriptor 2
pointed away: TensorFlow's C++ start-up lines (CUDA drivers, oneDNN) are written before absl reads
``TF_CPP_MIN_LOG_LEVEL``, so the variable alone cannot silence them. ``--verbose`` keeps them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys

from tfbetavae import __version__
from tfbetavae.progress import import_tensorflow_quietly, native_stderr_hidden  # noqa: F401 - their old home

_native_stderr_hidden = native_stderr_hidden  # its old name

VERBOSE_HELP = "show TensorFlow's start-up and C++ log lines (hidden by default)"


def int_at_least(minimum: int):
    """An argparse ``type`` for integers >= ``minimum``, with a readable error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _command_modules():
    package = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.endswith("_command"):
            yield importlib.import_module(f"{__name__}.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every ``*_command`` module's subcommand; ``--verbose`` works before or after the command."""
    parser = argparse.ArgumentParser(prog="tfbetavae", description="β-VAE training, evaluation and export.")
    parser.add_argument("--version", action="version", version=f"tfbetavae {__version__}")
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in _command_modules():
        module.add_parser(subparsers)
    for subparser in subparsers.choices.values():
        if "--verbose" not in subparser._option_string_actions:
            # SUPPRESS: an absent sub-command flag must not overwrite `tfbetavae --verbose CMD`.
            subparser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


class _CurrentStderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives (callers and tests may swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def show_progress_logs() -> None:
    """Shows the library's INFO messages (e.g. "resuming RUN from step S of N") on stderr, once."""
    logger = logging.getLogger("tfbetavae")
    logger.setLevel(logging.INFO)
    if not any(isinstance(handler, _CurrentStderrHandler) for handler in logger.handlers):
        logger.addHandler(_CurrentStderrHandler())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    show_progress_logs()
    try:
        import_tensorflow_quietly(verbose, threads=getattr(args, "threads", None),
                                  fresh_context=getattr(args, "strategy", None) == "multiworker")
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, TypeError) as error:
        print(f"tfbetavae {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
