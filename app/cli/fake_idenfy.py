"""Serving the fake iDenfy status API: in a thread of this process, until stopped.

``ledger simulate --idenfy-api PORT`` serves it until interrupted; tests start one on a
free port (``tests.support.fake_idenfy``).
"""

from __future__ import annotations

import secrets
import signal
import threading
import time
from typing import Any

import click
import uvicorn

from app.cli.common import fail
from app.http.fake_idenfy import create_fake_idenfy_app
from app.http.fake_idenfy_script import FakeIdenfy

STARTUP_SECONDS = 10.0


class FakeIdenfyServer:
    """The fake iDenfy API served by uvicorn in a thread, on ``host`` and ``port``
    (0: a free port, read from ``url`` once started)."""

    def __init__(self, fake: FakeIdenfy, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self.host = host
        config = uvicorn.Config(
            create_fake_idenfy_app(fake),
            host=host,
            port=port,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-idenfy", daemon=True)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeIdenfyServer:
        """Serve, once listening; ``RuntimeError`` when it cannot (the port is taken...)."""
        self._thread.start()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake iDenfy API did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets: list[Any] = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=STARTUP_SECONDS)

    def __enter__(self) -> FakeIdenfyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_until_interrupted(
    port: int, host: str = "127.0.0.1", script: dict[str, Any] | None = None
) -> None:
    """Serve a fake with new credentials (and ``script``), print where and with what, until
    SIGINT or SIGTERM."""
    fake = FakeIdenfy(api_key=secrets.token_urlsafe(12), api_secret=secrets.token_urlsafe(24))
    if script is not None:
        try:
            fake.set_script(script)
        except ValueError as error:
            fail(f"the script is not one the fake takes: {error}")
    stopping = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopping.set())
    try:
        server = FakeIdenfyServer(fake, host, port).start()
    except RuntimeError as error:
        fail(str(error))
    click.echo(f"IDENFY_API_URL={server.url}")
    click.echo(f"IDENFY_API_KEY={fake.api_key}")
    click.echo(f"IDENFY_API_SECRET={fake.api_secret}")
    click.echo(
        f"fake iDenfy status API at {server.url}/api/v2/status; script it with "
        f"PUT {server.url}/_fake/script, count calls at GET {server.url}/_fake/calls; "
        "Ctrl-C stops",
        err=True,
    )
    stopping.wait()
    server.stop()
