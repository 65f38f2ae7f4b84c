"""The package's imports follow the layering written in docs/development.md, and no module imports itself back.

Every ``import`` counts, at the top of a module or inside a function: a lazy import that runs back up a floor is
still a dependency the wrong way. A package's ``__init__`` re-exporting its own submodules is not a circle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tfbetavae"
MARKER = "<!-- layers: tests/test_layers.py reads this block -->"


def _block_names() -> list[list[str]]:
    """The names on each floor of the docs' block, as written (``runs``, ``data/``), lowest floor first."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    block = re.search(re.escape(MARKER) + r"\n```text\n(.*?)```", text, re.S)
    assert block, f"docs/development.md lost its layers block ({MARKER})"
    floors = []
    for line in block.group(1).strip().splitlines():
        modules = line.split("#")[0].split()[1:]  # "floor  module module/ ...  # what lives there"
        assert modules, f"a floor without modules: {line!r}"
        floors.append(modules)
    return floors


def _layers() -> dict[str, int]:
    """Module or package name (``runs``, ``data``) -> its floor, from the docs' block (lowest floor first)."""
    return {name.rstrip("/"): number for number, names in enumerate(_block_names()) for name in names}


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules a file imports (``from P import m`` counts as ``P.m`` when ``m`` is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "tfbetavae")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tfbetavae":
            subs = {f"{node.module}.{alias.name}" for alias in node.names} & set(modules)
            found.update(subs or {node.module})
    return found & set(modules)


def _floor(module: str, floors: dict[str, int]) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return floors["tfbetavae"]
    name = parts[1]
    assert name in floors, f"{module} is on no floor of docs/development.md's layers block: add it there"
    return floors[name]


def _graph() -> dict[str, set[str]]:
    modules = _module_names()
    graph = {}
    for name, path in modules.items():
        targets = _imports(path, modules) - {name}
        is_package = path.name == "__init__.py"
        graph[name] = {t for t in targets if not (is_package and t.startswith(name + "."))}  # re-exports
    return graph


def test_no_import_runs_against_the_layers():
    floors = _layers()
    wrong = []
    for module, targets in _graph().items():
        for target in targets:
            if _floor(target, floors) > _floor(module, floors):
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports that run back up a floor (docs/development.md):\n" + "\n".join(sorted(wrong))


def test_no_import_circle():
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []
    circles = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_check_finds_what_it_looks_for(tmp_path):
    """The parser sees lazy imports inside functions, and the floors put training above loading."""
    source = tmp_path / "example.py"
    source.write_text("def f():\n    from tfbetavae.training import train\n    import tfbetavae.runs\n")
    assert _imports(source, _module_names()) == {"tfbetavae.training", "tfbetavae.runs"}
    floors = _layers()
    assert floors["runs"] < floors["model"] < floors["loading"] < floors["training"] < floors["metrics"] < floors["cli"]


def test_the_block_writes_packages_as_packages():
    """``name/`` is a package folder and a bare ``name`` a module file (``tfbetavae`` the package itself), so the map
    still tells the truth after a module becomes a package (viz.py -> viz/)."""
    wrong = []
    for name in (name for names in _block_names() for name in names):
        is_package = (PACKAGE / name.rstrip("/") / "__init__.py").is_file()
        is_module = (PACKAGE / f"{name}.py").is_file() or name == "tfbetavae"
        if name.endswith("/") and not is_package:
            wrong.append(f"{name} is written as a package, but tfbetavae/{name} has no __init__.py")
        elif not name.endswith("/") and not is_module:
            wrong.append(f"{name} is a package: write it {name}/" if is_package else f"{name} is no module of tfbetavae")
    assert not wrong, "docs/development.md's layers block:\n" + "\n".join(wrong)
