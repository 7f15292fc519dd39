"""Postboard's access log: one record per answered request, written after the answer with its status, its
duration and the authenticated user, and without the secrets a query string can carry.

uvicorn's own access log is turned off by `postboard serve`: it knows neither the user nor the request
id, and writes each request line as the client sent it, query string included. A client that puts its
token in the URL (`?access_token=…`) is refused, but the token would stay in the log for whoever reads it.
"""

import logging
import time
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS_LOGGER_NAME = "postboard.access"
logger = logging.getLogger(ACCESS_LOGGER_NAME)

# The parameters Postboard reads (those of GET /posts/): a page size, an offset, a title search and an
# opaque position cursor. None is a credential, and an operator needs them to replay a slow listing. No
# route reads any other, so any other is hidden, name and all: a client may send a bare `?<token>`.
SHOWN_PARAMETERS = frozenset({"limit", "skip", "search", "before"})
HIDDEN = "[redacted]"
# Where authentication leaves the id of the user a verified token names, in the request's ASGI scope.
USER_ID_SCOPE_KEY = "postboard.user_id"
_UNAUTHORIZED = 401
# What Starlette answers when the app raised before answering.
_UNANSWERED_STATUS = 500


def redact_query_string(target: str) -> str:
    """`target` (a path and maybe `?query`) with every parameter outside SHOWN_PARAMETERS hidden."""
    path, separator, query = target.partition("?")  # a `?` within the path arrives percent-encoded
    if not separator:
        return target
    return f"{path}?{'&'.join(map(_shown_or_hidden, query.split('&')))}"


def _shown_or_hidden(parameter: str) -> str:
    name = parameter.partition("=")[0]
    # Decoded as the app decodes it, so `lim%69t=5` is shown like `limit=5`.
    return parameter if unquote_plus(name) in SHOWN_PARAMETERS else HIDDEN


def record_user_id(scope: Scope, user_id: int) -> None:
    """Called by authentication once a token is verified: the access line names the user."""
    scope[USER_ID_SCOPE_KEY] = user_id


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _target(scope: Scope) -> str:
    """The path as the client sent it (raw, percent-encoded as sent), and its query string redacted."""
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return redact_query_string(f"{path}?{query}" if query else path)


def log_access(scope: Scope, status: int, duration_ms: float) -> None:
    # A 401 refused the token: whoever it named is not authenticated.
    user_id = scope.get(USER_ID_SCOPE_KEY) if status != _UNAUTHORIZED else None
    client = _client_address(scope)
    logger.info(
        '%s - "%s %s HTTP/%s" %d %.1fms user=%s',
        client,
        scope["method"],
        _target(scope),
        scope.get("http_version", "1.1"),
        status,
        duration_ms,
        "-" if user_id is None else user_id,
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round(duration_ms, 3),
            "user_id": user_id,
            "client": client,
        },
    )


class AccessLog:
    """Logs each HTTP request once it is answered (or has failed: Starlette then answers 500)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = _UNANSWERED_STATUS

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            log_access(scope, status, (time.perf_counter() - started) * 1000)
