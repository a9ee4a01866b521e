"""The ledger's files on disk, readable by their owner alone.

Without an encryption key the SQLite files hold names, document numbers, dates of birth
and IP addresses in clear; even with one they hold the chains and the access log. So the
database files are created 0600, before SQLite opens them (SQLite gives its ``-wal``,
``-shm`` and ``-journal`` files the database file's permissions), a folder the ledger
creates for them is 0700, and files left more open by an earlier version are tightened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700
COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(folder: Path) -> None:
    """Create ``folder`` (and its missing parents) for the owner alone, unless it exists;
    an existing folder is left as its owner set it."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=FOLDER_MODE)
            os.chmod(path, FOLDER_MODE)  # mkdir's mode is cut by the umask


def private_database(path: Path) -> None:
    """Create the SQLite file ``path`` 0600 if it is missing, and take group and other
    permissions off it and its companions if an earlier version left them on."""
    private_folder(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(descriptor)
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in COMPANIONS)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                os.chmod(candidate, FILE_MODE)
