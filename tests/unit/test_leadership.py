"""The advisory-lock key of a projection: the same everywhere, different for every lead."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from adapters.leadership import FileLeadership, PostgresLeadership, leadership_for, lock_key
from adapters.persistence import PostgresLocation, SQLiteLocation
from app.service.workers import PROJECTIONS

SCHEMAS = ("public", "tenant_a", "tenant_b", "Public")


def postgres(schema: str) -> PostgresLocation:
    return PostgresLocation("db.internal", 5432, "ledger", "secret", "ledger", schema)


@pytest.mark.parametrize(
    ("schema", "name", "key"),
    [
        ("public", "current_status", 1971514823056776848),
        ("public", "reattempts", 2673432919913811947),
        ("public", "audit_timeline", 7579782645488286283),
        ("tenant_a", "current_status", -8952101274050031607),
    ],
)
def test_a_projections_lock_key_is_the_same_in_every_process_and_every_release(
    schema: str, name: str, key: int
) -> None:
    # Workers of two releases side by side must contend for one lock, so the key is pinned.
    assert lock_key(schema, name) == key
    assert lock_key(schema, name) == lock_key(schema, name)


def test_every_projection_in_every_schema_has_a_key_of_its_own() -> None:
    pairs = list(itertools.product(SCHEMAS, PROJECTIONS))

    keys = {lock_key(schema, name) for schema, name in pairs}

    assert len(keys) == len(pairs)


def test_lock_keys_fit_postgresqls_signed_64_bit_advisory_locks() -> None:
    keys = [lock_key(schema, name) for schema in SCHEMAS for name in PROJECTIONS]

    assert all(-(2**63) <= key < 2**63 for key in keys)
    assert any(key < 0 for key in keys)
    assert any(key > 0 for key in keys)


def test_a_database_without_a_schema_contends_with_one_that_names_public() -> None:
    for name in PROJECTIONS:
        unnamed = PostgresLeadership(postgres(""), name)
        named = PostgresLeadership(postgres("public"), name)

        assert unnamed.key == named.key == lock_key("public", name)


def test_leaderships_of_two_schemas_never_contend() -> None:
    first = leadership_for(postgres("tenant_a"), "current_status")
    second = leadership_for(postgres("tenant_b"), "current_status")

    assert isinstance(first, PostgresLeadership)
    assert isinstance(second, PostgresLeadership)
    assert first.key != second.key


def test_on_sqlite_each_projections_lead_is_a_lock_file_beside_the_views() -> None:
    location = SQLiteLocation(Path("/srv/ledger/ledger.sqlite3"))

    leads = {name: leadership_for(location, name) for name in PROJECTIONS}

    for name, lead in leads.items():
        assert isinstance(lead, FileLeadership)
        assert lead.path == Path(f"/srv/ledger/ledger-views.sqlite3.{name}.lock")
