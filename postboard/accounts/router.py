from typing import Annotated, Any

from fastapi import Depends, status

from postboard.accounts import service
from postboard.accounts.dependencies import AppAccountMails, AppEmailRules
from postboard.accounts.service import PasswordCheck
from postboard.auth.dependencies import (
    AsCaller,
    AuthenticatedRoute,
    ClientAddress,
    Hasher,
    Throttling,
)
from postboard.auth.throttling import AddressBudget, spends_address_budget
from postboard.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, Unavailable
from postboard.fields import PathId
from postboard.openapi import responses
from postboard.request_db import AppDatabase
from postboard.routing import CollectionRouter, small_body
from postboard.users.models import User
from postboard.users.schemas import (
    AccountDeletion,
    MeOut,
    PasswordChange,
    UserCreate,
    UserOut,
    UserUpdate,
)

router = CollectionRouter(
    prefix="/users", tags=["Users"], responses=responses(Unavailable), route_class=AuthenticatedRoute
)
# What a route that checks the caller's password can answer besides success.
_PASSWORD_CHECKED = (Unauthorized, Forbidden, TooManyRequests, Unavailable)


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=responses(Conflict, TooManyRequests, Unavailable, body=True),
)
@spends_address_budget(AddressBudget.REGISTRATIONS)
@small_body
async def create_user(
    new_user: UserCreate,
    database: AppDatabase,
    hasher: Hasher,
    throttle: Throttling,
    mails: AppAccountMails,
    address: ClientAddress,
) -> User:
    """Registers an account, and mails a link that verifies its address. Emails are case-insensitive: one
    account per address in any letter case.

    Registrations are budgeted per client address; past the budget the answer is 429 with Retry-After,
    before the body is read.
    """
    return await service.register(database, hasher, throttle, mails, new_user, address)


@router.get("/me", response_model=MeOut, responses=responses(Unauthorized))
async def get_me(as_caller: AsCaller) -> dict[str, Any]:
    """The account the bearer token belongs to, with its role (member or admin) and whether its email is
    verified."""
    return await service.get_caller_account(as_caller)


async def get_password_check(hasher: Hasher, throttle: Throttling, address: ClientAddress) -> PasswordCheck:
    return PasswordCheck(hasher, throttle, address)


CallerPasswordCheck = Annotated[PasswordCheck, Depends(get_password_check)]


@router.patch("/me", response_model=MeOut, responses=responses(*_PASSWORD_CHECKED, Conflict, body=True))
async def update_me(
    change: UserUpdate, as_caller: AsCaller, check: CallerPasswordCheck, rules: AppEmailRules
) -> User:
    """Changes the account's email; `current_password` must be the account's password (else 403).

    A verification link goes to the new address. With REQUIRE_VERIFIED_EMAIL the change waits in
    `pending_email` until that link is followed (the old address stays, and logs in); without, it takes
    effect at once and the new address starts unverified, and the old address is told of the change.
    Email changes are budgeted per account (429 with Retry-After once spent), taken or refused.
    """
    return await service.update_user(check, as_caller, change, rules)


@router.put(
    "/me/password", status_code=status.HTTP_204_NO_CONTENT, responses=responses(*_PASSWORD_CHECKED, body=True)
)
async def change_my_password(change: PasswordChange, as_caller: AsCaller, check: CallerPasswordCheck) -> None:
    """Sets a new password. Every token the account holds stops working, this one included: log in again."""
    await service.change_password(check, as_caller, change)


@router.delete(
    "/me", status_code=status.HTTP_204_NO_CONTENT, responses=responses(*_PASSWORD_CHECKED, body=True)
)
async def delete_me(confirmation: AccountDeletion, as_caller: AsCaller, check: CallerPasswordCheck) -> None:
    """Deletes the account with its posts and votes, given its password; its tokens stop working."""
    await service.delete_user(check, as_caller, confirmation.password)


@router.get("/{id}", response_model=UserOut, responses=responses(Unauthorized, NotFound))
async def get_user(id: PathId, as_caller: AsCaller) -> dict[str, Any]:
    return await service.get_user(as_caller, id)
