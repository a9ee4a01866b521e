"""``replay`` rebuilds the projections into new tables that read exactly like the live ones."""

from __future__ import annotations

import os
import subprocess
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from eventsourcing.postgres import PostgresDatastore
from starlette.testclient import TestClient

import adapters.sql
import app.service.replay
import app.service.replay_reader
import projections.rules
from adapters.generations import META, TRACKING, switch_to
from adapters.sql import Sql
from adapters.view_tables import VIEW_CLASSES
from app.bootstrap import bootstrap
from app.config import load
from app.service.ledger import Ledger
from app.service.replay import replay
from app.service.services import Services
from domain.reports import Kind
from projections.facts import Fact
from tests.support.scenario import (
    CATCH_UP_SECONDS,
    Snapshot,
    assert_views_follow_the_rules,
    expected,
    head,
    result,
    scenario,
    send,
    snapshot,
    tell,
    wait_for_views,
)
from tests.support.settings import API_TOKENS, environment

NAMES = tuple(VIEW_CLASSES)


def generations(sql: Sql) -> dict[str, tuple[int, int | None]]:
    """(active, building) of every projection, from ``ledger_projections``."""
    with sql.transaction(commit=False) as c:
        rows = c.execute(f"SELECT name, active, building FROM {sql.table(META)}").fetchall()
    return {
        row["name"]: (int(row["active"]), None if row["building"] is None else int(row["building"]))
        for row in rows
    }


def table_exists(sql: Sql, name: str) -> bool:
    with sql.transaction(commit=False) as c:
        if isinstance(sql.datastore, PostgresDatastore):
            row = c.execute(
                "SELECT COUNT(*) AS n FROM information_schema.tables"
                " WHERE table_schema = ? AND table_name = ?",
                (sql.datastore.schema or "public", name),
            ).fetchone()
        else:
            row = c.execute(
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
                (name,),
            ).fetchone()
    return int(row["n"]) > 0


def tracked_views(sql: Sql) -> set[str]:
    with sql.transaction(commit=False) as c:
        rows = c.execute(f"SELECT view FROM {sql.table(TRACKING)}").fetchall()
    return {row["view"] for row in rows}


@dataclass
class Recorded:
    """A ledger with a realistic mix of deliveries, and what its live views said."""

    services: Services
    live: Snapshot
    events: int

    @property
    def sql(self) -> Sql:
        return self.services.views.sql


@pytest.fixture
def recorded(services: Services) -> Recorded:
    services.start_projections()
    for step in scenario(seed=11, count=60):
        tell(services.ledger, step)
    live = assert_views_follow_the_rules(services)
    return Recorded(services, live, head(services.ledger))


def test_a_replay_rebuilds_every_projection_identical_to_the_live_one(
    recorded: Recorded,
) -> None:
    assert generations(recorded.sql) == {name: (1, None) for name in NAMES}
    progress: list[tuple[int, int]] = []

    summary = replay(
        recorded.services.ledger, recorded.sql, progress=lambda *p: progress.append(p), drop_grace=0
    )

    assert generations(recorded.sql) == {name: (2, None) for name in NAMES}
    assert snapshot(recorded.services.views) == recorded.live
    assert summary.status_changed == 0
    assert summary.events == recorded.events
    assert summary.generations == dict.fromkeys(NAMES, 2)
    assert progress[-1] == (recorded.events, recorded.events)
    for name in NAMES:
        assert not table_exists(recorded.sql, f"{name}_g1")
        assert table_exists(recorded.sql, f"{name}_g2")
    assert tracked_views(recorded.sql) == {f"{name}_g2" for name in NAMES}


def test_a_second_replay_builds_the_next_generation_and_still_reads_the_same(
    recorded: Recorded,
) -> None:
    replay(recorded.services.ledger, recorded.sql, drop_grace=0)

    summary = replay(recorded.services.ledger, recorded.sql, drop_grace=0)

    assert summary.generations == dict.fromkeys(NAMES, 3)
    assert summary.status_changed == 0
    assert snapshot(recorded.services.views) == recorded.live
    assert tracked_views(recorded.sql) == {f"{name}_g3" for name in NAMES}


def test_a_replay_of_one_named_projection_rebuilds_only_that_one(recorded: Recorded) -> None:
    summary = replay(recorded.services.ledger, recorded.sql, ["reattempts"], drop_grace=0)

    assert summary.projections == ["reattempts"]
    assert summary.generations == {"reattempts": 2}
    assert summary.status_changed is None
    assert summary.events == recorded.events
    assert generations(recorded.sql) == {
        "current_status": (1, None),
        "reattempts": (2, None),
        "audit_timeline": (1, None),
    }
    assert snapshot(recorded.services.views) == recorded.live
    assert not table_exists(recorded.sql, "reattempts_g1")
    assert table_exists(recorded.sql, "current_status_g1")
    assert table_exists(recorded.sql, "audit_timeline_g1")


def test_a_replay_of_an_unknown_projection_is_refused_before_anything_changes(
    recorded: Recorded,
) -> None:
    with pytest.raises(ValueError, match="no_such_view"):
        replay(recorded.services.ledger, recorded.sql, ["reattempts", "no_such_view"])

    assert generations(recorded.sql) == {name: (1, None) for name in NAMES}


def test_an_interrupted_replay_resumes_where_it_stopped_and_ends_identical(
    recorded: Recorded,
) -> None:
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(
            recorded.services.ledger, recorded.sql, progress=interrupt, batch_size=25, drop_grace=0
        )

    assert generations(recorded.sql) == {name: (1, 2) for name in NAMES}
    assert snapshot(recorded.services.views) == recorded.live
    for name, view_class in VIEW_CLASSES.items():
        building = view_class(recorded.sql, mode="build", generation=2)
        assert building.max_tracking_id(Ledger.name) == 25, name

    summary = replay(recorded.services.ledger, recorded.sql, batch_size=25, drop_grace=0)

    assert summary.events == recorded.events - 25
    assert summary.status_changed == 0
    assert generations(recorded.sql) == {name: (2, None) for name in NAMES}
    assert snapshot(recorded.services.views) == recorded.live
    assert tracked_views(recorded.sql) == {f"{name}_g2" for name in NAMES}


def test_live_workers_continue_on_the_new_tables_after_a_replay_during_deliveries(
    recorded: Recorded, client: TestClient
) -> None:
    services = recorded.services
    arriving = scenario(seed=12, count=50, prefix="during")
    started = threading.Event()
    failures: list[BaseException] = []

    def keep_delivering() -> None:
        try:
            for number, step in enumerate(arriving):
                tell(services.ledger, step)
                if number == 20:
                    started.set()
        except BaseException as error:
            failures.append(error)
            raise
        finally:
            started.set()

    def overlap(done: int, total: int) -> None:
        assert started.wait(CATCH_UP_SECONDS)

    deliveries = threading.Thread(target=keep_delivering, name="deliveries")
    deliveries.start()
    try:
        summary = replay(
            services.ledger, recorded.sql, progress=overlap, batch_size=10, drop_grace=0
        )
    finally:
        deliveries.join(timeout=CATCH_UP_SECONDS)
    assert not deliveries.is_alive()
    assert failures == []
    assert summary.events > recorded.events

    answer = send(
        client,
        result("after-replay", "client-x", Kind.AUTO_FINISHED, final=True, overall="DENIED",
               finish_time=1718790000),
    )  # fmt: skip
    response = client.get(
        "/verifications/after-replay",
        params={"minPosition": answer["position"]},
        headers={"Authorization": f"Bearer {API_TOKENS['backend']}"},
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "DENIED"
    assert generations(recorded.sql) == {name: (2, None) for name in NAMES}
    seen = assert_views_follow_the_rules(services)
    assert len(seen.documents) == 60 + 50 + 1
    for name in NAMES:
        assert not table_exists(recorded.sql, f"{name}_g1")


def test_a_delivery_projected_on_the_old_tables_just_before_the_switch_is_not_lost(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the replay's last read and its switch, a live worker projects a delivery.

    Nothing else arrives afterwards: the views must still reach it, without waiting
    for some later delivery to wake the workers up.
    """
    services = recorded.services
    late: list[int] = []
    step = result(
        "late-1", "client-late", Kind.AUTO_FINISHED, final=True, overall="APPROVED",
        finish_time=1718790000,
    )  # fmt: skip

    def switch_after_a_late_delivery(sql: Sql, name: str, generation: int) -> None:
        if not late:
            late.append(tell(services.ledger, step).position or 0)
            wait_for_views(services.views, late[0])  # the live workers, on the old tables
        switch_to(sql, name, generation)

    monkeypatch.setattr(app.service.replay, "switch_to", switch_after_a_late_delivery)

    replay(services.ledger, recorded.sql, drop_grace=0)

    assert generations(recorded.sql) == {name: (2, None) for name in NAMES}
    wait_for_views(services.views, late[0], timeout=5)
    assert services.views.status.status("late-1") is not None
    assert_views_follow_the_rules(services)


def test_a_replay_resumed_after_a_rule_change_rebuilds_everything_under_the_new_rules(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(
            recorded.services.ledger, recorded.sql, progress=interrupt, batch_size=25, drop_grace=0
        )
    monkeypatch.setattr(projections.rules, "RULES_VERSION", 2)

    replay(recorded.services.ledger, recorded.sql, drop_grace=0)

    rebuilt = snapshot(recorded.services.views)
    versions = {d["scanRef"]: d["rulesVersion"] for d in rebuilt.documents}
    assert {ref for ref, version in versions.items() if version != 2} == set()
    assert rebuilt == expected(recorded.services.ledger)


@pytest.fixture
def suspected_mapped_to_review(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rules version 2 (simulated): ``SUSPECTED`` results read ``REVIEW``."""
    original = projections.rules.effective_status

    def effective_status(fact: Fact) -> str | None:
        status = original(fact)
        return "REVIEW" if status == "SUSPECTED" else status

    monkeypatch.setattr(projections.rules, "effective_status", effective_status)
    monkeypatch.setattr(projections.rules, "RULES_VERSION", 2)


def test_a_rule_change_counts_the_verifications_whose_status_changed(
    recorded: Recorded, suspected_mapped_to_review: None
) -> None:
    affected = {d["scanRef"] for d in recorded.live.documents if d["status"] == "SUSPECTED"}
    assert affected

    summary = replay(recorded.services.ledger, recorded.sql, drop_grace=0)

    assert summary.status_changed == len(affected)
    rebuilt = snapshot(recorded.services.views)
    assert rebuilt == expected(recorded.services.ledger)
    assert {d["scanRef"] for d in rebuilt.documents if d["status"] == "REVIEW"} == affected
    assert {d["rulesVersion"] for d in rebuilt.documents} == {2}


def test_reads_keep_answering_from_the_old_tables_until_the_switch(recorded: Recorded) -> None:
    views = recorded.services.views
    seen_during: list[Snapshot] = []

    summary = replay(
        recorded.services.ledger,
        recorded.sql,
        progress=lambda *_: seen_during.append(snapshot(views)),
        batch_size=40,
        drop_grace=0,
    )

    assert len(seen_during) >= 2
    assert all(seen == recorded.live for seen in seen_during)
    assert summary.status_changed == 0
    wait_for_views(views, recorded.events)
    assert snapshot(views) == recorded.live


# Large replays: a reader process, and copied-in rows on PostgreSQL.


@pytest.mark.parametrize(("batch_size", "share"), [(7, 0.4), (10_000, 0.4), (7, 0.0), (7, 1.0)])
@pytest.mark.process
def test_a_replay_read_by_a_reader_process_builds_the_same_views(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch, batch_size: int, share: float
) -> None:
    monkeypatch.setattr(app.service.replay_reader, "PROCESS_THRESHOLD", 0)
    monkeypatch.setattr(app.service.replay_reader, "READER_SHARE", share)
    # Rows are copied in from the first one, so small batches take that path too.
    monkeypatch.setattr(adapters.sql, "COPY_FROM_ROWS", 1)
    started: list[int] = []
    spawn = app.service.replay_reader.read_in_process

    def counting(*args: Any) -> Any:
        started.append(1)
        return spawn(*args)

    monkeypatch.setattr(app.service.replay_reader, "read_in_process", counting)

    summary = replay(recorded.services.ledger, recorded.sql, drop_grace=0, batch_size=batch_size)

    assert started == [1]
    assert summary.events == recorded.events
    assert summary.status_changed == 0
    assert snapshot(recorded.services.views) == recorded.live
    assert_views_follow_the_rules(recorded.services)


@pytest.mark.process
def test_a_reader_process_that_cannot_read_stops_the_replay_with_its_reason(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = dict(recorded.services.ledger.env)
    env["PERSISTENCE_MODULE"] = "no.such:Module"
    with pytest.raises(app.service.replay_reader.ReadFailedError, match=r"no\.such"):
        list(app.service.replay_reader.read_in_process(env, 0, 100))


@pytest.mark.process
def test_the_reader_process_decrypts_an_encrypted_ledger(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "0" * 43 + "="  # 32 zero bytes, base64
    built = bootstrap(load(environment(database_url, LEDGER_ENCRYPTION_KEY=key)))
    try:
        for step in scenario(seed=5, count=20):
            tell(built.ledger, step)
        monkeypatch.setattr(app.service.replay_reader, "PROCESS_THRESHOLD", 0)
        summary = replay(built.ledger, built.views.sql, drop_grace=0)
        assert summary.events == head(built.ledger)
        seen, wanted = snapshot(built.views), expected(built.ledger)
        assert seen.documents == wanted.documents
        assert seen.timelines == wanted.timelines
    finally:
        built.close()


@pytest.mark.parametrize("copy_from", [1, 1000])
def test_an_upsert_replaces_the_rows_whose_key_it_repeats(
    services: Services, monkeypatch: pytest.MonkeyPatch, copy_from: int
) -> None:
    monkeypatch.setattr(adapters.sql, "COPY_FROM_ROWS", copy_from)
    sql = services.views.sql
    table = sql.table("upsert_check")
    columns = [("k", "TEXT"), ("n", "BIGINT"), ("b", "BLOB")]
    with sql.transaction(commit=True) as c:
        c.execute(f"CREATE TABLE {table} (k TEXT PRIMARY KEY, n {sql.bigint}, b {sql.blob})")
        c.upsert(table, columns, [("a", 1, b"\x00one"), ("b", 2, b"two")], "k")
    with sql.transaction(commit=True) as c:
        c.upsert(table, columns, [("b", 20, b"\xfftwenty"), ("c", 3, b"")], "k")
        c.upsert(table, columns, [("d", None, None)], "k")
    with sql.transaction(commit=False) as c:
        rows = c.execute(f"SELECT k, n, b FROM {table} ORDER BY k").fetchall()
    assert [(r["k"], r["n"], None if r["b"] is None else bytes(r["b"])) for r in rows] == [
        ("a", 1, b"\x00one"),
        ("b", 20, b"\xfftwenty"),
        ("c", 3, b""),
        ("d", None, None),
    ]


@pytest.mark.process
def test_a_replay_interrupted_and_resumed_with_a_reader_process_ends_identical(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.service.replay_reader, "PROCESS_THRESHOLD", 0)
    monkeypatch.setattr(app.service.replay_reader, "READER_SHARE", 1.0)

    def interrupt(done: int, total: int) -> None:
        if done > 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replay(
            recorded.services.ledger, recorded.sql, progress=interrupt, batch_size=25, drop_grace=0
        )
    assert generations(recorded.sql) == {name: (1, 2) for name in NAMES}

    summary = replay(recorded.services.ledger, recorded.sql, batch_size=25, drop_grace=0)

    assert summary.events == recorded.events - 75
    assert summary.status_changed == 0
    assert snapshot(recorded.services.views) == recorded.live
    assert_views_follow_the_rules(recorded.services)


def test_the_reader_folds_only_verifications_it_has_not_seen() -> None:
    folder = app.service.replay_reader.Folder(["current_status", "audit_timeline"], share=1.0)
    first = [("a", result_fact(1, 1)), ("b", result_fact(1, 2)), ("a", result_fact(2, 3))]
    out = folder.share(app.service.replay_reader.FactBatch(first, 3, 3))
    assert sorted(out.done) == ["a", "b"]
    assert out.facts == []
    assert [row[0] for row in out.rows["current_status"]] == ["a", "b"]

    later = [("a", result_fact(3, 4)), ("c", result_fact(1, 5))]
    out = folder.share(app.service.replay_reader.FactBatch(later, 5, 2))
    assert out.done == ["c"]
    assert [row[0] for row in out.facts] == ["a"]
    assert [row[0] for row in out.rows["audit_timeline"]] == ["c"]


def result_fact(sequence: int, position: int) -> Fact:
    return Fact(sequence, position, "auto-finished", f"t{position}", final=True, overall="APPROVED")


def test_batches_read_ahead_from_a_reader_that_stops_midway_end_in_an_error() -> None:
    read, write = os.pipe()
    with os.fdopen(read, "rb") as stream:
        frames = app.service.replay_reader.Frames(stream)
        frames.start()
        with os.fdopen(write, "wb") as out:
            out.write((5).to_bytes(4, "big") + b"whole")
            out.write((100).to_bytes(4, "big") + b"cut short")
        assert frames.next() == b"whole"
        with pytest.raises(app.service.replay_reader.ReadFailedError, match="stopped unexpectedly"):
            frames.next()
        frames.join(5)
        assert not frames.is_alive()


@pytest.mark.process
def test_a_replay_that_stops_reading_early_stops_its_reader_process(
    recorded: Recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.service.replay_reader, "AHEAD", 1)
    started: list[subprocess.Popen[bytes]] = []
    popen = subprocess.Popen

    def remembered(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", remembered)
    env = dict(recorded.services.ledger.env)
    batches = app.service.replay_reader.read_in_process(env, 0, 5)
    assert next(batches).count == 5
    batches.close()  # the reader still has batches to send, and the queue is full

    assert len(started) == 1
    assert started[0].returncode is not None
