from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.passwords import PasswordHasher
from postboard.auth.schemas import Token, UserLogin
from postboard.auth.tokens import TokenConfig, create_access_token
from postboard.errors import INVALID_CREDENTIALS, Forbidden
from postboard.users.emails import normalize_email
from postboard.users.models import User


async def log_in(
    session: AsyncSession, hasher: PasswordHasher, tokens: TokenConfig, credentials: UserLogin
) -> Token:
    email = normalize_email(credentials.username)
    user = await session.scalar(select(User).where(User.email == email))
    # Unknown email and wrong password do the same work and get the same answer.
    if not await hasher.verify(credentials.password, user.password_hash if user else None) or user is None:
        raise Forbidden(INVALID_CREDENTIALS)
    return Token(access_token=create_access_token(user.id, tokens))
