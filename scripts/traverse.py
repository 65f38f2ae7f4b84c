"""`tfbetavae traverse` as a script: `python scripts/traverse.py --help`."""

import sys

from tfbetavae.cli import main

if __name__ == "__main__":
    sys.exit(main(["traverse", *sys.argv[1:]]))
