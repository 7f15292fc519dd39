"""Who is calling: the bearer token checked, the user and login session it names loaded; and from where."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.models import RefreshFamily
from postboard.auth.passwords import PasswordHasher
from postboard.auth.throttling import Throttle
from postboard.auth.tokens import InvalidToken, TokenConfig, verify_access_token
from postboard.db import Session, get_database, is_storable_id, utc_now
from postboard.errors import INVALID_TOKEN, NOT_AUTHENTICATED, DomainError, Unauthorized
from postboard.users.models import User

# auto_error=False: the missing-token answer is ours, in the contract's words.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="login", auto_error=False)


def get_token_config(request: Request) -> TokenConfig:
    config: TokenConfig = request.app.state.token_config
    return config


def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.password_hasher
    return hasher


def get_throttle(request: Request) -> Throttle:
    throttle: Throttle = request.app.state.throttle
    return throttle


def get_client_address(request: Request) -> str:
    """The peer's address, or the one a trusted proxy forwarded (the proxy-headers middleware decides)."""
    return request.client.host if request.client else "unknown"


Tokens = Annotated[TokenConfig, Depends(get_token_config)]
Hasher = Annotated[PasswordHasher, Depends(get_password_hasher)]
Throttling = Annotated[Throttle, Depends(get_throttle)]
ClientAddress = Annotated[str, Depends(get_client_address)]


@dataclass(frozen=True)
class Caller:
    """An authenticated request's user, and the login session its token was issued from."""

    user: User
    session_id: str


async def authenticate(token: str | None, session: AsyncSession, config: TokenConfig) -> Caller:
    if not token:
        raise Unauthorized(NOT_AUTHENTICATED)
    try:
        claims = verify_access_token(token, config)
    except InvalidToken:
        raise Unauthorized(INVALID_TOKEN) from None
    if not is_storable_id(claims.user_id):
        raise Unauthorized(INVALID_TOKEN)
    # The session must still exist: logout, a password change, refresh-token reuse and account deletion
    # delete it, and every worker sees that in the same query that loads the user.
    user = await session.scalar(
        select(User)
        .join(RefreshFamily, RefreshFamily.user_id == User.id)
        .where(
            User.id == claims.user_id,
            RefreshFamily.id == claims.session_id,
            RefreshFamily.expires_at > utc_now(),
        )
    )
    if user is None:
        raise Unauthorized(INVALID_TOKEN)
    return Caller(user, claims.session_id)


async def get_caller(
    token: Annotated[str | None, Depends(oauth2_scheme)], session: Session, config: Tokens
) -> Caller:
    return await authenticate(token, session, config)


async def get_current_user(caller: Annotated[Caller, Depends(get_caller)]) -> User:
    return caller.user


CurrentCaller = Annotated[Caller, Depends(get_caller)]
CurrentUser = Annotated[User, Depends(get_current_user)]


def _needs_authentication(dependant: Dependant) -> bool:
    return any(sub.call is get_caller or _needs_authentication(sub) for sub in dependant.dependencies)


async def authentication_error(request: Request) -> DomainError | None:
    """For a request FastAPI refused before resolving dependencies: the auth error it deserves, if any."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not _needs_authentication(route.dependant):
        return None
    database = get_database(request)
    try:
        async with database.session(writes=False) as session:
            await authenticate(await oauth2_scheme(request), session, get_token_config(request))
    except Unauthorized as error:
        return error
    return None
