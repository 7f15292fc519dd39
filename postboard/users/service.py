from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.passwords import PasswordHasher
from postboard.db import is_storable_id
from postboard.errors import Conflict, NotFound, email_taken, user_not_found
from postboard.users.models import User
from postboard.users.schemas import UserCreate


async def create_user(session: AsyncSession, hasher: PasswordHasher, new_user: UserCreate) -> User:
    user = User(email=new_user.email, password_hash=await hasher.hash(new_user.password))
    session.add(user)
    try:
        # The unique index decides, so two racing registrations of one email cannot both succeed.
        await session.flush()
    except IntegrityError:
        raise Conflict(email_taken(new_user.email)) from None
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id) if is_storable_id(user_id) else None
    if user is None:
        raise NotFound(user_not_found(user_id))
    return user
