"""The single-use tokens of mailed links: random (256 bits), kept only as SHA-256 hashes, good for one
purpose until they expire, and spent by the one DELETE that finds them, so two racing uses cannot both win."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.accounts.models import AccountToken, TokenPurpose
from postboard.db import Database
from postboard.orm import UTCDateTime, utc_now

TOKEN_BYTES = 32
# Ours are 43 characters; one far longer is refused as invalid input before it is hashed.
ACCOUNT_TOKEN_MAX_LENGTH = 256

_LIVE_TOKEN = (
    AccountToken.token_hash == bindparam("token_hash"),
    AccountToken.purpose == bindparam("purpose"),
    AccountToken.expires_at > bindparam("now", type_=UTCDateTime()),
)
_FIND_TOKEN = select(AccountToken.user_id, AccountToken.email).where(*_LIVE_TOKEN)
_SPEND_TOKEN = delete(AccountToken).where(*_LIVE_TOKEN).returning(AccountToken.user_id, AccountToken.email)
_INSERT_TOKEN = insert(AccountToken)
# The user's tokens of the given purposes, and every one of theirs that has expired.
_DELETE_USERS_TOKENS = delete(AccountToken).where(
    AccountToken.user_id == bindparam("user_id", type_=Integer),
    AccountToken.purpose.in_(bindparam("purposes", expanding=True))
    | (AccountToken.expires_at <= bindparam("now", type_=UTCDateTime())),
)


@dataclass(frozen=True)
class IssuedToken:
    """A token to mail, and when it stops working."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenHolder:
    """Whose a live token is, and the address it was mailed to."""

    user_id: int
    email: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue_token(
    db: AsyncSession, user_id: int, purpose: TokenPurpose, email: str, lifetime: timedelta
) -> IssuedToken:
    """A new token for the user, mailed to `email`; it replaces their earlier ones of this purpose."""
    await revoke_tokens(db, user_id, purpose)
    token, now = secrets.token_urlsafe(TOKEN_BYTES), utc_now()
    new_token = {
        "token_hash": hash_token(token),
        "user_id": user_id,
        "purpose": purpose.value,
        "email": email,
        "created_at": now,
        "expires_at": now + lifetime,
    }
    await db.execute(_INSERT_TOKEN, new_token)
    return IssuedToken(token, now + lifetime)


async def revoke_tokens(db: AsyncSession, user_id: int, *purposes: TokenPurpose) -> None:
    """The user's tokens of these purposes stop working (expired ones go too)."""
    parameters = {"user_id": user_id, "purposes": [purpose.value for purpose in purposes], "now": utc_now()}
    await db.execute(_DELETE_USERS_TOKENS, parameters)


async def find_token(database: Database, token: str, purpose: TokenPurpose) -> TokenHolder | None:
    """Whose the live token is, without spending it (outside any transaction)."""
    rows = await database.fetch(_FIND_TOKEN, **_token_parameters(token, purpose))
    return TokenHolder(rows[0]["user_id"], rows[0]["email"]) if rows else None


async def spend_token(db: AsyncSession, token: str, purpose: TokenPurpose) -> TokenHolder | None:
    """Deletes the live token and says whose it was; None if it is unknown, expired, of another purpose,
    or already spent (by this request's rival, too: the row lock makes the second DELETE find nothing)."""
    row = (await db.execute(_SPEND_TOKEN, _token_parameters(token, purpose))).one_or_none()
    return None if row is None else TokenHolder(row.user_id, row.email)


def _token_parameters(token: str, purpose: TokenPurpose) -> dict[str, object]:
    # Looked up by its hash: equal hashes are found by the index, and a near miss tells nothing of the token.
    return {"token_hash": hash_token(token), "purpose": purpose.value, "now": utc_now()}
