"""Account operations, which need both the user rows (users/) and proof of who is asking (auth/):
registering, reading accounts, and changing or deleting one's own after confirming the password."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.accounts.account_tokens import IssuedToken, issue_token, revoke_tokens
from postboard.accounts.mails import AccountMails
from postboard.accounts.models import TokenPurpose
from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.models import LoginSession
from postboard.auth.passwords import PasswordHasher
from postboard.auth.reads import (
    LIVE_LOGIN_SESSION,
    CallerReads,
    caller_id,
    caller_read,
    login_session_parameters,
)
from postboard.auth.service import check_password, count_write, end_all_login_sessions
from postboard.auth.throttling import Throttle
from postboard.auth.tokens import Caller
from postboard.db import Database
from postboard.errors import (
    INVALID_TOKEN,
    WRONG_PASSWORD,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    email_taken,
    user_not_found,
)
from postboard.orm import is_storable_id
from postboard.reads import Row
from postboard.users.models import Role, User, awaits_verification
from postboard.users.rows import add_user, change_email, lock_user
from postboard.users.schemas import PasswordChange, UserCreate, UserUpdate


async def register(
    database: Database,
    hasher: PasswordHasher,
    throttle: Throttle,
    mails: AccountMails,
    new_user: UserCreate,
    address: str,
) -> User:
    """Creates the account and mails a verification link to its address, once the account is committed."""
    await throttle.count_registration(address)
    async with database.orm_session(writes=True) as db, db.begin():
        user = await create_user(db, hasher, new_user)
        issued = await issue_token(
            db, user.id, TokenPurpose.EMAIL_VERIFICATION, user.email, mails.verification_lifetime
        )
    mails.send_verification(user.email, issued)
    return user


async def create_user(db: AsyncSession, hasher: PasswordHasher, new_user: UserCreate) -> User:
    return await add_user(db, new_user.email, await hasher.hash(new_user.password))


_USER_READ = caller_read(
    select(User.id, User.email, User.created_at).where(User.id == bindparam("account_id", type_=Integer))
)


async def get_user(as_caller: CallerReads, user_id: int) -> dict[str, Any]:
    rows = await as_caller.fetch(_USER_READ, account_id=user_id) if is_storable_id(user_id) else []
    if not rows:
        raise NotFound(user_not_found(user_id))
    return _user_out(rows[0])


def _user_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "created_at": row["created_at"]}


# The caller's own account also shows its role, whether its email is verified, and an email change that
# waits for its verification.
_CALLER_ACCOUNT_READ = caller_read(
    select(User.id, User.email, User.created_at, User.role, User.email_verified_at, User.pending_email).where(
        User.id == caller_id()
    )
)


async def get_caller_account(as_caller: CallerReads) -> dict[str, Any]:
    rows = await as_caller.fetch(_CALLER_ACCOUNT_READ)
    if not rows:  # the account was deleted between the two looks that read_as takes
        raise Unauthorized(INVALID_TOKEN)
    row = rows[0]
    return {
        **_user_out(row),
        "role": row["role"],
        "email_verified": row["email_verified_at"] is not None,
        "pending_email": row["pending_email"],
    }


_WEB_LOGIN_STATE = select(User.role, User.email_verified_at, User.pending_email).where(
    User.id == bindparam("account_id", type_=Integer)
)


@dataclass(frozen=True)
class WebLoginState:
    """What a browser's pages show of the account from its login on: the Admin link, the banner."""

    is_admin: bool
    # The account's email, or the one it is changing to, has yet to be verified.
    awaits_verification: bool


async def web_login_state(database: Database, user_id: int) -> WebLoginState:
    rows = await database.fetch(_WEB_LOGIN_STATE, account_id=user_id)
    if not rows:  # deleted since the login: the next page ends the session anyway
        return WebLoginState(is_admin=False, awaits_verification=False)
    row = rows[0]
    return WebLoginState(
        is_admin=row["role"] == Role.ADMIN,
        awaits_verification=awaits_verification(row["email_verified_at"] is not None, row["pending_email"]),
    )


_PASSWORD_HASH_READ = caller_read(select(User.email, User.password_hash).where(User.id == caller_id()))


@dataclass(frozen=True)
class ConfirmedPassword:
    """A signed-in caller whose password was confirmed, and the stored hash it was confirmed against."""

    caller: Caller
    email: str
    password_hash: str


@dataclass(frozen=True)
class PasswordCheck:
    """What confirming a signed-in caller's password takes: the hasher, the throttle, and where from."""

    hasher: PasswordHasher
    throttle: Throttle
    address: str

    async def confirm(self, as_caller: CallerReads, password: str) -> ConfirmedPassword:
        """Confirms that `password` is the caller's (403 if not), within their login session's failure
        budget (429 once it is spent).

        The hash is read and checked outside any transaction: waiting for a hashing slot and hashing
        hold no database connection and no SQLite write lock. `lock_confirmed` then makes sure, under
        the row lock, that nothing changed meanwhile.
        """
        caller = as_caller.caller
        rows = await as_caller.fetch(_PASSWORD_HASH_READ)
        if not rows:  # the account was deleted since the token was issued
            raise Unauthorized(INVALID_TOKEN)
        email, password_hash = rows[0]["email"], rows[0]["password_hash"]
        admission = self.throttle.password_check_admission(caller.login_session_id, email)
        verdict = await check_password(
            self.hasher, admission, self.address, caller.user_id, password_hash, password
        )
        if not verdict.matches:
            raise Forbidden(WRONG_PASSWORD)
        return ConfirmedPassword(caller, email, password_hash)


_LIVE_LOGIN_SESSION = select(LoginSession.id).where(*LIVE_LOGIN_SESSION)


async def lock_caller(db: AsyncSession, caller: Caller) -> User:
    """The caller's row, locked until the transaction ends, if their login session is still alive (else
    401)."""
    user = await lock_user(db, caller.user_id)
    if user is None or await db.scalar(_LIVE_LOGIN_SESSION, login_session_parameters(caller)) is None:
        raise Unauthorized(INVALID_TOKEN)
    return user


async def lock_confirmed(db: AsyncSession, confirmed: ConfirmedPassword) -> User:
    """The caller's row, locked until the transaction ends, if their login session is still alive (else
    401) and the password confirmed is still theirs (else 403: it was changed meanwhile)."""
    user = await lock_caller(db, confirmed.caller)
    if user.password_hash != confirmed.password_hash:
        raise Forbidden(WRONG_PASSWORD)
    return user


@dataclass(frozen=True)
class EmailRules:
    """How an email change goes: the mails it sends, and whether it waits for the new address's
    verification (REQUIRE_VERIFIED_EMAIL)."""

    mails: AccountMails
    require_verified_email: bool


async def update_user(
    check: PasswordCheck, as_caller: CallerReads, change: UserUpdate, rules: EmailRules
) -> User:
    """Changes the email at once (the new one unverified), or with REQUIRE_VERIFIED_EMAIL only once its
    mailed link is followed; either way a verification link goes to the new address, once committed."""
    confirmed = await check.confirm(as_caller, change.current_password)
    new_email = change.email if change.email is not None and change.email != confirmed.email else None
    if new_email is not None:
        # Each attempt tells whether the address has an account (409): they are budgeted, taken or not.
        await check.throttle.count_email_change(confirmed.caller.user_id)
    database = as_caller.database
    issued = None
    async with database.orm_session(writes=True) as db, db.begin():
        user = await lock_confirmed(db, confirmed)
        old_email = user.email
        if new_email is not None and new_email != user.email:
            issued = await _change_email(db, user, new_email, rules)
            if not rules.require_verified_email:
                log_auth_event(AuthEvent.EMAIL_CHANGED, check.address, user.id)
        elif change.email == user.email and user.pending_email is not None:
            # Asking for the current address again calls off the change that waits (a mistyped one, say).
            user.pending_email = None
            await revoke_tokens(db, user.id, TokenPurpose.EMAIL_VERIFICATION)
        if database.has_replica:
            await count_write(db, confirmed.caller.login_session_id)
    if new_email is not None and issued is not None:
        rules.mails.send_verification(new_email, issued)
        if not rules.require_verified_email:
            rules.mails.send_email_changed(old_email, new_email)
    return user


_EMAIL_IN_USE = select(User.id).where(User.email == bindparam("email"))


async def _change_email(db: AsyncSession, user: User, new_email: str, rules: EmailRules) -> IssuedToken:
    """The change made, or left pending its verification; the token of the link that verifies it."""
    if rules.require_verified_email:
        # Checked now to answer 409 at once; the unique index decides again when the link is followed.
        if await db.scalar(_EMAIL_IN_USE, {"email": new_email}) is not None:
            raise Conflict(email_taken(new_email))
        user.pending_email = new_email
    else:
        await change_email(db, user, new_email)
        user.email_verified_at, user.pending_email = None, None
        # Links mailed to the old address must not work for the new one.
        await revoke_tokens(db, user.id, TokenPurpose.PASSWORD_RESET)
    return await issue_token(
        db, user.id, TokenPurpose.EMAIL_VERIFICATION, new_email, rules.mails.verification_lifetime
    )


async def change_password(check: PasswordCheck, as_caller: CallerReads, change: PasswordChange) -> None:
    confirmed = await check.confirm(as_caller, change.current_password)
    new_hash = await check.hasher.hash(change.new_password)  # before the transaction, as the check was
    async with as_caller.database.orm_session(writes=True) as db, db.begin():
        user = await lock_confirmed(db, confirmed)
        user.password_hash = new_hash
        await end_all_login_sessions(db, user.id)
        await revoke_tokens(db, user.id, TokenPurpose.PASSWORD_RESET)
    log_auth_event(AuthEvent.PASSWORD_CHANGED, check.address, user.id)


async def delete_user(check: PasswordCheck, as_caller: CallerReads, password: str) -> None:
    """Removes the account; its posts, votes and login sessions go with it (ON DELETE CASCADE)."""
    confirmed = await check.confirm(as_caller, password)
    async with as_caller.database.orm_session(writes=True) as db, db.begin():
        user = await lock_confirmed(db, confirmed)
        await db.execute(delete(User).where(User.id == user.id))
    log_auth_event(AuthEvent.ACCOUNT_DELETED, check.address, user.id)
