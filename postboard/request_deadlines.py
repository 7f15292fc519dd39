"""Deadlines for a request's head and body, which uvicorn lacks.

uvicorn 0.54 times out only a keep-alive connection left idle after an answer (`timeout_keep_alive`), and
with httptools not even a new connection that never sends a byte: a client sending one byte a second
holds a connection, and its buffers, for as long as it likes ("slowloris"). Its other limits do not help:
`limit_concurrency` would answer 503 to everyone once such clients hold that many connections, and
`h11_max_incomplete_event_size` caps the size of a head, not the time it takes.
"""

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState


@dataclass(frozen=True)
class RequestDeadlines:
    """Seconds a client has to send a request's head (from the connection, or the request's first byte
    on a kept-alive connection), then its body (from the end of the head)."""

    head_seconds: float
    body_seconds: float


class RequestDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request head or body is late."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        deadlines: RequestDeadlines,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.deadlines = deadlines
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._set_deadline(self.deadlines.head_seconds)  # a connection that never sends is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.deadline is None:  # the first request's head is timed from the connection
            self._set_deadline(self.deadlines.head_seconds)

    def on_headers_complete(self) -> None:
        self._clear_deadline()
        super().on_headers_complete()
        # Cleared at once by on_message_complete when the request has no body.
        self._set_deadline(self.deadlines.body_seconds)

    def on_message_complete(self) -> None:
        self._clear_deadline()
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._clear_deadline()  # the connection is the WebSocket protocol's from here on
        super().handle_websocket_upgrade()

    def _set_deadline(self, seconds: float) -> None:
        self._clear_deadline()
        self.deadline = self.loop.call_later(seconds, self._close_late_connection)

    def _clear_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _close_late_connection(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with_deadlines(deadlines: RequestDeadlines) -> type[asyncio.Protocol]:
    """What to pass uvicorn as `http=`. uvicorn calls it as it calls a protocol class, and pickles it into
    each worker process: a partial of a module-level class survives both, where a class made here would
    not pickle. Hence the cast: uvicorn's annotation asks for a class."""
    return cast("type[asyncio.Protocol]", partial(RequestDeadlineProtocol, deadlines=deadlines))
