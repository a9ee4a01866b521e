"""Status by scanRef: the one query every status reader runs, and what it needs.

The threaded view read (``SqlCurrentStatusView.status``) and the fast readers on the
event loop (``adapters.status_reader``, SQLite and PostgreSQL) all read a status
document with ``DOCUMENT``, from the table ``generations.table_key`` names, in the generation an
``ActiveGeneration`` remembers. Statements use ``?`` placeholders; ``statement``
turns them into psycopg's ``%s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from adapters.generations import META, table_key
from adapters.sql import quoted
from adapters.views import GENERATION_LOOKUP_SECONDS
from projections.completeness import DEFAULT_GRACE, deadline, is_overdue
from projections.policy import BUILT_IN, Policy, decide

_json = msgspec.json.Decoder()
_encode = msgspec.json.Encoder().encode
PROJECTION = "current_status"
ACTIVE = "SELECT active FROM {meta} WHERE name = ?"
DOCUMENT = (
    "SELECT d.document AS document, l.document AS link FROM {table} AS d"
    " LEFT JOIN {table} AS l ON l.scan_ref = ? WHERE d.scan_ref = ? AND d.final < 2"
)
"""A verification's stored document and the row linking it to an AML monitoring (rows
of other subjects hold 2 or more in ``final``: ``adapters.subject_rows``)."""
AML_LINK = "~aml:"
"""The key prefix of the rows, in ``current_status``, that link a verification to the AML
monitoring that last named it (no scanRef starts with ``~``)."""


def document_params(scan_ref: str) -> tuple[str, str]:
    """``DOCUMENT``'s parameters for ``scan_ref``."""
    return (AML_LINK + scan_ref, scan_ref)


SERVED = (
    "SELECT d.document AS document, l.document AS link FROM {table} AS d"
    f" LEFT JOIN {{table}} AS l ON l.scan_ref = '{AML_LINK}' || d.scan_ref"
)
"""Status documents with their AML links, for lists (``WHERE`` and the rest to follow)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _builtin() -> Policy:
    return BUILT_IN


@dataclass
class Serving:
    """What a status read adds to a stored document: its ``amlMonitoring`` link; for a
    registered verification its ``deadline`` under the configured grace and whether it is
    ``overdue`` now (``projections.completeness``); and the decision of the policy in force
    (``projections.policy``). None of them is an event's doing."""

    grace: int = DEFAULT_GRACE
    clock: Callable[[], datetime] = _now

    policy: Callable[[], Policy] = _builtin

    def text(self, document: str, link: str | None) -> str:
        return _encode(self.document(document, link)).decode()

    def document(self, document: str, link: str | None) -> dict[str, Any]:
        found: dict[str, Any] = _json.decode(document)
        found["amlMonitoring"] = None if link is None else _json.decode(link)
        if found.get("expectedBy") is not None:
            found["deadline"] = deadline(found["expectedBy"], self.grace)
            found["overdue"] = is_overdue(found, self.clock())
        found.update(decide(self.policy(), found))
        return found


def statement(text: str, postgres: bool) -> str:
    return text.replace("?", "%s") if postgres else text


def active_query(schema: str = "", postgres: bool = False) -> str:
    """The look-up of the active generation, on a store whose tables are in ``schema``."""
    return statement(ACTIVE.format(meta=quoted(META, schema)), postgres)


def document_query(table: str, postgres: bool = False) -> str:
    """The status document of one scanRef, from ``table`` (spelled as statements spell it)."""
    return statement(DOCUMENT.format(table=table), postgres)


class ActiveGeneration:
    """The active generation of ``current_status``, looked up at most every
    ``GENERATION_LOOKUP_SECONDS``: a replay drops old tables only after longer."""

    def __init__(self, spell: Callable[[str], str] = quoted, generation: int = 1):
        self.spell = spell
        self.generation = generation
        self.until = 0.0

    @property
    def table(self) -> str:
        """The generation's table, as statements spell it."""
        return self.spell(table_key(PROJECTION, self.generation))

    def cached(self) -> int | None:
        """The generation while it is fresh, None when it must be looked up again."""
        return self.generation if time.monotonic() < self.until else None

    def found(self, active: int | None) -> int:
        """Remember a look-up's answer (None: the projection is not registered yet)."""
        if active is not None:
            self.generation = active
        self.until = time.monotonic() + GENERATION_LOOKUP_SECONDS
        return self.generation

    def forget(self) -> None:
        """Look the generation up again at the next read (its tables may be gone)."""
        self.until = 0.0
