import sys

from tfbetavae.cli import main

sys.exit(main())
