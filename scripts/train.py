"""`tfbetavae train` as a script: `python scripts/train.py --help`."""

import sys

from tfbetavae.cli import main as cli_main


def main(argv: list[str] | None = None) -> int:
    """`tfbetavae train ARGS`; ARGS default to the command line's."""
    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
