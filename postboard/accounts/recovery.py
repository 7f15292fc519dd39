"""Password reset by a mailed link: asking for one, and setting a new password with it."""

from functools import partial

from sqlalchemy import bindparam, select

from postboard.accounts.account_tokens import find_token, issue_token, revoke_tokens, spend_token
from postboard.accounts.mails import AccountMails
from postboard.accounts.models import TokenPurpose
from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.passwords import PasswordHasher
from postboard.auth.service import end_all_login_sessions
from postboard.auth.throttling import Throttle
from postboard.db import Database
from postboard.errors import INVALID_ACCOUNT_TOKEN, InvalidLink
from postboard.orm import utc_now
from postboard.users.models import User
from postboard.users.rows import lock_user

_LOCKED_ACCOUNT_BY_EMAIL = select(User.id).where(User.email == bindparam("email")).with_for_update()


async def ask_for_reset(
    database: Database, throttle: Throttle, mails: AccountMails, email: str, address: str
) -> None:
    """Counts the request (429 once the address's or the email's budget is spent, known or not) and hands
    the rest to the background: the answer, and its timing, must not tell whether the account exists."""
    await throttle.count_password_reset_request(email, address)
    mails.mailer.run_later(partial(_mail_reset_link, database, mails, email))


async def _mail_reset_link(database: Database, mails: AccountMails, email: str) -> None:
    """Mails a new reset link to the account of `email`, if there is one; its earlier links stop working."""
    async with database.orm_session(writes=True) as db, db.begin():
        user_id = await db.scalar(_LOCKED_ACCOUNT_BY_EMAIL, {"email": email})
        if user_id is None:
            return
        issued = await issue_token(db, user_id, TokenPurpose.PASSWORD_RESET, email, mails.reset_lifetime)
    mails.send_password_reset(email, issued)


async def reset_password(
    database: Database, hasher: PasswordHasher, token: str, new_password: str, address: str
) -> None:
    """Sets the password of the token's account and ends every login session it has; the token, and any
    other reset link of the account, stops working. Following the link proved the address too."""
    holder = await find_token(database, token, TokenPurpose.PASSWORD_RESET)
    if holder is None:  # checked before hashing: a made-up token costs no hashing
        raise InvalidLink(INVALID_ACCOUNT_TOKEN)
    new_hash = await hasher.hash(new_password)  # outside the transaction: no lock is held meanwhile
    async with database.orm_session(writes=True) as db, db.begin():
        # The user first, then the token: the order every writer of both takes, so none deadlocks.
        user = await lock_user(db, holder.user_id)
        spent = await spend_token(db, token, TokenPurpose.PASSWORD_RESET)
        if user is None or spent is None:  # spent or revoked since it was found
            raise InvalidLink(INVALID_ACCOUNT_TOKEN)
        user.password_hash = new_hash
        if spent.email == user.email and user.email_verified_at is None:
            user.email_verified_at = utc_now()
        await end_all_login_sessions(db, user.id)
        await revoke_tokens(db, user.id, TokenPurpose.PASSWORD_RESET)
    log_auth_event(AuthEvent.PASSWORD_RESET, address, user.id)
