"""Leadership of a projection over each real store: one holder, handed over when it goes."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from adapters.durability import views_datastore
from adapters.leadership import FileLeadership, Leadership, PostgresLeadership, leadership_for
from adapters.persistence import parse_database_url
from adapters.sql import Sql
from app.bootstrap import bootstrap, ledger_settings
from app.config import load
from app.service.ledger import Ledger
from app.service.workers import ProjectionWorkers
from domain.reports import Kind
from tests.support.scenario import result, tell
from tests.support.settings import environment
from tests.support.topology import lock_holders, lock_keys, postgres_location
from tests.support.waiting import wait_until

pytestmark = pytest.mark.process

HANDOVER_SECONDS = 10.0
STOP_SECONDS = 15.0
HOLDER = """
import sys
from adapters.leadership import leadership_for
from adapters.persistence import parse_database_url
lead = leadership_for(parse_database_url(sys.argv[1]), sys.argv[2])
print("leading" if lead.try_acquire() else "standing by", flush=True)
sys.stdin.read()
"""

Leads = Callable[..., Leadership]


@pytest.fixture
def leads(database_url: str) -> Iterator[Leads]:
    """Makes leaderships of the test's store; releases every one at the end."""
    made: list[Leadership] = []

    def make(name: str = "current_status") -> Leadership:
        lead = leadership_for(parse_database_url(database_url), name)
        made.append(lead)
        return lead

    yield make
    for lead in made:
        lead.release()


@pytest.fixture
def holders(tmp_path: Path) -> Iterator[Callable[[str, str], subprocess.Popen[bytes]]]:
    """Starts processes that take a lead and keep it until they die; kills them at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(url: str, name: str) -> subprocess.Popen[bytes]:
        output = tmp_path / f"holder-{len(started) + 1}.out"
        with output.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", HOLDER, url, name],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        said = wait_until(lambda: output.read_text().strip(), HANDOVER_SECONDS, "holder's answer")
        assert said == "leading", said
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=STOP_SECONDS)
        if process.stdin is not None:
            process.stdin.close()


def test_only_one_of_two_instances_takes_the_lead(leads: Leads) -> None:
    first, second = leads(), leads()

    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.still_held()
    assert not second.try_acquire()


def test_releasing_the_lead_lets_the_other_instance_take_it(leads: Leads) -> None:
    first, second = leads(), leads()
    assert first.try_acquire()
    assert not second.try_acquire()

    first.release()

    assert second.try_acquire()
    assert not first.try_acquire()


def test_each_projection_has_a_lead_of_its_own(leads: Leads) -> None:
    status, reattempts, timeline = leads("current_status"), leads("reattempts"), leads()

    assert status.try_acquire()
    assert reattempts.try_acquire()
    assert not timeline.try_acquire()


def test_the_lead_is_freed_when_the_process_holding_it_dies(
    leads: Leads,
    holders: Callable[[str, str], subprocess.Popen[bytes]],
    database_url: str,
) -> None:
    holder = holders(database_url, "current_status")
    standby = leads()
    assert not standby.try_acquire()

    holder.kill()
    holder.wait(timeout=STOP_SECONDS)

    wait_until(standby.try_acquire, HANDOVER_SECONDS, "the standby taking the dead holder's lead")
    assert standby.still_held()


@pytest.mark.postgres
def test_a_leader_whose_connection_the_server_ends_loses_the_lead_to_the_standby(
    postgres_url: str,
) -> None:
    location = postgres_location(postgres_url)
    leader = PostgresLeadership(location, "current_status")
    standby = PostgresLeadership(location, "current_status")
    try:
        assert leader.try_acquire()
        assert not standby.try_acquire()
        assert leader.connection is not None
        backend = leader.connection.info.backend_pid

        with psycopg.connect(location.conninfo(), autocommit=True) as admin:
            ended = admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()
        assert ended == (True,)

        started = time.monotonic()
        wait_until(lambda: not leader.still_held(), HANDOVER_SECONDS, "the leader noticing")
        wait_until(standby.try_acquire, HANDOVER_SECONDS, "the standby taking the lead")
        assert time.monotonic() - started < HANDOVER_SECONDS
        assert standby.still_held()
        assert not leader.try_acquire()
    finally:
        leader.release()
        standby.release()


@pytest.mark.postgres
def test_leads_in_two_schemas_of_one_database_do_not_contend(postgres_url: str) -> None:
    location = postgres_location(postgres_url)
    other = replace(location, schema=f"other_{location.schema}")
    made = [
        PostgresLeadership(location, "current_status"),
        PostgresLeadership(other, "current_status"),
        PostgresLeadership(location, "current_status"),
    ]
    try:
        assert [lead.try_acquire() for lead in made] == [True, True, False]
    finally:
        for lead in made:
            lead.release()


class WorkerGroups:
    """``ProjectionWorkers`` of ``current_status``, each on views of its own, as in processes.

    The leaderships they make are kept, to see what each has open; any left open are
    released at the end.
    """

    def __init__(self, database_url: str) -> None:
        self.settings = load(environment(database_url))
        self.services = bootstrap(self.settings)
        self.groups: list[tuple[ProjectionWorkers, Sql]] = []
        self.leads: dict[ProjectionWorkers, list[Leadership]] = {}

    def start(self) -> ProjectionWorkers:
        sql = Sql(views_datastore(self.settings.store))
        made: list[Leadership] = []

        def leadership(name: str) -> Leadership:
            made.append(leadership_for(self.settings.store, name))
            return made[-1]

        workers = ProjectionWorkers(
            ledger_settings(self.settings), sql, leadership, names=("current_status",)
        )
        self.groups.append((workers, sql))
        self.leads[workers] = made
        return workers.start()

    def lead_of(self, workers: ProjectionWorkers) -> Leadership | None:
        made = self.leads[workers]
        return made[0] if made else None

    def close(self) -> None:
        for workers, sql in self.groups:
            workers.stop()
            sql.datastore.close()
        for made in self.leads.values():
            for lead in made:
                lead.release()
        self.services.close()


@pytest.fixture
def worker_groups(database_url: str) -> Iterator[WorkerGroups]:
    groups = WorkerGroups(database_url)
    yield groups
    groups.close()


def has_tried(lead: Leadership | None) -> bool:
    """Whether ``lead`` has opened its lock connection (PostgreSQL) or lock file (SQLite)."""
    if isinstance(lead, PostgresLeadership):
        return lead.connection is not None
    return isinstance(lead, FileLeadership) and lead.file is not None


def holds_open(lead: Leadership | None) -> bool:
    if isinstance(lead, PostgresLeadership):
        return lead.connection is not None and not lead.connection.closed
    return isinstance(lead, FileLeadership) and lead.file is not None and not lead.file.closed


def test_a_standby_worker_that_stops_closes_what_it_held_open_to_try_for_the_lead(
    worker_groups: WorkerGroups,
) -> None:
    leader = worker_groups.start()
    wait_until(lambda: leader.leading == {"current_status"}, HANDOVER_SECONDS, "a leader")
    standby = worker_groups.start()
    wait_until(
        lambda: has_tried(worker_groups.lead_of(standby)), HANDOVER_SECONDS, "the standby trying"
    )

    standby.stop()

    assert standby.leading == set()
    assert not holds_open(worker_groups.lead_of(standby)), (
        "the stopped standby still holds its lock connection (or lock file) open"
    )
    assert holds_open(worker_groups.lead_of(leader))


@pytest.mark.postgres
def test_a_worker_whose_lock_connection_breaks_stands_by_and_one_runner_carries_on(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ledger.projections")
    groups = WorkerGroups(postgres_url)
    keys = lock_keys(postgres_url, ["current_status"])
    conninfo = postgres_location(postgres_url).conninfo()
    try:
        first = groups.start()
        wait_until(lambda: first.leading == {"current_status"}, HANDOVER_SECONDS, "a leader")
        second = groups.start()
        wait_until(lambda: has_tried(groups.lead_of(second)), HANDOVER_SECONDS, "a standby")
        with psycopg.connect(conninfo, autocommit=True) as admin:
            [holder] = lock_holders(admin, keys)["current_status"]
            admin.execute("SELECT pg_terminate_backend(%s)", (holder.backend_pid,))

            wait_until(
                lambda: any("lost the lead" in r.getMessage() for r in caplog.records),
                HANDOVER_SECONDS,
                "the leader noticing it lost its lock",
            )
            wait_until(
                lambda: (
                    len(first.leading) + len(second.leading) == 1
                    and len(lock_holders(admin, keys)["current_status"]) == 1
                ),
                HANDOVER_SECONDS,
                "one runner again",
            )
        receipt = tell(
            groups.services.ledger,
            result("lead-1", "client-1", Kind.AUTO_FINISHED, final=True, overall="APPROVED",
                   finish_time=1718787000),
        )  # fmt: skip

        assert receipt.position is not None
        status = groups.services.views.status
        status.wait(Ledger.name, receipt.position, timeout=HANDOVER_SECONDS)
        document = status.status("lead-1")
        assert document is not None
        assert document["status"] == "APPROVED"

        # A leader stopped on purpose hands the projection over too.
        leader, standby = (first, second) if first.leading else (second, first)
        leader.stop()
        wait_until(lambda: standby.leading == {"current_status"}, HANDOVER_SECONDS, "a handover")
    finally:
        groups.close()
