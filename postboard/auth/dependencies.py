"""Who is calling: the bearer token verified (no database), and for writes the user and the login session
it names loaded in the request's transaction; and from where."""

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException

from postboard.access_log import record_user_id
from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.models import LoginSession
from postboard.auth.passwords import PasswordHasher
from postboard.auth.reads import (
    LIVE_LOGIN_SESSION,
    CallerReads,
    login_session_is_alive,
    login_session_parameters,
)
from postboard.auth.service import count_write
from postboard.auth.throttling import AddressBudget, Throttle, address_budget_of
from postboard.auth.tokens import Caller, TokenConfig, TokenVerifier
from postboard.errors import (
    ADMINS_ONLY,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    EmailUnverified,
    Forbidden,
    TooManyRequests,
    Unauthorized,
)
from postboard.metrics import AuthCounters
from postboard.orm import is_storable_id
from postboard.request_db import Db, app_database, writes
from postboard.users.models import Role, User

# Where AuthenticatedRoute leaves the caller it verified, in the request's ASGI scope.
_CALLER_KEY = "postboard.caller"


async def get_token_config(request: Request) -> TokenConfig:
    config: TokenConfig = request.app.state.token_config
    return config


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


async def get_throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


async def get_auth_counters(request: Request) -> AuthCounters:
    counters: AuthCounters = request.app.state.auth_counters
    return counters


async def get_client_address(request: Request) -> str:
    """The peer's address, or the one a trusted proxy forwarded (the proxy-headers middleware decides)."""
    return request.client.host if request.client else "unknown"


AppTokenConfig = Annotated[TokenConfig, Depends(get_token_config)]
Hasher = Annotated[PasswordHasher, Depends(get_password_hasher)]
Throttling = Annotated[Throttle, Depends(get_throttle)]
AppAuthCounters = Annotated[AuthCounters, Depends(get_auth_counters)]
ClientAddress = Annotated[str, Depends(get_client_address)]


def check_bearer_token(request: Request, token: str | None) -> Caller | str:
    """The caller a bearer token names, or why it is refused (the 401's detail); without the database."""
    if not token:
        return NOT_AUTHENTICATED
    verifier: TokenVerifier = request.app.state.token_verifier
    claims = verifier.verify(token)
    if claims is None or not is_storable_id(claims.user_id):
        return INVALID_TOKEN
    return Caller(claims.user_id, claims.login_session_id)


def verified_caller(request: Request, token: str | None) -> Caller:
    checked = check_bearer_token(request, token)
    if isinstance(checked, str):
        raise Unauthorized(checked)
    return checked


def _bearer_token(request: Request) -> str | None:
    """The token of the `Authorization: Bearer` header, read as OAuth2PasswordBearer reads it."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


class BearerScheme(OAuth2PasswordBearer):
    """The protected routes' security scheme (OpenAPI's lock, the docs' Authorize button), resolved to what
    the request may read for the caller its token names.

    One dependency where the scheme, the caller and the database would be three: FastAPI spends about 6%
    of a read on resolving each dependency.
    """

    async def __call__(self, request: Request) -> CallerReads:  # type: ignore[override]
        caller: Caller | None = request.scope.get(_CALLER_KEY)  # verified already by AuthenticatedRoute
        if caller is None:
            caller = verified_caller(request, _bearer_token(request))
            record_user_id(request.scope, caller.user_id)
        return CallerReads(caller, app_database(request))


# auto_error=False: the missing-token answer is ours, in the contract's words.
bearer_scheme = BearerScheme(tokenUrl="login", auto_error=False)
AsCaller = Annotated[CallerReads, Depends(bearer_scheme)]


# The caller's user, joined to their login session while it is alive; built once.
_CALLER_IN_A_LIVE_LOGIN_SESSION = (
    select(User)
    .join(LoginSession, LoginSession.user_id == User.id)
    .where(User.id == bindparam("user_id"), *LIVE_LOGIN_SESSION)
)


async def user_in_live_login_session(db: AsyncSession, caller: Caller) -> User:
    """The caller's user, loaded in `db`'s transaction while their login session is alive; else 401."""
    user = await db.scalar(_CALLER_IN_A_LIVE_LOGIN_SESSION, login_session_parameters(caller))
    if user is None:
        raise Unauthorized(INVALID_TOKEN)
    return user


async def get_current_user(request: Request, as_caller: AsCaller, db: Db) -> AsyncIterator[User]:
    """The caller's user, if their login session is alive: logout, a password change, refresh-token reuse
    and account deletion delete it, and every worker sees that in the same query that loads the user.

    With a read replica, a write that succeeds is counted on its login session after the route, in the same
    transaction. Counted before the route, the login session's row would stay locked through it, and a write
    racing a password change of the same user (which locks the user, then deletes the login sessions) could
    deadlock with it.
    """
    caller = as_caller.caller
    user = await user_in_live_login_session(db, caller)
    yield user
    if as_caller.database.has_replica and writes(request):  # a GET (an admin's read) wrote nothing
        await count_write(db, caller.login_session_id)


# scope="function": the write is counted before the request's transaction commits.
CurrentUser = Annotated[User, Depends(get_current_user, scope="function")]


def check_may_post(request: Request, user: User) -> None:
    """With REQUIRE_VERIFIED_EMAIL, writing posts and voting need a verified email (else 403)."""
    if request.app.state.require_verified_email and user.email_verified_at is None:
        raise EmailUnverified


async def get_posting_user(request: Request, user: CurrentUser) -> User:
    """The current user, if they may write posts and vote; checked on the row CurrentUser loaded already."""
    check_may_post(request, user)
    return user


PostingUser = Annotated[User, Depends(get_posting_user, scope="function")]


def check_is_admin(user: User) -> None:
    """403 unless `user`, loaded in this request, is an admin: the role is never carried in a token or a
    cookie, so an admin who is made a member is refused from their next request on."""
    if user.role != Role.ADMIN:
        raise Forbidden(ADMINS_ONLY)


async def get_current_admin(user: CurrentUser) -> User:
    """The caller's user if an admin, else 403."""
    check_is_admin(user)
    return user


CurrentAdmin = Annotated[User, Depends(get_current_admin)]


def _needs_authentication(dependant: Dependant) -> bool:
    return any(sub.call is bearer_scheme or _needs_authentication(sub) for sub in dependant.dependencies)


# The two refusals' bodies, rendered once (a new Response each time: middleware may add to its headers).
_REFUSAL_BODIES = {
    detail: json.dumps({"detail": detail}).encode() for detail in (NOT_AUTHENTICATED, INVALID_TOKEN)
}


def _refusal(detail: str) -> Response:
    return Response(
        _REFUSAL_BODIES[detail], Unauthorized.status_code, Unauthorized.headers, media_type="application/json"
    )


RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]


class AuthenticatedRoute(APIRoute):
    """A route that checks the bearer token, if it needs one, before FastAPI reads its parameters and body;
    and, if its endpoint `spends_address_budget`, refuses an address that has spent it, before that too.

    A refused token then costs no dependency resolution, no body parsing and no exception unwinding: it
    is answered for about the price of a hello, so a flood of forged tokens buys an attacker nothing.
    The verified caller is handed to `bearer_scheme`, which does not verify it again. Likewise an address
    that is being throttled costs no parsing, however large or odd its bodies.
    """

    def get_route_handler(self) -> RouteHandler:
        handler = super().get_route_handler()
        if _needs_authentication(self.dependant):
            handler = _authenticating_first(handler)
        budget = address_budget_of(self.endpoint)
        if budget is not None:
            handler = _throttling_first(handler, budget)
        return handler


def _authenticating_first(handler: RouteHandler) -> RouteHandler:
    async def authenticate_first(request: Request) -> Response:
        checked = check_bearer_token(request, _bearer_token(request))
        if isinstance(checked, str):
            return _refusal(checked)
        request.scope[_CALLER_KEY] = checked
        record_user_id(request.scope, checked.user_id)
        try:
            return await handler(request)
        except (RequestValidationError, StarletteHTTPException) as refused:
            # A body FastAPI cannot read is refused before any dependency runs, the one that asks whether
            # the token's login session is alive included: the contract answers a dead one first.
            if _refused_unread(refused) and not await login_session_is_alive(app_database(request), checked):
                return _refusal(INVALID_TOKEN)
            raise

    return authenticate_first


def _refused_unread(error: RequestValidationError | StarletteHTTPException) -> bool:
    """Whether FastAPI refused the body before resolving dependencies: undecodable (400) or not JSON."""
    if isinstance(error, StarletteHTTPException):
        return error.status_code == status.HTTP_400_BAD_REQUEST
    return any(problem.get("type") == "json_invalid" for problem in error.errors())


def _throttling_first(handler: RouteHandler, budget: AddressBudget) -> RouteHandler:
    async def throttle_first(request: Request) -> Response:
        throttle = await get_throttle(request)
        address = await get_client_address(request)
        try:
            await throttle.refuse_spent_address(budget, address)
        except TooManyRequests:
            log_auth_event(AuthEvent.THROTTLED, address)
            raise
        return await handler(request)

    return throttle_first
