from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.passwords import PasswordHasher
from postboard.auth.reads import CallerReads, caller_read
from postboard.auth.service import check_password, end_all_sessions, lock_user
from postboard.auth.throttling import Throttle
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
from postboard.users.models import User
from postboard.users.schemas import PasswordChange, UserCreate, UserUpdate


async def register(
    session: AsyncSession, hasher: PasswordHasher, throttle: Throttle, new_user: UserCreate, address: str
) -> User:
    await throttle.count_registration(address)
    return await create_user(session, hasher, new_user)


async def create_user(session: AsyncSession, hasher: PasswordHasher, new_user: UserCreate) -> User:
    user = User(email=new_user.email, password_hash=await hasher.hash(new_user.password))
    session.add(user)
    await _flush_unique_email(session, new_user.email)
    return user


async def _flush_unique_email(session: AsyncSession, email: str) -> None:
    try:
        # The unique index decides, so two racing requests for one email cannot both succeed.
        await session.flush()
    except IntegrityError:
        raise Conflict(email_taken(email)) from None


_USER_READ = caller_read(
    select(User.id, User.email, User.created_at).where(User.id == bindparam("account_id", type_=Integer))
)


async def get_user(as_caller: CallerReads, user_id: int) -> dict[str, Any]:
    rows = await as_caller.fetch(_USER_READ, account_id=user_id) if is_storable_id(user_id) else []
    if not rows:
        raise NotFound(user_not_found(user_id))
    return _user_out(rows[0])


async def get_caller_account(as_caller: CallerReads) -> dict[str, Any]:
    rows = await as_caller.fetch(_USER_READ, account_id=as_caller.caller.user_id)
    if not rows:  # the account was deleted between the two looks that read_as takes
        raise Unauthorized(INVALID_TOKEN)
    return _user_out(rows[0])


def _user_out(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "email": row["email"], "created_at": row["created_at"]}


@dataclass(frozen=True)
class PasswordCheck:
    """What confirming a signed-in caller's password takes: the hasher, the throttle, and where from."""

    hasher: PasswordHasher
    throttle: Throttle
    address: str

    async def confirm(self, session: AsyncSession, caller: User, password: str) -> User:
        """The caller's row, locked for the rest of the request, once `password` is confirmed as theirs.

        Wrong passwords count against the account's login budget: a stolen access token is no way
        around it.
        """
        user = await lock_user(session, caller.id)
        if user is None:  # deleted since the token was checked
            raise Unauthorized(INVALID_TOKEN)
        verdict = await check_password(
            self.hasher, self.throttle, self.address, user.email, user.id, user.password_hash, password
        )
        if not verdict.matches:
            raise Forbidden(WRONG_PASSWORD)
        return user


async def update_user(session: AsyncSession, check: PasswordCheck, caller: User, change: UserUpdate) -> User:
    user = await check.confirm(session, caller, change.current_password)
    if change.email is not None and change.email != user.email:
        user.email = change.email
        await _flush_unique_email(session, change.email)
        log_auth_event(AuthEvent.EMAIL_CHANGED, check.address, user.id)
    return user


async def change_password(
    session: AsyncSession, check: PasswordCheck, caller: User, change: PasswordChange
) -> None:
    user = await check.confirm(session, caller, change.current_password)
    user.password_hash = await check.hasher.hash(change.new_password)
    await end_all_sessions(session, user.id)
    log_auth_event(AuthEvent.PASSWORD_CHANGED, check.address, user.id)


async def delete_user(session: AsyncSession, check: PasswordCheck, caller: User, password: str) -> None:
    """Removes the account; its posts, votes and login sessions go with it (ON DELETE CASCADE)."""
    user = await check.confirm(session, caller, password)
    await session.execute(delete(User).where(User.id == user.id))
    log_auth_event(AuthEvent.ACCOUNT_DELETED, check.address, user.id)
