"""Dependencies point inwards: read from the imports of every source file, never run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.imports import ROOT, imported_modules

DOMAIN_MAY_IMPORT = ("domain", "eventsourcing.domain")
PROJECTIONS_MAY_NOT_IMPORT = ("psycopg", "sqlite3", "msgspec", "starlette", "app", "adapters")
ADAPTERS_MAY_NOT_IMPORT = ("app",)
WEB_AND_COMMAND_LINE = ("starlette", "uvicorn", "jinja2", "click")
ROOMS_MAY_NOT_IMPORT = {
    # The service layer: what the service does, whatever edge asks it.
    "app/service": (*WEB_AND_COMMAND_LINE, "app.http", "app.ui", "app.cli", "app.bootstrap"),
    # The HTTP edge: routes, auth, errors; it mounts no UI and knows no command.
    "app/http": ("click", "jinja2", "app.ui", "app.cli"),
    "app/ui": ("click", "app.cli"),
    "app/cli": ("starlette", "jinja2", "app.ui"),
}
TOP_OF_APP = {
    "__init__",
    "bootstrap",
    "config",
    "devkeys",
    "heap",
    "logs",
    "processes",
    "server",
    "store_keys",
}


def sources(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def is_stdlib(module: str) -> bool:
    return module.partition(".")[0] in sys.stdlib_module_names


def test_the_layers_are_where_the_test_looks_for_them() -> None:
    assert sources("domain"), "no source found under domain/"
    assert sources("adapters"), "no source found under adapters/"
    assert (ROOT / "projections" / "__init__.py").is_file()


@pytest.mark.parametrize("path", sources("domain"), ids=lambda path: path.name)
def test_the_domain_imports_only_the_stdlib_itself_and_eventsourcing_domain(path: Path) -> None:
    modules = list(imported_modules(path))
    outside = [
        module
        for module in modules
        if not is_stdlib(module) and not within(module, DOMAIN_MAY_IMPORT)
    ]

    assert outside == []


@pytest.mark.parametrize("path", sources("projections"), ids=lambda path: path.name)
def test_projections_import_no_driver_codec_web_framework_adapter_or_app(path: Path) -> None:
    forbidden = [
        module for module in imported_modules(path) if within(module, PROJECTIONS_MAY_NOT_IMPORT)
    ]

    assert forbidden == []


@pytest.mark.parametrize("path", sources("adapters"), ids=lambda path: path.name)
def test_adapters_never_import_the_app(path: Path) -> None:
    forbidden = [
        module for module in imported_modules(path) if within(module, ADAPTERS_MAY_NOT_IMPORT)
    ]

    assert forbidden == []


@pytest.mark.parametrize(
    ("room", "path"),
    [(room, path) for room in ROOMS_MAY_NOT_IMPORT for path in sources(room)],
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_each_room_of_the_app_imports_only_what_its_rule_allows(room: str, path: Path) -> None:
    forbidden = [
        module for module in imported_modules(path) if within(module, ROOMS_MAY_NOT_IMPORT[room])
    ]

    assert forbidden == []


def test_the_app_is_its_rooms_and_the_composition_root() -> None:
    """Every module of ``app/`` is in a room the rules above cover, or at the top."""
    rooms = {path.parent.relative_to(ROOT).as_posix() for path in sources("app")}
    top = {path.stem for path in (ROOT / "app").glob("*.py")}

    assert rooms - {"app"} == set(ROOMS_MAY_NOT_IMPORT)
    assert top == TOP_OF_APP
    assert all(sources(room) for room in ROOMS_MAY_NOT_IMPORT)


def test_the_composition_root_imports_no_edge() -> None:
    """What builds the service does not reach out to the edges that use it."""
    edges = ("app.http", "app.ui", "app.cli", *WEB_AND_COMMAND_LINE)
    for name in ("bootstrap", "config", "logs", "processes"):
        found = [m for m in imported_modules(ROOT / "app" / f"{name}.py") if within(m, edges)]
        assert found == [], name


def test_the_import_reader_sees_every_form_of_import(tmp_path: Path) -> None:
    package = tmp_path / "domain"
    package.mkdir()
    module = package / "sample.py"
    module.write_text(
        "import json, msgspec.json\n"
        "from eventsourcing.domain import Aggregate\n"
        "from eventsourcing import persistence\n"
        "from . import reports\n"
        "from .reports import Kind\n"
        "def late() -> None:\n"
        "    import starlette\n",
        encoding="utf-8",
    )
    modules = set(imported_modules(module, root=tmp_path))

    assert modules == {
        "json",
        "msgspec.json",
        "eventsourcing.domain.Aggregate",
        "eventsourcing.persistence",
        "domain.reports",
        "domain.reports.Kind",
        "starlette",
    }
    outside = {m for m in modules if not is_stdlib(m) and not within(m, DOMAIN_MAY_IMPORT)}
    assert outside == {"msgspec.json", "eventsourcing.persistence", "starlette"}


STORE_MODULES = ("adapters.sql", "adapters.persistence", "adapters.durability",
                 "adapters.bulk_load", "adapters.merkle_tables", "eventsourcing", "psycopg",
                 "sqlite3", "app.bootstrap", "app.config", "app.service")  # fmt: skip


def test_the_bundle_verifier_imports_no_store() -> None:
    """``ledger verify-bundle`` and everything it imports from the project, transitively."""
    seen: set[str] = set()
    waiting = ["app.cli.verify_bundle"]
    while waiting:
        module = waiting.pop()
        path = ROOT / (module.replace(".", "/") + ".py")
        if module in seen or not path.is_file():
            continue
        seen.add(module)
        for imported in imported_modules(path):
            assert not within(imported, STORE_MODULES), (module, imported)
            parts = imported.split(".")
            waiting.extend(".".join(parts[:n]) for n in range(1, len(parts) + 1))

    assert {"adapters.evidence_bundle", "adapters.signed_note", "domain.merkle"} <= seen
