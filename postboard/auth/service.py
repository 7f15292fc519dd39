"""Logging in, refreshing and logging out: the life of a login session."""

from datetime import datetime

from sqlalchemy import Integer, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from postboard.auth.events import AuthEvent, log_auth_event
from postboard.auth.models import LoginSession, RetiredRefreshToken
from postboard.auth.passwords import Admission, PasswordHasher, Verdict
from postboard.auth.schemas import Token, UserLogin
from postboard.auth.throttling import Throttle
from postboard.auth.tokens import (
    TokenConfig,
    compose_refresh_token,
    create_access_token,
    hash_refresh_secret,
    new_login_session_id,
    new_refresh_secret,
    parse_refresh_token,
    refresh_secret_matches,
)
from postboard.db import Database
from postboard.errors import (
    ACCOUNT_SUSPENDED,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    Forbidden,
    TooManyRequests,
    Unauthorized,
)
from postboard.metrics import AuthCounters
from postboard.orm import utc_now
from postboard.users.emails import login_email
from postboard.users.models import User

# What a login needs of an account, read outside any transaction (the fast read path).
_ACCOUNT_BY_EMAIL = select(User.id, User.password_hash).where(User.email == bindparam("email"))
# A login session's start, in statements built once: building them costs more than running them.
_LOCKED_ACCOUNT = (
    select(User.password_hash, User.suspended_at).where(User.id == bindparam("user_id")).with_for_update()
)
_UPGRADE_PASSWORD_HASH = (
    update(User).where(User.id == bindparam("user_id")).values(password_hash=bindparam("new_hash"))
)
# The user's login sessions past the newest `keep`: at most one, since every login keeps to the cap.
_LOGIN_SESSIONS_PAST_THE_CAP = (
    select(LoginSession.id)
    .where(LoginSession.user_id == bindparam("user_id"))
    .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
    .offset(bindparam("keep", type_=Integer))
)
_DELETE_ENDED_LOGIN_SESSIONS = delete(LoginSession).where(
    LoginSession.user_id == bindparam("user_id"),
    or_(LoginSession.expires_at <= bindparam("now"), LoginSession.id.in_(_LOGIN_SESSIONS_PAST_THE_CAP)),
)
_INSERT_LOGIN_SESSION = insert(LoginSession)


async def log_in(
    database: Database,
    hasher: PasswordHasher,
    throttle: Throttle,
    token_config: TokenConfig,
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
    try:
        async with database.engine.begin() as connection:
            token = await _start_login_session(
                connection, token_config, user_id, password_hash, verdict.new_hash
            )
    except Forbidden:  # suspended: told only to those who know the password
        log_auth_event(AuthEvent.LOGIN_SUSPENDED, address, user_id)
        raise
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


async def _start_login_session(
    connection: AsyncConnection,
    token_config: TokenConfig,
    user_id: int,
    verified_hash: str,
    new_hash: str | None,
) -> Token | None:
    """A new login session for the user, if the hash that was verified is still theirs; 403 if the account
    is suspended, checked under the row lock that a suspension takes too, so that a suspension racing the
    login cannot leave it a live login session. Core statements rather than the ORM: less Python per
    statement, on the event loop that every request shares."""
    account = (await connection.execute(_LOCKED_ACCOUNT, {"user_id": user_id})).one_or_none()
    if account is None or account.password_hash != verified_hash:
        return None
    if account.suspended_at is not None:
        raise Forbidden(ACCOUNT_SUSPENDED)
    if new_hash is not None:  # made with older parameters or by bcrypt: upgraded now
        await connection.execute(_UPGRADE_PASSWORD_HASH, {"user_id": user_id, "new_hash": new_hash})
    now = utc_now()
    login_session_id, secret = new_login_session_id(), new_refresh_secret()
    expires_at = now + token_config.login_session_lifetime
    new_login_session = {
        "id": login_session_id,
        "user_id": user_id,
        "created_at": now,
        "expires_at": expires_at,
        "refresh_token_hash": hash_refresh_secret(secret),
        "refresh_token_expires_at": min(now + token_config.refresh_lifetime, expires_at),
    }
    await connection.execute(_INSERT_LOGIN_SESSION, new_login_session)
    # Login sessions past their absolute lifetime are dead, and past the cap the oldest end: each login
    # clears them away, so an account holds at most `login_sessions_per_account` rows, and this stays
    # cheap. The user's row is locked, so concurrent logins take turns here.
    await connection.execute(
        _DELETE_ENDED_LOGIN_SESSIONS,
        {"user_id": user_id, "now": now, "keep": token_config.login_sessions_per_account},
    )
    return _token_pair(user_id, login_session_id, secret, token_config)


def _token_pair(user_id: int, login_session_id: str, secret: str, token_config: TokenConfig) -> Token:
    return Token(
        access_token=create_access_token(user_id, login_session_id, token_config),
        expires_in=int(token_config.access_lifetime.total_seconds()),
        refresh_token=compose_refresh_token(login_session_id, secret),
    )


async def refresh(
    database: Database,
    throttle: Throttle,
    counters: AuthCounters,
    token_config: TokenConfig,
    refresh_token: str,
    address: str,
) -> Token:
    parsed = parse_refresh_token(refresh_token)
    token, replayed, user_id = None, False, None
    if parsed is not None:
        login_session_id, secret = parsed
        # Its own transaction, committed even when the answer is 401: a detected replay must stay revoked.
        async with database.orm_session(writes=True) as db, db.begin():
            login_session = await db.scalar(
                select(LoginSession).where(LoginSession.id == login_session_id).with_for_update()
            )
            token, replayed = await _refresh_login_session(db, login_session, secret, token_config)
            user_id = login_session.user_id if login_session else None
    if replayed:
        log_auth_event(AuthEvent.REFRESH_REUSE_DETECTED, address, user_id)
        counters.refresh_token_reuse.add(1)
    if token is None:
        await throttle.count_failed_refresh(address)
        raise Unauthorized(INVALID_REFRESH_TOKEN)
    log_auth_event(AuthEvent.REFRESHED, address, user_id)
    return token


async def _refresh_login_session(
    db: AsyncSession, login_session: LoginSession | None, secret: str, token_config: TokenConfig
) -> tuple[Token | None, bool]:
    """The new token pair, or None; and whether a retired token was replayed (the login session then ends)."""
    if login_session is None:
        return None, False
    now = utc_now()
    if not refresh_secret_matches(secret, login_session.refresh_token_hash):
        if not await _was_retired(db, login_session.id, secret, now):
            return None, False  # never issued: a guess, which proves nothing about the login session's tokens
        # A token that was traded in is back: either the thief or the rightful client is replaying it,
        # which is unknowable, so the whole login session ends, and with it every access token issued from it.
        await db.delete(login_session)
        return None, True
    if login_session.refresh_token_expires_at <= now or login_session.expires_at <= now:
        await db.delete(login_session)
        return None, False
    return await _rotate(db, login_session, token_config, now), False


async def _was_retired(db: AsyncSession, login_session_id: str, secret: str, now: datetime) -> bool:
    """Whether `secret` is a refresh token of the login session that was issued, traded in, and would still be
    valid: one past its expiry could no longer be used anyway, and is forgotten."""
    retired = await db.scalar(
        select(RetiredRefreshToken.token_hash).where(
            RetiredRefreshToken.token_hash == hash_refresh_secret(secret),
            RetiredRefreshToken.login_session_id == login_session_id,
            RetiredRefreshToken.expires_at > now,
        )
    )
    return retired is not None


async def _rotate(
    db: AsyncSession, login_session: LoginSession, token_config: TokenConfig, now: datetime
) -> Token:
    """Gives the login session a new refresh token and a new access token; the previous refresh token is
    kept as retired until it would have expired, and those that have are forgotten."""
    db.add(
        RetiredRefreshToken(
            token_hash=login_session.refresh_token_hash,
            login_session_id=login_session.id,
            expires_at=login_session.refresh_token_expires_at,
        )
    )
    await db.execute(
        delete(RetiredRefreshToken).where(
            RetiredRefreshToken.login_session_id == login_session.id, RetiredRefreshToken.expires_at <= now
        )
    )
    secret = new_refresh_secret()
    login_session.refresh_token_hash = hash_refresh_secret(secret)
    login_session.refresh_token_expires_at = min(
        now + token_config.refresh_lifetime, login_session.expires_at
    )
    return _token_pair(login_session.user_id, login_session.id, secret, token_config)


async def log_out(db: AsyncSession, login_session_id: str, user_id: int, address: str) -> None:
    await db.execute(delete(LoginSession).where(LoginSession.id == login_session_id))
    log_auth_event(AuthEvent.LOGOUT, address, user_id)


async def count_write(db: AsyncSession, login_session_id: str) -> None:
    """Counts a write made through the login session, in the transaction that makes it: a replica that
    has replayed the count has replayed the write (see auth/reads.py)."""
    await db.execute(
        update(LoginSession)
        .where(LoginSession.id == login_session_id)
        .values(write_count=LoginSession.write_count + 1)
        .execution_options(synchronize_session=False)
    )


async def end_all_login_sessions(db: AsyncSession, user_id: int) -> None:
    """Every token the user holds stops working, on every worker: each belongs to one of these login
    sessions."""
    await db.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
