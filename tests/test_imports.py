"""Imports point down: the library ``emotion/`` imports none of ``web/``, ``train/`` or ``bench/``; ``train/`` imports
no bench; ``web/`` imports neither training nor benches; and no module of the repo imports itself round a cycle.

Every ``.py`` under ``emotion/``, ``web/``, ``train/``, ``bench/`` and ``app.py`` is parsed with ``ast`` (nothing is
imported or run). Every import counts: at module level, inside functions and classes, under ``if``/``try``, and
``importlib.import_module("literal")``. The checker is tested on small synthetic trees first, so it can fail.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("emotion", "web", "train", "bench")
SCRIPTS = ("app.py",)
# A top-level package → the top-level packages it must never import.
FORBIDDEN = {
    "emotion": {"web", "train", "bench"},  # the library stands alone
    "train": {"bench"},  # training never depends on a benchmark
    "web": {"train", "bench"},  # the service runs without training code or benches
}


# ---------------------------------------------------------------- the checker


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for the packages and scripts the rules cover."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    for script in SCRIPTS:
        if (root / script).is_file():
            out[Path(script).stem] = root / script
    return out


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import …`` written in ``module``."""
    if not level:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Every dotted name the source imports; ``from pkg import thing`` gives ``pkg.thing`` (a module, or a name
    defined in ``pkg``: ``import_graph`` resolves it to the longest prefix that is a module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):  # ``from pkg import x``: the module pkg.x if there is one, else pkg
            base = _absolute(module, is_package, node.level, node.module)
            names.update(base if a.name == "*" else f"{base}.{a.name}" if base else a.name for a in node.names)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            names.add(node.args[0].value)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the repo modules it imports. ``import a.b.c`` and ``from a.b import c`` point at the deepest repo
    module named (``a.b.c`` when it is a module, else ``a.b``), not at the packages above it: Python runs those
    ``__init__`` files first, but for a package's own modules that ``__init__`` is already loading, and counting
    it would make every package a cycle. ``from pkg import name`` of a name defined in ``pkg/__init__.py`` does
    point at ``pkg``."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges = set()
        for name in imported_names(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            parts = name.split(".")
            for n in range(len(parts), 0, -1):  # the longest prefix that is a repo module
                target = ".".join(parts[:n])
                if target in files:
                    if target != module:
                        edges.add(target)
                    break
        graph[module] = edges
    return graph


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target.split(".")[0] in FORBIDDEN.get(module.split(".")[0], ()):
                out.append(f"{module} imports {target}")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted; self-imports are not edges."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # recursion depth ≤ the number of modules (~100)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


# ---------------------------------------------------------------- the checker on synthetic trees


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_checker_finds_wrong_way_imports_anywhere_in_a_file(tmp_path):
    root = _tree(tmp_path, {
        "emotion/__init__.py": "from emotion.core import run\n",
        "emotion/core.py": "import os\n\ndef run():\n    from web.config import Config  # inside a function\n",
        "emotion/cli.py": "try:\n    import bench.tool\nexcept ImportError:\n    pass\n",
        "emotion/lazy.py": "import importlib\n\ndef f():\n    return importlib.import_module('train.data')\n",
        "web/__init__.py": "",
        "web/config.py": "from emotion import run\n",
        "train/__init__.py": "",
        "train/data.py": "class A:\n    def f(self):\n        from bench import tool\n",
        "bench/__init__.py": "",
        "bench/tool.py": "from train.data import A\nfrom emotion.core import run\n",
        "app.py": "import web.config\nimport emotion\n",
    })
    graph = import_graph(root)
    assert graph["app"] == {"web.config", "emotion"}
    assert graph["web.config"] == {"emotion"} and graph["emotion"] == {"emotion.core"}
    assert graph["train.data"] == {"bench.tool"}  # ``from bench import tool`` names the module bench.tool
    assert layer_violations(graph) == ["emotion.cli imports bench.tool", "emotion.core imports web.config",
                                       "emotion.lazy imports train.data", "train.data imports bench.tool"]
    assert cycles(graph) == [["bench.tool", "train.data"],  # training ↔ bench
                             ["emotion", "emotion.core", "web.config"]]  # library → web → library


def test_checker_finds_cycles_through_relative_imports(tmp_path):
    root = _tree(tmp_path, {
        "emotion/__init__.py": "",
        "emotion/a.py": "from .b import x\n",
        "emotion/b.py": "def g():\n    from . import c\n",
        "emotion/c.py": "from emotion import a\n",
        "emotion/sub/__init__.py": "from ..a import y\nfrom . import leaf\n",
        "emotion/sub/leaf.py": "import emotion.sub\n",  # its own package, while that package is loading: a cycle too
        "emotion/d.py": "import emotion.d\n",  # itself: not an edge
    })
    graph = import_graph(root)
    assert graph["emotion.a"] == {"emotion.b"} and graph["emotion.b"] == {"emotion.c"}
    assert graph["emotion.sub"] == {"emotion.a", "emotion.sub.leaf"} and graph["emotion.d"] == set()
    assert layer_violations(graph) == []
    assert cycles(graph) == [["emotion.a", "emotion.b", "emotion.c"], ["emotion.sub", "emotion.sub.leaf"]]


def test_checker_passes_a_clean_tree(tmp_path):
    root = _tree(tmp_path, {
        "emotion/__init__.py": "from emotion.core import run\n",
        "emotion/core.py": "import numpy\n",
        "web/__init__.py": "", "web/ui.py": "from emotion import run\n",
        "train/__init__.py": "", "train/fit.py": "from emotion.core import run\n",
        "bench/__init__.py": "", "bench/speed.py": "from train.fit import run\nimport web.ui\n",
        "app.py": "from web import ui\n",
    })
    graph = import_graph(root)
    assert layer_violations(graph) == [] and cycles(graph) == []
    assert graph["bench.speed"] == {"train.fit", "web.ui"} and graph["app"] == {"web.ui"}


# ---------------------------------------------------------------- the repo itself


def test_the_repo_is_covered():
    files = module_files(ROOT)
    assert {"emotion", "emotion.__main__", "emotion.bulk", "emotion.bulk_ray", "web.config", "train.dev_crops",
            "bench.real_photos", "app"} <= set(files)
    assert len(files) > 60


def test_imports_point_down():
    assert layer_violations(import_graph(ROOT)) == []


def test_no_import_cycles():
    assert cycles(import_graph(ROOT)) == []
