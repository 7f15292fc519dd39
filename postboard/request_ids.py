"""Following a request: its id, kept from the client's `X-Request-ID` when valid or made here, sent back
on every answer and readable by logging through a context variable."""

import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

from postboard.middleware import adding_headers

HEADER = "X-Request-ID"
_RAW_HEADER = HEADER.lower().encode()
MAX_LENGTH = 128
# Printable ASCII: what a log line and a header can carry as is, with no control character to forge lines.
_PRINTABLE = frozenset(range(0x20, 0x7F))

# Not reset at the end of a request: each request runs in a task of its own under a server, and Starlette
# answers an unexpected error (the 500) after every middleware has returned, when its handler still needs
# the id.
_current: ContextVar[str | None] = ContextVar("postboard_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return _current.get()


def is_valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= MAX_LENGTH and all(byte in _PRINTABLE for byte in value)


def new_request_id() -> str:
    return uuid.uuid4().hex


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _RAW_HEADER:
            return value.decode("ascii") if is_valid_request_id(value) else None
    return None


class RequestIds:
    """The outermost middleware: sets the request's id before anything else runs, so that every record
    logged while serving it carries the id, and adds the id to the answer unless the answer has it (the
    unexpected-error handler adds it itself, its answer being sent outside every middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or new_request_id()
        _current.set(request_id)
        await self.app(scope, receive, adding_headers(send, [(_RAW_HEADER, request_id.encode("ascii"))]))
