"""The layer rule of nixenv's packages, checked on the source (README, "Code layout").

    support < config < {languages, secrets} < {nix, direnv} < {services, compose} < app < cli

A module may import from its own package and from packages of lower layers only; packages of
one layer do not import each other; there is no import cycle between modules; imports are at
the top of modules, except in the CLI (which defers them for start-up time) and __main__.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "nixenv"
LAYERS = [("support",), ("config",), ("languages", "secrets"), ("nix", "direnv"), ("services", "compose"),
          ("app",), ("cli",)]
LAYER_OF = {pkg: index for index, names in enumerate(LAYERS) for pkg in names}
LAZY_ALLOWED = ("cli", "__main__")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported nixenv module, line, at module top level) for each import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    # `if TYPE_CHECKING:` imports are for annotations only: at the top, never run
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            top |= {id(child) for child in node.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nixenv"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                target = candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or \
                    (PACKAGE.parent / candidate.replace(".", "/")).is_dir() else node.module
                found.append((target, node.lineno, id(node) in top))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nixenv"):
                    found.append((alias.name, node.lineno, id(node) in top))
    return found


def graph() -> dict[str, list[tuple[str, int, bool]]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYER_OF else None


def layer_problems(modules: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    problems = []
    for module, imports in modules.items():
        source = package_of(module)
        for target, line, _ in imports:
            dest = package_of(target)
            if source is None or dest is None or dest == source:
                continue
            if LAYER_OF[dest] >= LAYER_OF[source]:
                problems.append(f"{module}:{line} imports {target}: `{source}` may not import `{dest}`")
    return problems


def find_cycle(modules: dict[str, list[tuple[str, int, bool]]]) -> list[str] | None:
    edges = {m: sorted({t for t, _, _ in imps if t in modules and t != m}) for m, imps in modules.items()}
    state: dict[str, int] = {}
    for root in edges:
        if root in state:
            continue
        stack = [(root, iter(edges[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(edges[child])))
                path.append(child)
    return None


def test_every_package_is_in_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYER_OF)


def test_no_module_imports_a_higher_or_sibling_layer():
    assert layer_problems(graph()) == []


def test_no_import_cycle():
    assert find_cycle(graph()) is None


def test_imports_are_at_the_top_of_modules_outside_the_cli():
    late = [f"{module}:{line} imports {target} inside a function"
            for module, imports in graph().items() if package_of(module) not in LAZY_ALLOWED
            and module.split(".")[-1] not in LAZY_ALLOWED
            for target, line, top in imports if not top]
    assert late == []


@pytest.mark.parametrize("injected", [
    {"nixenv.support.files": [("nixenv.cli.main", 1, True)]},
    {"nixenv.services.s6": [("nixenv.services.stop", 1, True)], "nixenv.services.stop": [("nixenv.services.s6", 1, True)]},
])
def test_the_checks_catch_a_forbidden_import_and_a_cycle(injected):
    """The checks above can fail: an upward import and a cycle added on purpose are caught."""
    modules = graph()
    for module, extra in injected.items():
        modules[module] = modules[module] + extra
    assert layer_problems(modules) or find_cycle(modules)
