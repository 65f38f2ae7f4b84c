"""Every dotted name ``tfbetavae.…`` that README.md and docs/*.md write, in prose as in code, resolves after
``import tfbetavae`` alone, by attribute access, in one fresh process; so does every subpackage and module of
the package, and ``dir(tfbetavae)`` lists them while ``import tfbetavae`` itself imports nothing else. The old
names of the docs' "Old names" tables still resolve, with their DeprecationWarning.

Which words are names: a word made of letters, digits and ``_./-`` that starts with ``tfbetavae.``, less the
full stop that ends a sentence. A word holding ``/`` or ``-`` is a path or a file name (``tfbetavae/viz.py``,
``tfbetavae.egg-info``), and a command (``tfbetavae study …``) has no dot after ``tfbetavae``: neither is a
Python name, so neither is collected.
"""

from __future__ import annotations

import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WORD = re.compile(r"[\w./-]+")
NAME = re.compile(r"tfbetavae(\.[A-Za-z_]\w*)+")
OLD_NAMES_HEADING = re.compile(r"^#+\s+Old names\s*$", re.IGNORECASE)


def documented_names(text: str) -> set[str]:
    """The dotted names ``tfbetavae.…`` of a page (see the module docstring for the rule)."""
    words = (word.rstrip(".") for word in WORD.findall(text))
    return {word for word in words if NAME.fullmatch(word)}


def old_names(text: str) -> set[str]:
    """The names in the first column of the tables under an "Old names" heading."""
    found, inside = set(), False
    for line in text.splitlines():
        if line.startswith("#"):
            inside = bool(OLD_NAMES_HEADING.match(line))
        elif inside and line.startswith("|") and not set(line) <= set("|- :"):
            found |= documented_names(line.split("|")[1])
    return found


def test_the_rule_takes_names_and_leaves_paths_and_commands():
    text = ("Call `tfbetavae.metrics.evaluate(model, data)` or tfbetavae.viz.save_traversal. See tfbetavae.load.\n"
            "Edit tfbetavae/studies/reporting.py, not build/tfbetavae.x; run `tfbetavae study --report DIR`;\n"
            "delete tfbetavae.egg-info/ and `python -m tfbetavae.studies.worker DIR`.")
    assert documented_names(text) == {
        "tfbetavae.metrics.evaluate", "tfbetavae.viz.save_traversal", "tfbetavae.load", "tfbetavae.studies.worker",
    }
    table = "## Old names\n\n| old | now |\n| --- | --- |\n| `tfbetavae.a(path)`, `tfbetavae.b.c` | `tfbetavae.d` |\n"
    assert old_names(table + "## Next\n\n| `tfbetavae.e` | x |\n") == {"tfbetavae.a", "tfbetavae.b.c"}


# Run in a fresh interpreter: `import tfbetavae` alone, then walk the attributes of every name. An old name warns
# when looked up (a module attribute) or when called (a function or class): it is called too, with a path that
# does not exist, so the call fails after its warning.
WALK = r"""
import json, sys, warnings
request = json.load(sys.stdin)
import tfbetavae
report = {"loaded": sorted(m for m in sys.modules if m == "tensorflow" or m.startswith(("tfbetavae", "tensorflow.")))}
report["dir"] = dir(tfbetavae)
report["loaded_after_dir"] = sorted(m for m in sys.modules if m.startswith("tfbetavae"))
report["errors"], report["warnings"] = {}, {}

def walk(name):
    value = tfbetavae
    for part in name.split(".")[1:]:
        value = getattr(value, part)
    return value

for name in request["names"]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = walk(name)
        except Exception as error:
            report["errors"][name] = f"{type(error).__name__}: {error}"
            continue
        if name in request["old"]:
            try:
                value("/nonexistent/tfbetavae-docs-test")
            except Exception:
                pass
    report["warnings"][name] = [f"{w.category.__name__}: {w.message}" for w in caught]
print("REPORT" + json.dumps(report))
"""


def _submodules() -> set[str]:
    import tfbetavae

    return {info.name for info in pkgutil.iter_modules(tfbetavae.__path__) if not info.name.startswith("_")}


def _package_names() -> set[str]:
    """``tfbetavae.<module>`` for every public module and subpackage, ``tfbetavae.<name>`` for every public name."""
    import tfbetavae

    return {f"tfbetavae.{name}" for name in (*_submodules(), *tfbetavae.__all__)}


@pytest.fixture(scope="module")
def walked():
    """Every documented name, every old name and every module and public name of the package, resolved in one
    fresh process."""
    texts = {page.name: page.read_text(encoding="utf-8") for page in PAGES}
    documented = {name: page for page, text in texts.items() for name in documented_names(text)}
    old = set().union(*(old_names(text) for text in texts.values()))
    names = sorted({*documented, *old, *_package_names()})
    out = subprocess.run([sys.executable, "-c", WALK], input=json.dumps({"names": names, "old": sorted(old)}),
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return documented, old, json.loads(out.stdout.split("REPORT", 1)[1])


def test_import_tfbetavae_loads_nothing_else_and_dir_lists_every_module(walked):
    _, _, report = walked
    assert report["loaded"] == ["tfbetavae"]  # no TensorFlow, no submodule
    assert report["loaded_after_dir"] == ["tfbetavae"]  # dir() finds the modules without importing them
    import tfbetavae

    assert _submodules() >= {"metrics", "viz", "export", "data", "studies", "tuning", "loading", "training", "model",
                             "objectives", "precision", "reference", "networks", "cli"}
    assert set(report["dir"]) >= _submodules() | set(tfbetavae.__all__)


def test_every_module_and_public_name_resolves_from_the_package_alone(walked):
    _, _, report = walked
    assert not {name: error for name, error in report["errors"].items() if name in _package_names()}


def test_every_name_the_docs_write_resolves_from_the_package_alone(walked):
    documented, _, report = walked
    assert {"tfbetavae.metrics.evaluate", "tfbetavae.viz.save_traversal"} <= set(documented)  # the README's own
    failures = [f"{documented[name]}: {name}: {error}" for name, error in report["errors"].items() if name in documented]
    assert not failures, "names the docs write that do not resolve:\n" + "\n".join(failures)


def test_old_names_resolve_and_warn(walked):
    _, old, report = walked
    assert len(old) >= 4, old  # the "Old names" table of docs/models.md was found
    for name in sorted(old):
        assert name not in report["errors"], report["errors"][name]
        warned = [w for w in report["warnings"][name] if w.startswith("DeprecationWarning") and "deprecated" in w
                  and name.rsplit(".", 1)[1] in w]
        assert warned, f"{name} gave no DeprecationWarning naming it: {report['warnings'][name]}"
