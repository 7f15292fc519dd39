"""Domain errors, every message a client can see, and the handlers that turn errors into responses."""

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from limits.errors import StorageError
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from postboard.headers import security_headers
from postboard.reads import DatabaseUnavailable

logger = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    detail: str


class DomainError(Exception):
    """An outcome the contract names: it carries its status and the message the client sees."""

    status_code: ClassVar[int] = status.HTTP_400_BAD_REQUEST
    description: ClassVar[str] = "Bad request"
    headers: ClassVar[dict[str, str] | None] = None
    # Whether its answer says in Retry-After when to try again (documented in OpenAPI).
    has_retry_after: ClassVar[bool] = False

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def response_headers(self) -> dict[str, str] | None:
        return self.headers


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    description = "Not found"


class Forbidden(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    description = "Forbidden"


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    description = "Conflict"


class Unauthorized(DomainError):
    status_code = status.HTTP_401_UNAUTHORIZED
    description = "Missing or invalid bearer token"
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012  (read-only class constant)


class Unavailable(DomainError):
    """Raised by no code: documents the 503 answered when the database or the throttling counters'
    Redis cannot be reached, or every pooled database connection stayed busy past the pool timeout."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    description = (
        "The database or the rate limiter is unreachable or busy; Retry-After says when to try again"
    )
    has_retry_after = True


class TooManyRequests(DomainError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    description = "Too many attempts; Retry-After says when to try again"
    has_retry_after = True

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds

    @property
    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


# Every message a client can see: the course's in its exact wording, then Postboard's own.
NOT_AUTHENTICATED = "Not authenticated"
INVALID_TOKEN = "Could not validate credentials"
INVALID_CREDENTIALS = "Invalid Credentials"
NOT_OWNER = "Not authorized to perform requested action"
VOTE_NOT_FOUND = "Vote does not exist"
VOTE_ADDED = "successfully added vote"
VOTE_DELETED = "successfully deleted vote"
DATABASE_UNAVAILABLE = "The database is unavailable, try again shortly"
INTERNAL_ERROR = "Internal Server Error"
INVALID_REFRESH_TOKEN = "Invalid or expired refresh token"
WRONG_PASSWORD = "The current password is incorrect"
TOO_MANY_LOGIN_FAILURES = "Too many failed login attempts, try again later"
TOO_MANY_REGISTRATIONS = "Too many registrations from this address, try again later"
TOO_MANY_PASSWORD_FAILURES = "Too many wrong passwords on this login session, try again later"
TOO_MANY_EMAIL_CHANGES = "Too many email changes on this account, try again later"
TOO_MANY_REFRESH_FAILURES = "Too many invalid refresh tokens from this address, try again later"
RATE_LIMITER_UNAVAILABLE = "The rate limiter is unavailable, try again shortly"


def body_too_large(max_bytes: int) -> str:
    return f"Request body is larger than the limit of {max_bytes} bytes"


def email_taken(email: str) -> str:
    return f"User with email: {email} already exists"


def user_not_found(user_id: int) -> str:
    return f"User with id: {user_id} does not exist"


def post_not_found_for_read(post_id: int) -> str:
    return f"post with id: {post_id} was not found"


def post_not_found_for_write(post_id: int) -> str:
    return f"post with id: {post_id} does not exist"


def post_not_found_for_vote(post_id: int) -> str:
    return f"Post with id: {post_id} does not exist"


def already_voted(user_id: int, post_id: int) -> str:
    return f"user {user_id} has already voted on post {post_id}"


_RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}


def responses(*errors: type[DomainError], body: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entry for the domain errors a route can raise; `body` adds the 400 that
    FastAPI itself answers to a body it cannot decode (not UTF-8, nested too deeply) and the 413 for a
    body over the size limit."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        documented[error.status_code] = {"model": ErrorDetail, "description": error.description}
        if error.has_retry_after:
            documented[error.status_code]["headers"] = {"Retry-After": _RETRY_AFTER}
    if body:
        documented[status.HTTP_400_BAD_REQUEST] = {"model": ErrorDetail, "description": "Undecodable body"}
        documented[status.HTTP_413_CONTENT_TOO_LARGE] = {
            "model": ErrorDetail,
            "description": "Body over the size limit",
        }
    return documented


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
# Given a request, the authentication error it deserves, if its route needs a token and it lacks a good one.
AuthenticationCheck = Callable[[Request], Awaitable[DomainError | None]]


def _body_error_handlers(
    check_authentication: AuthenticationCheck,
) -> tuple[ExceptionHandler, ExceptionHandler]:
    """Handlers for bodies FastAPI refuses before it resolves dependencies, where the contract wants
    authentication checked first: an undecodable body (400) and invalid JSON (422)."""

    async def authentication_first(request: Request, body_error: JSONResponse) -> JSONResponse:
        auth_error = await check_authentication(request)
        return body_error if auth_error is None else await _domain_error_handler(request, auth_error)

    async def undecodable_body(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        response = JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=error.headers
        )
        return await authentication_first(request, response)

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        errors = error.errors()
        detail = jsonable_encoder(_client_safe(errors))
        response = _AsciiJSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
        if any(item.get("type") == "json_invalid" for item in errors):
            return await authentication_first(request, response)
        return response

    return undecodable_body, invalid_request


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


async def _method_not_allowed_handler(request: Request, _error: Exception) -> JSONResponse:
    # Starlette's own 405 names only the methods of the first route on the path: GET /posts/ hid POST.
    allowed = [method for method in _METHODS if _is_routed(request, method)]
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": ", ".join(allowed)},
    )


def _is_routed(request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def _unavailable_handler(what: str, detail: str) -> ExceptionHandler:
    """A 503 for a backing service that cannot be reached: the request can be retried once it is back."""

    async def handler(request: Request, error: Exception) -> JSONResponse:
        logger.error("%s unavailable during %s %s: %s", what, request.method, request.url.path, error)
        return JSONResponse(
            {"detail": detail}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"}
        )

    return handler


def _lost_connection_handler(database_unavailable: ExceptionHandler) -> ExceptionHandler:
    """The driver's internal errors: a 503 where they meant a lost connection (the pool has dropped it),
    else the bug they are."""

    async def handler(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, InternalError)
        if error.connection_invalidated:
            return await database_unavailable(request, error)
        return await _unexpected_error_handler(request, error)

    return handler


async def _unexpected_error_handler(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error during %s %s", request.method, request.url.path, exc_info=error)
    # Starlette answers this one outside every middleware, so the security headers are added here.
    headers = security_headers(request.url.path, authenticated="authorization" in request.headers)
    return JSONResponse(
        {"detail": INTERNAL_ERROR}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR, headers=headers
    )


def install_error_handlers(app: FastAPI, check_authentication: AuthenticationCheck) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    undecodable_body, invalid_request = _body_error_handlers(check_authentication)
    app.add_exception_handler(status.HTTP_400_BAD_REQUEST, undecodable_body)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed_handler)
    # Lost connections and refused connects to the database, and no pooled connection free in time.
    database_unavailable = _unavailable_handler("database", DATABASE_UNAVAILABLE)
    for error_type in (OperationalError, InterfaceError, ConnectionError, PoolTimeout, DatabaseUnavailable):
        app.add_exception_handler(error_type, database_unavailable)
    app.add_exception_handler(InternalError, _lost_connection_handler(database_unavailable))
    # Throttling fails closed: without its counters, logins and registrations wait rather than go unchecked.
    app.add_exception_handler(StorageError, _unavailable_handler("rate limiter", RATE_LIMITER_UNAVAILABLE))
    app.add_exception_handler(Exception, _unexpected_error_handler)
