"""The handlers that turn errors into responses: domain errors, refused requests (with no secret echoed
back), 405s, unreachable services, and the unexpected."""

import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits.errors import StorageError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from postboard.errors import DATABASE_UNAVAILABLE, INTERNAL_ERROR, RATE_LIMITER_UNAVAILABLE, DomainError
from postboard.headers import security_headers
from postboard.logs import mark_logged
from postboard.outages import database_unavailable
from postboard.reads import DatabaseUnavailable
from postboard.request_ids import HEADER as REQUEST_ID_HEADER
from postboard.request_ids import current_request_id
from postboard.routing import method_not_allowed

logger = logging.getLogger(__name__)


# Fields whose submitted value must never be echoed back in a validation error.
_SECRET_FIELDS = frozenset({"password", "current_password", "new_password", "refresh_token"})
# An echoed value helps a client find its mistake; a longer one only makes the answer as large as the
# request (a megabyte "email" came back whole), at the server's expense.
_ECHO_MAX_CHARACTERS = 1000


def _may_echo_input(error: dict[str, Any]) -> bool:
    """Whether a refused value can be shown back: never one that is or may hold a secret, nor what JSON
    cannot carry (Infinity), nor a long one."""
    location = tuple(str(part) for part in error.get("loc", ()))
    value = error.get("input")
    if error.get("type") == "extra_forbidden":
        return False  # a misnamed field ("refreshToken", "passwd") may hold a secret all the same
    if _SECRET_FIELDS.intersection(location) or location == ("body",):
        return False  # a whole body refused as such (form-encoded, plain text) may hold a password
    if isinstance(value, dict) and _SECRET_FIELDS.intersection(value):
        return False  # a missing field's error echoes the rest of the body
    if isinstance(value, str) and len(value) > _ECHO_MAX_CHARACTERS:
        return False  # before encoding it: a megabyte is not worth walking through
    try:
        echoed = json.dumps(jsonable_encoder(value), allow_nan=False)
    except ValueError:
        return False
    return len(echoed) <= _ECHO_MAX_CHARACTERS


def _client_safe(errors: Sequence[Any]) -> list[dict[str, Any]]:
    safe = []
    for error in errors:
        safe.append(error if _may_echo_input(error) else {k: v for k, v in error.items() if k != "input"})
    return safe


async def _domain_error_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return JSONResponse(
        {"detail": error.detail}, status_code=error.status_code, headers=error.response_headers
    )


class _AsciiJSONResponse(JSONResponse):
    """Escapes non-ASCII: a refused input echoed back may hold a lone surrogate, which UTF-8 cannot encode."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


ExceptionHandler = Callable[[Request, Exception], Awaitable[JSONResponse]]


async def _undecodable_body_handler(_request: Request, error: Exception) -> JSONResponse:
    """A body FastAPI cannot decode (not UTF-8, nested too deeply): its 400, as JSON."""
    assert isinstance(error, StarletteHTTPException)
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)


async def _invalid_request_handler(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail = jsonable_encoder(_client_safe(error.errors()))
    return _AsciiJSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


# During an outage every request fails alike: one line per interval for each route and kind of error says
# so, counting the others (each 503 still has its access line), rather than hundreds of lines a second
# burying what came before.
UNAVAILABLE_LOG_INTERVAL_SECONDS = 10.0


class LogPacing:
    """Lets one record of each kind through per `interval_seconds`, counting those held back in between.
    The kinds must be few (here: routes and error types)."""

    def __init__(self, interval_seconds: float) -> None:
        self._interval_seconds = interval_seconds
        self._next_at: dict[Hashable, float] = {}
        self._held_back: dict[Hashable, int] = {}

    def take(self, kind: Hashable) -> int | None:
        """None to hold this record back; else how many of its kind were held back since the last one."""
        now = time.monotonic()
        if now < self._next_at.get(kind, float("-inf")):
            self._held_back[kind] = self._held_back.get(kind, 0) + 1
            return None
        self._next_at[kind] = now + self._interval_seconds
        return self._held_back.pop(kind, 0)


def _unavailable_handler(what: str, detail: str) -> ExceptionHandler:
    """A 503 for a backing service that cannot be reached: the request can be retried once it is back."""
    pacing = LogPacing(UNAVAILABLE_LOG_INTERVAL_SECONDS)

    async def handler(request: Request, error: Exception) -> JSONResponse:
        route = _route_of(request)
        held_back = pacing.take((request.method, route, type(error)))
        if held_back is not None:
            also = f" ({held_back} more like it since the last such line)" if held_back else ""
            logger.error("%s unavailable during %s %s: %s%s", what, request.method, route, error, also)
        return JSONResponse(
            {"detail": detail}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
        )

    return handler


def _database_error_handler(database_unavailable_handler: ExceptionHandler) -> ExceptionHandler:
    """The database's errors, and the system's: a 503 where they say that the database is out of reach
    (outages.py tells which), else the bug they are."""

    async def handler(request: Request, error: Exception) -> JSONResponse:
        if isinstance(error, DatabaseUnavailable) or database_unavailable(error):
            return await database_unavailable_handler(request, error)
        return await _unexpected_error_handler(request, error)

    return handler


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(no route)"


async def _unexpected_error_handler(request: Request, error: Exception) -> JSONResponse:
    route = _route_of(request)
    logger.exception(
        "unhandled error during %s %s (route %s)",
        request.method,
        request.url.path,
        route,
        exc_info=error,
        extra={"method": request.method, "path": request.url.path, "route": route},
    )
    mark_logged(error)
    # Starlette answers this one outside every middleware, so the security headers and the request's id
    # are added here.
    headers = security_headers(request.url.path, authenticated="authorization" in request.headers)
    request_id = current_request_id()
    body: dict[str, str] = {"detail": INTERNAL_ERROR}
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = body["request_id"] = request_id
    return JSONResponse(body, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(status.HTTP_400_BAD_REQUEST, _undecodable_body_handler)
    app.add_exception_handler(RequestValidationError, _invalid_request_handler)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, method_not_allowed)
    # Lost connections and refused connects to the database, a server shutting down or starting up, no
    # pooled connection free in time, a statement past the statement timeout: 503. The errors of these
    # types that say none of that: 500.
    database_errors = _database_error_handler(_unavailable_handler("database", DATABASE_UNAVAILABLE))
    for error_type in (
        DBAPIError,  # SQLAlchemy's, wrapping the driver's
        PoolTimeout,
        OSError,
        asyncpg.PostgresError,  # the driver's own, unwrapped
        asyncpg.InterfaceError,
        asyncpg.exceptions.InternalClientError,
        DatabaseUnavailable,  # the read path's
    ):
        app.add_exception_handler(error_type, database_errors)
    # Throttling fails closed: without its counters, logins and registrations wait rather than go unchecked.
    app.add_exception_handler(StorageError, _unavailable_handler("rate limiter", RATE_LIMITER_UNAVAILABLE))
    app.add_exception_handler(Exception, _unexpected_error_handler)
