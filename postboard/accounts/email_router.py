"""Password reset and email verification by mailed links."""

from fastapi import APIRouter, status

from postboard.accounts import recovery, verification
from postboard.accounts.dependencies import AppAccountMails
from postboard.accounts.schemas import Accepted, EmailVerification, PasswordForgotten, PasswordReset
from postboard.auth.dependencies import AsCaller, AuthenticatedRoute, ClientAddress, Hasher, Throttling
from postboard.auth.throttling import AddressBudget, spends_address_budget
from postboard.errors import (
    RESET_LINK_SENT,
    VERIFICATION_LINK_SENT,
    Conflict,
    InvalidLink,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from postboard.openapi import responses
from postboard.request_db import AppDatabase
from postboard.routing import small_body

router = APIRouter(tags=["Email"], responses=responses(Unavailable), route_class=AuthenticatedRoute)


@router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=responses(TooManyRequests, body=True),
)
@spends_address_budget(AddressBudget.PASSWORD_RESETS)
@small_body
async def forgot_password(
    forgotten: PasswordForgotten,
    database: AppDatabase,
    throttle: Throttling,
    mails: AppAccountMails,
    address: ClientAddress,
) -> Accepted:
    """Mails a link to reset the password to the account of `email`, if there is one.

    The answer is the same, in the same time, whether or not an account has the address. Requests are
    budgeted per client address and per email (429 with Retry-After, known or not). The link works once,
    for PASSWORD_RESET_EXPIRE_MINUTES, and asking again makes the earlier one stop working.
    """
    await recovery.ask_for_reset(database, throttle, mails, forgotten.email, address)
    return Accepted(message=RESET_LINK_SENT)


@router.post(
    "/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(InvalidLink, body=True),
)
@small_body
async def reset_password(
    reset: PasswordReset, database: AppDatabase, hasher: Hasher, address: ClientAddress
) -> None:
    """Sets a new password with the token of a mailed reset link. Every login session of the account ends:
    log in with the new password. A used, expired or made-up token is a 400."""
    await recovery.reset_password(database, hasher, reset.token, reset.new_password, address)


@router.post(
    "/email/verify",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(InvalidLink, Conflict, body=True),
)
@small_body
async def verify_email(
    verification_link: EmailVerification,
    database: AppDatabase,
    mails: AppAccountMails,
    address: ClientAddress,
) -> None:
    """Verifies the address a link was mailed to, with its token (no bearer token needed). For an email
    change waiting for verification, the change takes effect now (409 if another account has taken the
    address meanwhile). A used, expired or made-up token is a 400."""
    await verification.verify_email(database, mails, verification_link.token, address)


@router.post(
    "/email/verify/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=responses(Unauthorized, Conflict, TooManyRequests),
)
async def resend_verification(as_caller: AsCaller, throttle: Throttling, mails: AppAccountMails) -> Accepted:
    """Mails a new verification link to the caller's unverified (or pending) address; the earlier link
    stops working. 409 when there is nothing to verify; budgeted per account (429 with Retry-After)."""
    await verification.resend_verification(as_caller, throttle, mails)
    return Accepted(message=VERIFICATION_LINK_SENT)
