"""Who is calling: the bearer token checked, and the user it names loaded."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.passwords import PasswordHasher
from postboard.auth.tokens import InvalidToken, TokenConfig, verify_access_token
from postboard.db import Session, get_database, is_storable_id
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


Tokens = Annotated[TokenConfig, Depends(get_token_config)]
Hasher = Annotated[PasswordHasher, Depends(get_password_hasher)]


async def authenticate(token: str | None, session: AsyncSession, config: TokenConfig) -> User:
    if not token:
        raise Unauthorized(NOT_AUTHENTICATED)
    try:
        user_id = verify_access_token(token, config).id
    except InvalidToken:
        raise Unauthorized(INVALID_TOKEN) from None
    user = await session.get(User, user_id) if is_storable_id(user_id) else None
    if user is None:
        raise Unauthorized(INVALID_TOKEN)
    return user


async def get_current_user(
    token: Annotated[str | None, Depends(oauth2_scheme)], session: Session, config: Tokens
) -> User:
    return await authenticate(token, session, config)


CurrentUser = Annotated[User, Depends(get_current_user)]


def _needs_authentication(dependant: Dependant) -> bool:
    return any(sub.call is get_current_user or _needs_authentication(sub) for sub in dependant.dependencies)


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
