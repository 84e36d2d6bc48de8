"""The package rules ARCHITECTURE.md states, held by reading every module's imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "integrations", "scoring")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> Iterator[str]:
    """Every module of ours this file imports, wherever the import stands (lazy ones too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (name for name in names if name in MODULES)


GRAPH = {module: set(_imports(path)) - {module} for module, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("scoring")))
def test_scoring_imports_nothing_of_the_application(module: str) -> None:
    assert {m for m in GRAPH[module] if not m.startswith("scoring")} == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("integrations")))
def test_integrations_never_import_bot(module: str) -> None:
    assert {m for m in GRAPH[module] if m.startswith("bot")} == set()


def test_no_module_imports_itself_back_through_others() -> None:
    def cycle_from(start: str) -> list[str] | None:
        path: list[str] = []
        done: set[str] = set()

        def visit(module: str) -> list[str] | None:
            if module in path:
                return [*path[path.index(module) :], module]
            if module in done:
                return None
            path.append(module)
            for target in sorted(GRAPH[module]):
                if target.startswith(f"{module}.") or module.startswith(f"{target}."):
                    continue  # a package and its own modules
                found = visit(target)
                if found:
                    return found
            path.pop()
            done.add(module)
            return None

        return visit(start)

    cycles = [c for m in sorted(MODULES) if (c := cycle_from(m))]
    assert cycles == []


def test_the_top_of_bot_stays_small() -> None:
    """Capabilities live in folders; the top holds the entry points and what every part shares."""
    top = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(top) <= 8, top
