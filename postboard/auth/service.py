from sqlalchemy import select

from postboard.auth.passwords import PasswordHasher
from postboard.auth.schemas import Token, UserLogin
from postboard.auth.tokens import TokenConfig, create_access_token
from postboard.db import Database
from postboard.errors import INVALID_CREDENTIALS, Forbidden
from postboard.users.emails import normalize_email
from postboard.users.models import User


async def log_in(
    database: Database, hasher: PasswordHasher, tokens: TokenConfig, credentials: UserLogin
) -> Token:
    email = normalize_email(credentials.username)
    # A session of its own, closed before hashing: no connection or SQLite lock is held for that long.
    async with database.session(writes=False) as session:
        user = await session.scalar(select(User).where(User.email == email))
    # Unknown email and wrong password do the same work and get the same answer.
    matches = await hasher.verify(credentials.password, user.password_hash if user else None)
    if user is None or not matches:
        raise Forbidden(INVALID_CREDENTIALS)
    return Token(access_token=create_access_token(user.id, tokens))
