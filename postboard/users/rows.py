"""The rows of user accounts: adding one, locking one for a change, and the one rule their emails keep."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.errors import Conflict, email_taken
from postboard.users.models import User


async def add_user(db: AsyncSession, email: str, password_hash: str) -> User:
    user = User(email=email, password_hash=password_hash)
    db.add(user)
    await _flush_unique_email(db, email)
    return user


async def change_email(db: AsyncSession, user: User, email: str) -> None:
    user.email = email
    await _flush_unique_email(db, email)


async def _flush_unique_email(db: AsyncSession, email: str) -> None:
    try:
        # The unique index decides, so two racing requests for one email cannot both succeed.
        await db.flush()
    except IntegrityError:
        raise Conflict(email_taken(email)) from None


async def lock_user(db: AsyncSession, user_id: int) -> User | None:
    """The user's row, locked until the transaction ends (SQLite's writers hold the database lock anyway)."""
    statement = select(User).where(User.id == user_id).with_for_update()
    user: User | None = await db.scalar(statement.execution_options(populate_existing=True))
    return user
