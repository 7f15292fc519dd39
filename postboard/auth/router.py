from typing import Annotated

from fastapi import APIRouter, Form, Response, status

from postboard.auth import service
from postboard.auth.dependencies import (
    AppAuthCounters,
    AppTokenConfig,
    AsCaller,
    AuthenticatedRoute,
    ClientAddress,
    CurrentUser,
    Hasher,
    Throttling,
)
from postboard.auth.schemas import RefreshRequest, Token, UserLogin
from postboard.auth.throttling import AddressBudget, spends_address_budget
from postboard.errors import Forbidden, TooManyRequests, Unauthorized, Unavailable
from postboard.openapi import responses
from postboard.request_db import AppDatabase, Db
from postboard.routing import small_body

router = APIRouter(tags=["Authentication"], responses=responses(Unavailable), route_class=AuthenticatedRoute)


def _do_not_store(response: Response) -> None:
    # Tokens must not linger in any cache between here and the client (RFC 6749, section 5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"


@router.post(
    "/login", response_model=Token, responses=responses(Forbidden, TooManyRequests, Unavailable, body=True)
)
@spends_address_budget(AddressBudget.FAILED_LOGINS)
@small_body
async def login(
    credentials: Annotated[UserLogin, Form()],
    response: Response,
    database: AppDatabase,
    hasher: Hasher,
    throttle: Throttling,
    token_config: AppTokenConfig,
    address: ClientAddress,
) -> Token:
    """Exchanges an email and password (as an OAuth2 password form) for an access and a refresh token.

    Failed attempts are budgeted per account and per client address; past the budget the answer is 429
    with Retry-After, whether or not the account exists. An address past its budget is answered before
    its form is read.
    """
    _do_not_store(response)
    return await service.log_in(database, hasher, throttle, token_config, credentials, address)


@router.post(
    "/token/refresh", response_model=Token, responses=responses(Unauthorized, TooManyRequests, body=True)
)
@spends_address_budget(AddressBudget.FAILED_REFRESHES)
@small_body
async def refresh_token(
    refresh: RefreshRequest,
    response: Response,
    database: AppDatabase,
    throttle: Throttling,
    counters: AppAuthCounters,
    token_config: AppTokenConfig,
    address: ClientAddress,
) -> Token:
    """Exchanges a refresh token for a new access token and a new refresh token; the old one is retired.

    Presenting a retired refresh token again ends its whole login session: every refresh and access token
    issued from it stops working. A refresh token that was never issued is a 401 that ends nothing;
    those 401s are budgeted per client address (429 with Retry-After once spent).
    """
    _do_not_store(response)
    return await service.refresh(database, throttle, counters, token_config, refresh.refresh_token, address)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(Unauthorized))
async def logout(as_caller: AsCaller, user: CurrentUser, db: Db, address: ClientAddress) -> None:
    """Ends the login session of the presented access token: it and its refresh tokens stop working."""
    await service.log_out(db, as_caller.caller.login_session_id, user.id, address)
