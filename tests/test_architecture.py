"""The import contract: the layers of ARCHITECTURE.md, checked on the source (no cycles, no wrong way).

Every ``import`` in ``src/pytest_zengarden`` counts, at module level or inside a function: a lazy import
that closes a cycle is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "pytest_zengarden"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# What each layer may import (besides itself and ``errors``).  The lab is a neighbour: only the lab
# target, the CLI and the lab itself import it.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "redaction": set(),
    "credentials": {"site", "redaction"},
    "safety": set(),
    "site": {"analysis"},
    "analysis": {"site", "facts"},
    "facts": set(),
    "offline": {"facts", "redaction"},
    "clients": {"facts", "credentials", "redaction"},
    "probes": {"analysis", "site", "facts"},
    "checks": {"analysis", "site", "facts", "probes"},
    "desired": {"site", "analysis", "facts"},
    "provision": {"site", "facts", "desired", "clients", "credentials", "redaction", "targets", "outcomes"},
    "targets": {"site", "facts", "clients", "offline", "probes", "credentials", "safety", "lab"},
    "outcomes": set(),
    "plugin": {
        "outcomes",
        "site",
        "facts",
        "analysis",
        "checks",
        "probes",
        "targets",
        "credentials",
        "redaction",
        "provision",
    },
    "cli": {"site", "facts", "analysis", "checks", "offline", "lab", "targets", "credentials", "desired"},
    "lab": {
        "site",
        "facts",
        "analysis",
        "desired",
        "probes",
        "safety",
        "offline",
        "clients",
        "credentials",
        "provision",
    },
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, strings: bool = False) -> set[str]:
    """Every pytest_zengarden module ``path`` imports, resolved to absolute names."""
    mod = _module_name(path)
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if _exists(full) else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            # ``python -m pytest_zengarden.lab.probe`` in a command line is a dependency all the same.
            name = node.value.split()[0] if node.value.strip() else ""
            if name.startswith(PACKAGE + ".") and _exists(name):
                out.add(name)
    return out


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (SRC / rel).with_suffix(".py").exists() or (SRC / rel / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    """Module -> modules it imports, with the package ``__init__`` each import runs first.

    Importing ``a.b.c`` from outside ``a.b`` executes ``a.b``'s ``__init__`` before ``c``: a package
    whose ``__init__`` imports eagerly can close a cycle that no single ``import`` line shows.
    """
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        mod = _module_name(path)
        own = _ancestors(mod) | {mod}
        deps: set[str] = set()
        for dep in _imports(path):
            deps.add(dep)
            deps.update(a for a in _ancestors(dep) if a not in own and a != PACKAGE)
        graph[mod] = deps
    return graph


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_layers_import_only_what_the_architecture_allows() -> None:
    wrong = []
    # Module names in strings count here (a ``-m`` command line), not in the cycle check (logger names).
    graph = {_module_name(p): _imports(p, strings=True) for p in SRC.rglob("*.py")}
    for mod, deps in sorted(graph.items()):
        layer = _layer(mod)
        allowed = ALLOWED.get(layer)
        if allowed is None:
            continue  # the package __init__
        for dep in sorted(deps):
            other = _layer(dep)
            if other in (layer, "errors", "__init__"):
                continue
            if other == "lab" and mod not in (f"{PACKAGE}.targets.lab",) and layer not in ("cli", "lab"):
                wrong.append(f"{mod} imports {dep} (only the lab target and the CLI may import the lab)")
            elif other not in allowed:
                wrong.append(f"{mod} imports {dep} ({layer} may import {sorted(allowed) or 'nothing'})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles() -> None:
    graph = _graph()
    # Edges to a package mean its __init__; importing a submodule runs its package's __init__ first.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep == node or dep not in graph:
                continue
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_checks_and_desired_state_are_independent() -> None:
    """Provisioning is never graded by its own generator: neither imports the other."""
    graph = _graph()
    for mod, deps in graph.items():
        if _layer(mod) == "desired":
            assert not [d for d in deps if _layer(d) == "checks"], mod
        if _layer(mod) == "checks":
            assert not [d for d in deps if _layer(d) == "desired"], mod


@pytest.mark.parametrize("target", ["offline=fixtures/recorded", "live"])
def test_the_plugin_outside_lab_mode_never_imports_the_lab(target: str) -> None:
    code = (
        "import sys\n"
        "import pytest_zengarden.plugin, pytest_zengarden.targets\n"
        "from pytest_zengarden.site.loader import load_site\n"
        "from pytest_zengarden.targets import TargetSpec, make_target\n"
        "site = load_site('fixtures/sites/zengarden.yaml')\n"
        f"make_target(TargetSpec.parse({target!r}), site).close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('pytest_zengarden.lab')))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_module_imports_first() -> None:
    """Each module imports on its own, first, in a fresh module table (what a user's first import does)."""
    code = (
        "import importlib, sys\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('pytest_zengarden')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    modules = sorted(m for m in _graph() if not m.endswith("__main__"))
    out = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
