"""Email verification by a mailed link: following it, and asking for a new one."""

from sqlalchemy.ext.asyncio import AsyncSession

from postboard.accounts.account_tokens import find_token, issue_token, revoke_tokens, spend_token
from postboard.accounts.mails import AccountMails
from postboard.accounts.models import TokenPurpose
from postboard.accounts.service import lock_caller
from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.reads import CallerReads
from postboard.auth.throttling import Throttle
from postboard.db import Database
from postboard.errors import INVALID_ACCOUNT_TOKEN, NOTHING_TO_VERIFY, Conflict, InvalidLink
from postboard.orm import utc_now
from postboard.users.models import User
from postboard.users.rows import change_email, lock_user


async def verify_email(database: Database, mails: AccountMails, token: str, address: str) -> None:
    """Marks the address the link was mailed to as verified; if it is the account's pending email, the
    change takes effect now (409 if another account took the address meanwhile)."""
    holder = await find_token(database, token, TokenPurpose.EMAIL_VERIFICATION)
    if holder is None:
        raise InvalidLink(INVALID_ACCOUNT_TOKEN)
    async with database.orm_session(writes=True) as db, db.begin():
        user = await lock_user(db, holder.user_id)  # the user first, then the token, as every writer
        spent = await spend_token(db, token, TokenPurpose.EMAIL_VERIFICATION)
        if user is None or spent is None:
            raise InvalidLink(INVALID_ACCOUNT_TOKEN)
        old_email = user.email
        await _prove(db, user, spent.email)
    if user.email != old_email:
        log_auth_event(AuthEvent.EMAIL_CHANGED, address, user.id)
        mails.send_email_changed(old_email, user.email)


async def _prove(db: AsyncSession, user: User, email: str) -> None:
    """`email` is the user's, as following a link mailed to it shows: verified, or, if it is the pending
    one, made the account's email."""
    if email == user.pending_email:
        await change_email(db, user, email)  # 409 if the address was taken since the change was asked for
        user.pending_email = None
        await revoke_tokens(db, user.id, TokenPurpose.PASSWORD_RESET)  # mailed to the old address
    elif email != user.email:  # mailed to an address the account has since left
        raise InvalidLink(INVALID_ACCOUNT_TOKEN)
    user.email_verified_at = utc_now()


async def resend_verification(as_caller: CallerReads, throttle: Throttle, mails: AccountMails) -> None:
    """Mails a new link for the address that awaits verification; the earlier link stops working. 409 when
    there is none; budgeted per account (429)."""
    async with as_caller.database.orm_session(writes=True) as db, db.begin():
        user = await lock_caller(db, as_caller.caller)
        to = awaiting_verification(user)
        if to is None:
            raise Conflict(NOTHING_TO_VERIFY)
        await throttle.count_verification_mail(user.id)
        issued = await issue_token(
            db, user.id, TokenPurpose.EMAIL_VERIFICATION, to, mails.verification_lifetime
        )
    mails.send_verification(to, issued)


def awaiting_verification(user: User) -> str | None:
    """The address the account has yet to verify: a pending change's, else its own while unverified."""
    return user.pending_email or (user.email if user.email_verified_at is None else None)
