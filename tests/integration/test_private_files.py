"""The ledger's SQLite files are its owner's alone: 0600 files in a 0700 folder."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.durability import views_path
from adapters.persistence import SQLiteLocation
from adapters.private_files import private_database
from app.bootstrap import bootstrap
from app.config import load
from tests.support.settings import environment


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets group and others read what is created, as many systems have."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("open_umask")
def test_a_new_store_is_created_for_its_owner_alone(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ledger.sqlite3"
    services = bootstrap(load(environment(f"sqlite:///{path}")))
    try:
        services.ledger.recorder.max_notification_id()
        created = [
            path,
            Path(f"{path}-wal"),
            views_path(SQLiteLocation(path)),
            Path(f"{views_path(SQLiteLocation(path))}-wal"),
        ]
        assert all(file.exists() for file in created), created
        assert {file.name: mode(file) for file in created} == {file.name: 0o600 for file in created}
        assert mode(path.parent) == 0o700
    finally:
        services.close()


@pytest.mark.usefixtures("open_umask")
def test_files_left_open_by_an_earlier_version_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    for file in (path, Path(f"{path}-wal")):
        file.write_bytes(b"")
        os.chmod(file, 0o644)

    private_database(path)

    assert mode(path) == 0o600
    assert mode(Path(f"{path}-wal")) == 0o600


@pytest.mark.usefixtures("open_umask")
def test_an_existing_folder_is_left_as_its_owner_set_it(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)  # noqa: S103 (a folder its owner opened on purpose)

    private_database(folder / "ledger.sqlite3")

    assert mode(folder) == 0o755
    assert mode(folder / "ledger.sqlite3") == 0o600
