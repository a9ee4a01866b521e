"""The service's processes leave what they made at start-up out of later garbage
collections (``app.heap``, ADR 36); an application built for a test does not."""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from app.bootstrap import set_up_store
from app.config import environment, load
from app.heap import settle
from app.server import create_app_from_environment, served_app
from tests.support.settings import environment as service_environment


@pytest.fixture
def configured(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment ``ledger serve`` gives its server, over a store set up as it does."""
    for name, value in service_environment(sqlite_url).items():
        monkeypatch.setenv(name, value)
    set_up_store(load(environment())).views.datastore.close()
    interval = sys.getswitchinterval()
    yield
    sys.setswitchinterval(interval)
    gc.unfreeze()


def test_settling_leaves_what_exists_out_of_later_collections() -> None:
    try:
        settle()
        frozen = gc.get_freeze_count()
        made_since: list[object] = []

        assert frozen > 1000  # the modules, classes and functions loaded so far
        assert gc.get_freeze_count() == frozen
        assert any(o is made_since for o in gc.get_objects(generation=0))
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(
    ("build", "settled"), [(served_app, True), (create_app_from_environment, False)]
)
def test_the_served_application_settles_its_heap_once_started(
    configured: None, build: Callable[[], object], settled: bool
) -> None:
    gc.unfreeze()
    app = build()
    assert gc.get_freeze_count() == 0  # not before it has started

    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 200
        assert (gc.get_freeze_count() > 0) is settled
