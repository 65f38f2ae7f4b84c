"""`tfbetavae export` as a script: `python scripts/export.py --help`."""

import sys

from tfbetavae.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
