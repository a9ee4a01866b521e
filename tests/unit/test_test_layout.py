"""The suite's own layout: no test module imports another; shared code lives in tests/support.

Read from the imports of every file under tests/, never run, as the source layers' rule
is in ``test_dependency_direction``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.imports import ROOT, imported_modules

TESTS = ROOT / "tests"


def is_test_module(module: str) -> bool:
    """``tests.….test_x`` or ``tests.conftest``: modules pytest collects or loads itself."""
    parts = module.split(".")
    return parts[0] == "tests" and any(
        part.startswith("test_") or part == "conftest" for part in parts[1:]
    )


def modules_to_check(root: Path) -> Iterator[Path]:
    yield from sorted(root.rglob("test_*.py"))
    yield from sorted((root / "support").rglob("*.py"))


def imports_of_test_modules(path: Path, root: Path) -> list[str]:
    return sorted({m for m in imported_modules(path, root) if is_test_module(m)})


@pytest.mark.parametrize(
    "path", list(modules_to_check(TESTS)), ids=lambda p: str(p.relative_to(TESTS))
)
def test_no_test_module_or_support_module_imports_a_test_module(path: Path) -> None:
    assert imports_of_test_modules(path, ROOT) == [], (
        f"{path.relative_to(ROOT)} imports a test module; move what is shared to tests/support/"
    )


def test_the_rule_sees_every_way_of_importing_a_test_module(tmp_path: Path) -> None:
    module = tmp_path / "tests" / "e2e" / "test_example.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "import tests.unit.test_a\n"
        "from tests.integration.test_b import helper\n"
        "from tests.integration import test_c\n"
        "from .test_d import other\n"
        "from tests.conftest import fixture\n"
        "from tests.support.waiting import wait_until\n"
        "import pytest\n"
    )
    assert imports_of_test_modules(module, tmp_path) == [
        "tests.conftest.fixture",
        "tests.e2e.test_d.other",
        "tests.integration.test_b.helper",
        "tests.integration.test_c",
        "tests.unit.test_a",
    ]
