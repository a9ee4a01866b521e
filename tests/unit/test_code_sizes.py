"""Source modules stay readable: none over 300 lines, no function over 60 (read, never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "projections", "adapters", "app")
MODULE_LINES = 300
FUNCTION_LINES = 60


def sources() -> list[Path]:
    return sorted(path for layer in LAYERS for path in (ROOT / layer).rglob("*.py"))


def long_functions(source: str) -> list[tuple[str, int]]:
    """Every function of ``source`` longer than the limit, with its length in lines."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append((node.name, length))
    return found


def test_there_are_sources_to_measure() -> None:
    assert len(sources()) > 50


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_source_module_is_short_and_so_are_its_functions(path: Path) -> None:
    source = path.read_text(encoding="utf-8")

    assert len(source.splitlines()) <= MODULE_LINES
    assert long_functions(source) == []


def test_the_measure_finds_a_long_function() -> None:
    body = "\n".join(f"    x = {number}" for number in range(FUNCTION_LINES))
    source = f"def short():\n    pass\n\nasync def long():\n{body}\n"

    assert long_functions(source) == [("long", FUNCTION_LINES + 1)]
