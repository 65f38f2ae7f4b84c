"""tfbetavae benchmark: ``python scripts/bench.py [--quick] [--sections ...]`` (see docs/performance.md).

The benchmark lives in the package ``scripts/bench/`` (one module a section); this file only runs its command line
with the same arguments, so every documented command keeps working.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/, where the package is

from bench.__main__ import main  # noqa: E402

if __name__ == "__main__":
    main()
