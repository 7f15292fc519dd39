"""Logging in, refreshing and logging out: the life of a login session (a refresh family)."""

from datetime import datetime

from sqlalchemy import Integer, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.models import RefreshFamily, RetiredRefreshToken
from postboard.auth.passwords import Admission, PasswordHasher, Verdict
from postboard.auth.schemas import Token, UserLogin
from postboard.auth.throttling import Throttle
from postboard.auth.tokens import (
    TokenConfig,
    compose_refresh_token,
    create_access_token,
    hash_refresh_secret,
    new_refresh_secret,
    new_session_id,
    parse_refresh_token,
    refresh_secret_matches,
)
from postboard.db import Database
from postboard.errors import (
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    Forbidden,
    TooManyRequests,
    Unauthorized,
)
from postboard.orm import utc_now
from postboard.users.emails import login_email
from postboard.users.models import User

# What a login needs of an account, read outside any transaction (the fast read path).
_ACCOUNT_BY_EMAIL = select(User.id, User.password_hash).where(User.email == bindparam("email"))
# A login session's start, in statements built once: building them costs more than running them.
_LOCKED_PASSWORD_HASH = select(User.password_hash).where(User.id == bindparam("user_id")).with_for_update()
_UPGRADE_PASSWORD_HASH = (
    update(User).where(User.id == bindparam("user_id")).values(password_hash=bindparam("new_hash"))
)
# The user's sessions past the newest `keep`: at most one, since every login keeps to the cap.
_SESSIONS_PAST_THE_CAP = (
    select(RefreshFamily.id)
    .where(RefreshFamily.user_id == bindparam("user_id"))
    .order_by(RefreshFamily.created_at.desc(), RefreshFamily.id.desc())
    .offset(bindparam("keep", type_=Integer))
)
_DELETE_ENDED_SESSIONS = delete(RefreshFamily).where(
    RefreshFamily.user_id == bindparam("user_id"),
    or_(RefreshFamily.expires_at <= bindparam("now"), RefreshFamily.id.in_(_SESSIONS_PAST_THE_CAP)),
)
_INSERT_SESSION = insert(RefreshFamily)


async def log_in(
    database: Database,
    hasher: PasswordHasher,
    throttle: Throttle,
    tokens: TokenConfig,
    credentials: UserLogin,
    address: str,
) -> Token:
    email = login_email(credentials.username)
    # Read outside a transaction, before hashing: no connection or SQLite lock is held for that long.
    accounts = await database.fetch(_ACCOUNT_BY_EMAIL, email=email)
    user_id, password_hash = (accounts[0]["id"], accounts[0]["password_hash"]) if accounts else (None, None)
    # Unknown email and wrong password do the same work, count alike against the budgets, and get the
    # same answer.
    admission = throttle.login_admission(email, address)
    verdict = await check_password(hasher, admission, address, user_id, password_hash, credentials.password)
    if user_id is None or password_hash is None or not verdict.matches:
        raise Forbidden(INVALID_CREDENTIALS)
    async with database.engine.begin() as connection:
        token = await _start_session(connection, tokens, user_id, password_hash, verdict.new_hash)
    if token is None:  # the password changed while this one was being checked
        log_auth_event(AuthEvent.LOGIN_FAILED, address, user_id)
        raise Forbidden(INVALID_CREDENTIALS)
    log_auth_event(AuthEvent.LOGIN_SUCCEEDED, address, user_id)
    return token


async def check_password(
    hasher: PasswordHasher,
    admission: Admission,
    address: str,
    user_id: int | None,
    password_hash: str | None,
    password: str,
) -> Verdict:
    """Verifies `password` against `password_hash` (None where there is no account) if `admission` lets
    the attempt through (else 429); logs a throttled or failed try."""
    try:
        verdict = await hasher.verify(password, password_hash, admission)
    except TooManyRequests:
        log_auth_event(AuthEvent.THROTTLED, address, user_id)
        raise
    if not verdict.matches:
        log_auth_event(AuthEvent.LOGIN_FAILED, address, user_id)
    return verdict


async def _start_session(
    connection: AsyncConnection, tokens: TokenConfig, user_id: int, verified_hash: str, new_hash: str | None
) -> Token | None:
    """A new login session for the user, if the hash that was verified is still theirs. Core statements
    rather than the ORM: less Python per statement, on the event loop that every request shares."""
    if await connection.scalar(_LOCKED_PASSWORD_HASH, {"user_id": user_id}) != verified_hash:
        return None
    if new_hash is not None:  # made with older parameters or by bcrypt: upgraded now
        await connection.execute(_UPGRADE_PASSWORD_HASH, {"user_id": user_id, "new_hash": new_hash})
    now = utc_now()
    session_id, secret = new_session_id(), new_refresh_secret()
    expires_at = now + tokens.session_lifetime
    new_session = {
        "id": session_id,
        "user_id": user_id,
        "created_at": now,
        "expires_at": expires_at,
        "refresh_token_hash": hash_refresh_secret(secret),
        "refresh_token_expires_at": min(now + tokens.refresh_lifetime, expires_at),
    }
    await connection.execute(_INSERT_SESSION, new_session)
    # Sessions past their absolute lifetime are dead, and past the cap the oldest end: each login clears
    # them away, so an account holds at most `sessions_per_account` rows, and this stays cheap. The user's
    # row is locked, so concurrent logins take turns here.
    await connection.execute(
        _DELETE_ENDED_SESSIONS, {"user_id": user_id, "now": now, "keep": tokens.sessions_per_account}
    )
    return _token_pair(user_id, session_id, secret, tokens)


def _token_pair(user_id: int, session_id: str, secret: str, tokens: TokenConfig) -> Token:
    return Token(
        access_token=create_access_token(user_id, session_id, tokens),
        expires_in=int(tokens.access_lifetime.total_seconds()),
        refresh_token=compose_refresh_token(session_id, secret),
    )


async def lock_user(session: AsyncSession, user_id: int) -> User | None:
    """The user's row, locked until the transaction ends (SQLite's writers hold the database lock anyway)."""
    statement = select(User).where(User.id == user_id).with_for_update()
    user: User | None = await session.scalar(statement.execution_options(populate_existing=True))
    return user


async def refresh(
    database: Database, throttle: Throttle, tokens: TokenConfig, refresh_token: str, address: str
) -> Token:
    parsed = parse_refresh_token(refresh_token)
    token, replayed, user_id = None, False, None
    if parsed is not None:
        session_id, secret = parsed
        # Its own transaction, committed even when the answer is 401: a detected replay must stay revoked.
        async with database.session(writes=True) as session, session.begin():
            family = await session.scalar(
                select(RefreshFamily).where(RefreshFamily.id == session_id).with_for_update()
            )
            token, replayed = await _refresh_family(session, family, secret, tokens)
            user_id = family.user_id if family else None
    if replayed:
        log_auth_event(AuthEvent.REFRESH_REUSE_DETECTED, address, user_id)
    if token is None:
        await throttle.count_failed_refresh(address)
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    log_auth_event(AuthEvent.REFRESHED, address, user_id)
    return token


async def _refresh_family(
    session: AsyncSession, family: RefreshFamily | None, secret: str, tokens: TokenConfig
) -> tuple[Token | None, bool]:
    """The new token pair, or None; and whether a retired token was replayed (the family is then revoked)."""
    if family is None:
        return None, False
    now = utc_now()
    if not refresh_secret_matches(secret, family.refresh_token_hash):
        if not await _was_retired(session, family.id, secret, now):
            return None, False  # never issued: a guess, which proves nothing about the session's tokens
        # A token that was traded in is back: either the thief or the rightful client is replaying it,
        # which is unknowable, so the whole session ends, and with it every access token issued from it.
        await session.delete(family)
        return None, True
    if family.refresh_token_expires_at <= now or family.expires_at <= now:
        await session.delete(family)
        return None, False
    return await _rotate(session, family, tokens, now), False


async def _was_retired(session: AsyncSession, family_id: str, secret: str, now: datetime) -> bool:
    """Whether `secret` is a refresh token of the family that was issued, traded in, and would still be
    valid: one past its expiry could no longer be used anyway, and is forgotten."""
    retired = await session.scalar(
        select(RetiredRefreshToken.token_hash).where(
            RetiredRefreshToken.token_hash == hash_refresh_secret(secret),
            RetiredRefreshToken.family_id == family_id,
            RetiredRefreshToken.expires_at > now,
        )
    )
    return retired is not None


async def _rotate(session: AsyncSession, family: RefreshFamily, tokens: TokenConfig, now: datetime) -> Token:
    """Gives the family a new refresh token and a new access token; the previous refresh token is kept as
    retired until it would have expired, and those that have are forgotten."""
    session.add(
        RetiredRefreshToken(
            token_hash=family.refresh_token_hash,
            family_id=family.id,
            expires_at=family.refresh_token_expires_at,
        )
    )
    await session.execute(
        delete(RetiredRefreshToken).where(
            RetiredRefreshToken.family_id == family.id, RetiredRefreshToken.expires_at <= now
        )
    )
    secret = new_refresh_secret()
    family.refresh_token_hash = hash_refresh_secret(secret)
    family.refresh_token_expires_at = min(now + tokens.refresh_lifetime, family.expires_at)
    return _token_pair(family.user_id, family.id, secret, tokens)


async def log_out(session: AsyncSession, session_id: str, user_id: int, address: str) -> None:
    await session.execute(delete(RefreshFamily).where(RefreshFamily.id == session_id))
    log_auth_event(AuthEvent.LOGOUT, address, user_id)


async def count_write(session: AsyncSession, session_id: str) -> None:
    """Counts a write made through the login session, in the transaction that makes it: a replica that
    has replayed the count has replayed the write (see auth/reads.py)."""
    await session.execute(
        update(RefreshFamily)
        .where(RefreshFamily.id == session_id)
        .values(write_count=RefreshFamily.write_count + 1)
        .execution_options(synchronize_session=False)
    )


async def end_all_sessions(session: AsyncSession, user_id: int) -> None:
    """Every token the user holds stops working, on every worker: each belongs to one of these sessions."""
    await session.execute(delete(RefreshFamily).where(RefreshFamily.user_id == user_id))
