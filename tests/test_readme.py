"""The README's and the docs' examples run as written.

The README's quick start runs in a fresh process. Every other ``python`` block, and every ``bash`` block made of
``tfbetavae …`` commands only, runs in order, page by page, in a temporary folder (a page's blocks share their
variables and files). A block that cannot run here carries ``<!-- docs-test: skip — reason -->`` on the line
before it; an unmarked block the test cannot run fails it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tfbetavae.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Pages whose authors test their own examples (written alongside other features), and fragments ("_*.md").
OWN_TESTS = {"studies.md", "models.md"}
PAGES = [README, *(p for p in sorted((ROOT / "docs").glob("*.md")) if p.name not in OWN_TESTS and not p.name.startswith("_"))]
RUNNABLE = {"python", "bash"}
MARKER = re.compile(r"<!--\s*docs-test:\s*skip\s*(?:—|-|:)?\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass
class Block:
    page: str
    line: int
    language: str
    code: str
    skip: str | None  # the marker's reason, or None

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a page, each with the skip marker on the line before it (if any)."""
    lines = path.read_text().splitlines()
    found, pending, i = [], None, 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].rstrip() != "```":
                body.append(lines[i])
                i += 1
            found.append(Block(path.name, start, fence.group(1), "\n".join(body) + "\n", pending))
            pending = None
        elif MARKER.search(lines[i]):
            pending = MARKER.search(lines[i]).group(1)
        elif lines[i].strip():
            pending = None  # a marker belongs to the block right after it
        i += 1
    return found


def commands(block: Block) -> list[list[str]]:
    """The ``tfbetavae`` command lines of a bash block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", block.code)
    argvs = [shlex.split(line, comments=True) for line in joined.splitlines()]
    argvs = [argv for argv in argvs if argv]
    others = [argv[0] for argv in argvs if argv[0] != "tfbetavae"]
    assert not others, (
        f"{block.where}: a bash block running {others} cannot run in the docs test; "
        "mark it with <!-- docs-test: skip — reason --> or keep it to tfbetavae commands"
    )
    return argvs


def _quick_start() -> Block:
    return next(b for b in blocks(README) if b.language == "python")


def test_quick_start_runs_as_written(tmp_path):
    quick_start = _quick_start().code
    assert "tb.BetaVAE" in quick_start
    out = subprocess.run([sys.executable, "-c", quick_start], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(8, 10) (10,) (64, 64, 1)" in out.stdout


def test_every_skip_marker_gives_a_reason_and_every_block_a_language():
    for page in PAGES:
        text = page.read_text()
        for marker in MARKER.finditer(text):
            assert len(marker.group(1)) >= 10, f"{page.name}: a skip marker without its reason: {marker.group(0)}"
        for block in blocks(page):
            assert block.language, f"{block.where}: name the block's language (python, bash, text, json, ...)"


def test_readme_is_a_front_page():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        if Path(link).name not in OWN_TESTS:  # pages still being written elsewhere
            assert (ROOT / link).exists(), f"README links to a missing page: {link}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran, skipped = [], []
    for block in blocks(page):
        if block.language not in RUNNABLE:
            continue
        if block.skip is not None:
            skipped.append(block.where)
            continue
        if page == README and block.line == _quick_start().line:
            continue  # test_quick_start_runs_as_written runs it in a fresh process
        if block.language == "python":
            exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102 - the docs' own examples
        else:
            for argv in commands(block):
                assert main(argv[1:]) == 0, f"{block.where}: {shlex.join(argv)} failed: {capsys.readouterr().err}"
        ran.append(block.where)
    with capsys.disabled():
        print(f"\n{page.name}: ran {len(ran)} blocks, skipped {len(skipped)} marked ones")
