"""tfbetavae benchmark: training, fit path and precision, independent runs, matmul peak and FLOPs, studies and
tuning, data pipeline, metric evaluation, SavedModel serving and clients, the training comparison under two CPU
instruction sets, and an op-by-op profile (see docs/performance.md).

    python scripts/bench.py                          # every default section, writes bench_results.json
    python scripts/bench.py --quick --json x.json    # smoke run (tiny repetition counts)
    python scripts/bench.py --sections isa,profile   # issue #33: the AVX2 gap and where it comes from
    python scripts/bench.py --investigate            # also the experiments behind docs/performance.md

One module a section (``training``, ``fit``, ``networks``, ``independent``, ``study``, ``tune``, ``data``,
``metric``, ``serving``, ``clients``, ``isa``, ``op_profile``), each with ``run(context) -> dict`` (what it adds to
the results); ``measure`` (timing and the one summary of repetitions), ``flops``, ``models`` (the library's models
as users get them), ``torch_model`` (the PyTorch trainer), ``children`` (child processes under other settings),
``machine`` (the CPU and its vector units), ``report`` (targets, the Markdown table, the JSON file) and
``__main__`` (the command line). ``python scripts/bench.py`` is a thin entry point that runs ``__main__``.

Every throughput is the median over repetitions after a warm-up; the repetitions of the things that are
compared with each other are interleaved round by round, so that a machine shared with other work slows them
alike and their ratios stay meaningful. The load average is recorded before and after. No number here is
asserted by any test.
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# libgomp's default spin-waiting makes PyTorch's OpenMP threads crawl on a machine shared with other
# processes (measured: 24 images/s spinning vs 253 passive at 2 threads under load 7). Passive waiting is
# the generous choice for the baseline; TensorFlow does not use OpenMP, so this only affects PyTorch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))
