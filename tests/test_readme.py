"""The README's quick start runs as written (the other examples are covered by the tests of their modules)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_quick_start_runs_as_written(tmp_path):
    quick_start = _python_blocks()[0]
    assert "tb.BetaVAE" in quick_start
    out = subprocess.run([sys.executable, "-c", quick_start], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(8, 10) (10,) (64, 64, 1)" in out.stdout
