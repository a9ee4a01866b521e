"""Limits on what one client can hold of a server process (ADR 23).

uvicorn's httptools protocol reads a request's headers without bound, gives a client
all the time it wants to send them and its body, and leaves a connection that never
sends a request open for ever. ``LimitedHttpProtocol`` is that protocol with counters:

- the request line and headers are counted as they are parsed, and the raw bytes of a
  head still incomplete after a read, so a head over ``max_header_bytes`` or with more
  than ``max_headers`` fields gets 431 and the connection is closed, having read no
  more than the limit and one read of the socket;
- a connection beyond ``max_connections`` gets 503 and is closed as it is accepted;
- each connection notes which phase it is in (idle, head, body, busy); one ``Watch``
  per server process looks over the connections a few times a second and closes those
  that stayed in the same phase of the same request too long: 408 for a head or body
  that did not arrive in time, nothing for an idle connection.

The hot path gains a few assignments and additions per request, no timers and no clock
reads: the watch, not the request, reads the clock.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from app.config import ConnectionLimits

log = logging.getLogger("ledger.http")

IDLE, HEAD, BODY, BUSY = range(4)
"""A connection's phases: waiting for a request, reading its head, reading its body, and
answering it (the application's time, which no limit here covers)."""
REQUEST_LINE_BYTES = 16
"""What a request line adds to its target: the method, spaces, version and line end."""
FIELD_LINE_BYTES = 4
"""What a header line adds to its name and value: ``: `` and the line end."""
LONGEST_LOOK = 1.0
LOOKS_PER_TIMEOUT = 4
SHORTEST_LOOK = 0.05


class RefusedError(Exception):
    """Raised from a parser callback to stop parsing a request that was refused."""


@dataclass(frozen=True)
class LimitedHttp:
    """What uvicorn is given as ``http``: makes the protocol for each connection.

    A plain object of plain fields, so that it goes to ``--workers`` processes as is.
    """

    limits: ConnectionLimits

    def __call__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> LimitedHttpProtocol:
        return LimitedHttpProtocol(config, server_state, app_state, _loop, limits=self.limits)


class Watch:
    """Looks over a server's connections every ``every`` seconds for overstayed phases."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server_state: ServerState) -> None:
        self.loop = loop
        self.connections = server_state.connections
        self.every = LONGEST_LOOK
        self.handle: asyncio.TimerHandle | None = None

    def start(self, limits: ConnectionLimits) -> None:
        shortest = min(limits.header_timeout, limits.body_timeout, limits.idle_timeout)
        self.every = max(SHORTEST_LOOK, min(LONGEST_LOOK, shortest / LOOKS_PER_TIMEOUT))
        self.handle = self.loop.call_later(self.every, self.look)

    def look(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, LimitedHttpProtocol):
                connection.look(now)
        self.handle = self.loop.call_later(self.every, self.look)


WATCHES: weakref.WeakKeyDictionary[ServerState, Watch] = weakref.WeakKeyDictionary()


def watch_over(
    loop: asyncio.AbstractEventLoop, server_state: ServerState, limits: ConnectionLimits
) -> None:
    """Start the server's watch, once."""
    if server_state not in WATCHES:
        watch = WATCHES[server_state] = Watch(loop, server_state)
        watch.start(limits)


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with limits on header size and count, on the time
    to send a head, a body and the next request, and on the connections open at once."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self.timeouts = (limits.idle_timeout, limits.header_timeout, limits.body_timeout, None)
        self.phase = IDLE
        self.requests = 0
        self.raw_head_bytes = 0
        self.head_bytes = 0
        self.header_count = 0
        self.refused = False
        # The watch's notes: the (phase, request) it saw last, and when it first saw it.
        self.seen = (-1, -1)
        self.seen_at = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        watch_over(self.loop, self.server_state, self.limits)
        if len(self.connections) > self.limits.max_connections:
            self.refuse(503, "Too many connections.")

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        if self.phase != BODY:
            # Everything read outside a body is (the start of) a request head.
            self.raw_head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if not self.refused:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        if self.phase != BODY and self.raw_head_bytes > self.limits.max_header_bytes:
            self.refuse(431, "Request header fields too large.")

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.phase = HEAD
        self.requests += 1
        self.head_bytes = REQUEST_LINE_BYTES
        self.header_count = 0

    def on_url(self, url: bytes) -> None:
        self.head_bytes += len(url)
        if self.head_bytes > self.limits.max_header_bytes:
            self.refuse(431, "Request header fields too large.")
            raise RefusedError
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + FIELD_LINE_BYTES
        self.header_count += 1
        if (
            self.head_bytes > self.limits.max_header_bytes
            or self.header_count > self.limits.max_headers
        ):
            self.refuse(431, "Request header fields too large or too many.")
            raise RefusedError
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.phase = BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.phase = BUSY
        self.raw_head_bytes = 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self.phase == BUSY and not self.pipeline:
            self.phase = IDLE
        super().on_response_complete()

    # Limits

    def look(self, now: float) -> None:
        """The watch's visit: note a new phase, or end one that lasted too long."""
        seen = (self.phase, self.requests)
        if seen != self.seen:
            self.seen = seen
            self.seen_at = now
            return
        timeout = self.timeouts[self.phase]
        if timeout is not None and now - self.seen_at >= timeout:
            self.overstayed()

    def overstayed(self) -> None:
        if self.transport.is_closing():
            return
        if self.phase == IDLE:
            self.transport.close()
        elif self.phase == HEAD:
            self.refuse(408, "Request headers not received in time.")
        else:
            self.refuse(408, "Request body not received in time.")

    def may_answer(self) -> bool:
        """Whether an answer of ours would be the only one on the connection now."""
        cycle = self.cycle
        if self.phase in (IDLE, HEAD):
            return cycle is None or cycle.response_complete
        return not self.pipeline and not cycle.response_started

    def refuse(self, status: int, reason: str) -> None:
        """Answer ``status`` (when no other answer is under way) and close, reading no more."""
        if self.refused or self.transport.is_closing():
            return
        self.refused = True
        log.warning("refused a connection: %s %s", status, reason, extra={"status": status})
        if self.may_answer():
            self.transport.write(answer(status, reason, self.server_state.default_headers))
        if self.cycle is not None and not self.cycle.response_complete:
            # The application hears of a disconnect and its answer goes nowhere.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def answer(status: int, reason: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = reason.encode("ascii")
    lines = [STATUS_LINE[status]]
    for name, value in default_headers:
        lines.extend([name, b": ", value, b"\r\n"])
    lines.extend(
        [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
    )
    return b"".join(lines)
