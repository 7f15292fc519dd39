"""Contract "Sessions": the life of a login session over HTTP (login, refresh, logout), what the database
keeps of it, how old password hashes are upgraded at login, and what is logged along the way."""

import asyncio
import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import bcrypt
import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import insert, select, update

from postboard.auth.models import LoginSession, RetiredRefreshToken
from postboard.orm import utc_now
from postboard.users.models import User
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    Account,
    MakeAccount,
    TokenPair,
    bearer,
    count_rows,
    fresh_email,
    log_in,
    post_login,
    refresh,
    refresh_pair,
    register_account,
    register_and_log_in,
    running_app,
)

CURRENT_ARGON2_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
BCRYPT_MAX_BYTES = 72
# The password behind the hash the app verifies for unknown accounts (postboard/auth/passwords.py).
APP_DUMMY_PASSWORD = "an unguessable dummy password for unknown accounts"
AN_HOUR_AGO = timedelta(hours=-1)


@dataclass(frozen=True)
class StoredSession:
    refresh_token_hash: str
    created_at: datetime
    expires_at: datetime
    refresh_token_expires_at: datetime


def tokens_of(response: httpx.Response) -> TokenPair:
    assert response.status_code == 200, response.text
    body = response.json()
    return TokenPair(body["access_token"], body["refresh_token"])


async def start_session(client: httpx.AsyncClient, account: Account) -> TokenPair:
    return await log_in(client, account.email, account.password)


async def access_status(client: httpx.AsyncClient, tokens: TokenPair) -> int:
    """GET /users/me with the access token: 200, or 401 with the contract's answer."""
    response = await client.get("/users/me", headers=tokens.headers)
    assert response.status_code in (200, 401), response.text
    if response.status_code == 401:
        assert response.json() == INVALID_TOKEN
    return response.status_code


async def assert_session_is_gone(client: httpx.AsyncClient, app: FastAPI, tokens: TokenPair) -> None:
    assert await access_status(client, tokens) == 401
    replay = await refresh(client, tokens.refresh)
    assert replay.status_code == 401, replay.text
    assert replay.json() == INVALID_REFRESH_TOKEN
    assert await count_rows(app, LoginSession, LoginSession.id == tokens.login_session_id) == 0


async def stored_session(app: FastAPI, login_session_id: str) -> StoredSession:
    async with app.state.database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    LoginSession.refresh_token_hash,
                    LoginSession.created_at,
                    LoginSession.expires_at,
                    LoginSession.refresh_token_expires_at,
                ).where(LoginSession.id == login_session_id)
            )
        ).one()
    return StoredSession(*row)


async def set_session_times(app: FastAPI, login_session_id: str, **times: datetime) -> None:
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(LoginSession).where(LoginSession.id == login_session_id).values(**times)
        )


async def insert_user(app: FastAPI, email: str, password_hash: str) -> int:
    """A user as an older deployment (the course's) left it in the table, past the API."""
    async with app.state.database.engine.begin() as connection:
        user_id: int = (
            await connection.execute(
                insert(User).values(email=email, password_hash=password_hash).returning(User.id)
            )
        ).scalar_one()
    return user_id


async def stored_password_hash(app: FastAPI, user_id: int) -> str:
    async with app.state.database.engine.connect() as connection:
        password_hash: str = (
            await connection.execute(select(User.password_hash).where(User.id == user_id))
        ).scalar_one()
    return password_hash


def course_hash(password: str | bytes) -> str:
    """What the FastAPI course stores: bcrypt with 12 rounds, of at most the first 72 bytes."""
    secret = password.encode() if isinstance(password, str) else password
    return bcrypt.hashpw(secret[:BCRYPT_MAX_BYTES], bcrypt.gensalt(12)).decode()


def assert_not_stored_by_caches(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


# --- POST /login ----------------------------------------------------------------------------------------


async def test_login_answers_expires_in_a_refresh_token_and_no_store_headers(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    response = await post_login(client, alice.email, alice.password)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == app.state.token_config.access_lifetime.total_seconds() == 30 * 60
    assert type(body["expires_in"]) is int
    login_session_id, dot, secret = body["refresh_token"].partition(".")
    assert dot == "."
    assert login_session_id
    assert len(secret) >= 43  # 256 bits in base64url
    assert_not_stored_by_caches(response)


async def test_expires_in_follows_access_token_expire_minutes(app: FastAPI, database_url: str) -> None:
    async with running_app(database_url, access_token_expire_minutes=5) as (_short_lived, client):
        email = fresh_email()
        await register_account(client, email)

        response = await post_login(client, email, DEFAULT_PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 5 * 60


async def test_refresh_token_is_stored_only_as_the_sha256_of_its_secret(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    tokens = await start_session(client, alice)

    stored = await stored_session(app, tokens.login_session_id)

    assert stored.refresh_token_hash == hashlib.sha256(tokens.secret.encode()).hexdigest()
    for part in (tokens.refresh, tokens.login_session_id, tokens.secret):
        assert stored.refresh_token_hash != part
    assert tokens.secret not in stored.refresh_token_hash
    # The defaults: the refresh token lasts 14 days, the session at most 90.
    assert stored.refresh_token_expires_at - stored.created_at == timedelta(days=14)
    assert stored.expires_at - stored.created_at == timedelta(days=90)


async def test_each_login_adds_one_session_row(
    client: httpx.AsyncClient, app: FastAPI, make_account: MakeAccount
) -> None:
    account = await make_account()  # registers and logs in once
    assert await count_rows(app, LoginSession, LoginSession.user_id == account.id) == 1

    first = await start_session(client, account)
    second = await start_session(client, account)

    assert await count_rows(app, LoginSession, LoginSession.user_id == account.id) == 3
    assert first.login_session_id != second.login_session_id


async def test_two_logins_are_independent_sessions(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    phone = await start_session(client, alice)
    laptop = await start_session(client, alice)

    logout = await client.post("/logout", headers=phone.headers)

    assert logout.status_code == 204, logout.text
    await assert_session_is_gone(client, app, phone)
    assert await access_status(client, laptop) == 200
    renewed = await refresh_pair(client, laptop.refresh)
    assert await access_status(client, renewed) == 200


# --- POST /token/refresh --------------------------------------------------------------------------------


async def test_a_login_past_the_session_cap_ends_the_oldest_session(
    app: FastAPI, database_url: str, alice: Account
) -> None:
    async with running_app(database_url, max_sessions_per_account=3) as (_application, client):
        sessions = [await start_session(client, alice) for _ in range(3)]
        of_alice = LoginSession.user_id == alice.id
        assert await count_rows(app, LoginSession, of_alice) == 3  # alice's first login was one of them

        newest = await start_session(client, alice)

        assert await count_rows(app, LoginSession, of_alice) == 3
        await assert_session_is_gone(client, app, sessions[0])
        for live in (*sessions[1:], newest):
            assert await access_status(client, live) == 200


async def test_logins_past_the_cap_leave_the_cap_even_when_concurrent(
    app: FastAPI, database_url: str, alice: Account
) -> None:
    async with running_app(database_url, max_sessions_per_account=2) as (_application, client):
        responses = await asyncio.gather(*(post_login(client, alice.email, alice.password) for _ in range(6)))

        assert [response.status_code for response in responses] == [200] * 6
        assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 2


async def test_expired_sessions_are_cleared_by_the_next_login(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    old = await start_session(client, alice)
    await set_session_times(app, old.login_session_id, expires_at=utc_now() + AN_HOUR_AGO)

    await start_session(client, alice)

    assert await count_rows(app, LoginSession, LoginSession.id == old.login_session_id) == 0
    assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 2


async def test_refresh_answers_a_new_working_pair_with_no_store_headers(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    tokens = await start_session(client, alice)

    response = await refresh(client, tokens.refresh)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert_not_stored_by_caches(response)
    renewed = tokens_of(response)
    assert renewed.refresh != tokens.refresh
    assert renewed.access != tokens.access
    # The same login session, rotated in place: no new row, and only the new secret's hash is kept.
    assert renewed.login_session_id == tokens.login_session_id
    assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 2  # alice's + this
    stored = await stored_session(app, tokens.login_session_id)
    assert stored.refresh_token_hash == hashlib.sha256(renewed.secret.encode()).hexdigest()
    me = await client.get("/users/me", headers=renewed.headers)
    assert me.status_code == 200, me.text
    assert me.json()["id"] == alice.id


async def test_replayed_refresh_token_ends_the_whole_session(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    first = await start_session(client, alice)
    second = await refresh_pair(client, first.refresh)
    newest = await refresh_pair(client, second.refresh)
    assert await access_status(client, newest) == 200

    replay = await refresh(client, first.refresh)

    assert replay.status_code == 401, replay.text
    assert replay.json() == INVALID_REFRESH_TOKEN
    assert replay.headers["www-authenticate"] == "Bearer"
    # Every token of the session is dead, the newest ones included; alice's other session is not.
    for tokens in (newest, second, first):
        await assert_session_is_gone(client, app, tokens)
    assert (await client.get("/users/me", headers=alice.headers)).status_code == 200


async def test_made_up_secret_for_a_real_session_is_a_plain_401_that_ends_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    # The session id is readable in every access token; the secret was never issued.
    tokens = await start_session(client, alice)
    caplog.set_level(logging.INFO, logger="postboard.auth")

    for _ in range(3):
        guess = await refresh(client, f"{tokens.login_session_id}.{secrets.token_urlsafe(32)}")
        assert guess.status_code == 401, guess.text
        assert guess.json() == INVALID_REFRESH_TOKEN

    assert not [r for r in caplog.records if getattr(r, "event", None) == "refresh_reuse_detected"]
    assert await access_status(client, tokens) == 200
    assert (await refresh(client, tokens.refresh)).status_code == 200


async def test_a_retired_token_is_evidence_only_until_it_would_have_expired(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    first = await start_session(client, alice)
    second = await refresh_pair(client, first.refresh)
    retired_at_expiry = {"expires_at": utc_now() + AN_HOUR_AGO}
    async with app.state.database.engine.begin() as connection:
        await connection.execute(update(RetiredRefreshToken).values(**retired_at_expiry))

    # Past its own expiry the retired token could not be used, so it proves nothing and ends nothing.
    replay = await refresh(client, first.refresh)

    assert replay.status_code == 401, replay.text
    assert await access_status(client, second) == 200
    # The next refresh forgets every retired token of the session that has expired.
    third = await refresh_pair(client, second.refresh)
    hashes = RetiredRefreshToken.login_session_id == third.login_session_id
    assert await count_rows(app, RetiredRefreshToken, hashes) == 1


async def test_retired_tokens_go_with_their_session(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    first = await start_session(client, alice)
    second = await refresh_pair(client, first.refresh)
    await refresh_pair(client, second.refresh)
    of_session = RetiredRefreshToken.login_session_id == first.login_session_id
    assert await count_rows(app, RetiredRefreshToken, of_session) == 2

    assert (await refresh(client, first.refresh)).status_code == 401  # a replay: the session ends

    assert await count_rows(app, RetiredRefreshToken, of_session) == 0


@pytest.mark.parametrize(
    "refresh_token",
    ["", "no-dot", ".x", "x.", ".", "..", "r" * 300, "x" * 256, "\x00", "abc\x00.def", "abc.\x00", " . "],
)
async def test_malformed_refresh_token_is_refused_without_server_error(
    client: httpx.AsyncClient, alice: Account, refresh_token: str
) -> None:
    tokens = await start_session(client, alice)

    response = await refresh(client, refresh_token)

    assert response.status_code in (401, 422), response.text
    if response.status_code == 401:
        assert response.json() == INVALID_REFRESH_TOKEN
    # Garbage names no session, so it ends none.
    assert await access_status(client, tokens) == 200


async def test_malformed_token_naming_a_real_session_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    tokens = await start_session(client, alice)

    for malformed in (f"{tokens.login_session_id}.", f"{tokens.login_session_id}\x00.{tokens.secret}"):
        response = await refresh(client, malformed)
        assert response.status_code in (401, 422), response.text
        assert "access_token" not in response.text


@pytest.mark.parametrize(
    "login_session_id",
    ["0123456789abcdef" * 2, "0" * 32, "x" * 200, "'; DROP TABLE login_sessions; --", "ünïcödé"],
)
async def test_unknown_session_id_answers_401(
    client: httpx.AsyncClient, alice: Account, login_session_id: str
) -> None:
    response = await refresh(client, f"{login_session_id}.{secrets.token_urlsafe(32)}")

    assert response.status_code == 401, response.text
    assert response.json() == INVALID_REFRESH_TOKEN


async def test_refresh_token_is_not_a_bearer_token(client: httpx.AsyncClient, alice: Account) -> None:
    tokens = await start_session(client, alice)

    response = await client.get("/users/me", headers=bearer(tokens.refresh))

    assert response.status_code == 401, response.text
    assert response.json() == INVALID_TOKEN


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, alice: Account) -> None:
    tokens = await start_session(client, alice)
    assert len(tokens.access) > 256

    response = await refresh(client, tokens.access)

    assert response.status_code == 401, response.text
    assert response.json() == INVALID_REFRESH_TOKEN


@pytest.mark.parametrize(
    "extra",
    [{"scope": "all"}, {"grant_type": "refresh_token"}, {"refresh_token_hint": 1}, {"access_token": "x"}],
)
async def test_extra_field_answers_422_without_echoing_the_refresh_token(
    client: httpx.AsyncClient, alice: Account, extra: dict[str, object]
) -> None:
    tokens = await start_session(client, alice)

    response = await client.post("/token/refresh", json={"refresh_token": tokens.refresh, **extra})

    assert response.status_code == 422, response.text
    assert tokens.secret not in response.text
    assert tokens.login_session_id not in response.text
    # Refused before anything was done with it: the token has not been spent.
    assert (await refresh(client, tokens.refresh)).status_code == 200


@pytest.mark.parametrize("field", ["refreshToken", "token"])
async def test_refresh_token_under_a_misnamed_field_is_not_echoed_in_422(
    client: httpx.AsyncClient, alice: Account, field: str
) -> None:
    tokens = await start_session(client, alice)

    response = await client.post("/token/refresh", json={field: tokens.refresh})

    assert response.status_code == 422, response.text
    assert tokens.secret not in response.text


# Too long for one of ours is simply not ours (401); a value that is not a string is invalid JSON input.
@pytest.mark.parametrize(("mangle", "expected_status"), [("too long", 401), ("list", 422), ("object", 422)])
async def test_invalid_refresh_token_value_is_refused_without_echo(
    client: httpx.AsyncClient, alice: Account, mangle: str, expected_status: int
) -> None:
    tokens = await start_session(client, alice)
    value: object = {
        "too long": tokens.refresh + "x" * 300,
        "list": [tokens.refresh],
        "object": {"token": tokens.refresh},
    }[mangle]

    response = await client.post("/token/refresh", json={"refresh_token": value})

    assert response.status_code == expected_status, response.text
    assert tokens.secret not in response.text


async def test_refresh_after_the_refresh_token_expired_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    tokens = await start_session(client, alice)
    await set_session_times(app, tokens.login_session_id, refresh_token_expires_at=utc_now() + AN_HOUR_AGO)

    response = await refresh(client, tokens.refresh)

    assert response.status_code == 401, response.text
    assert response.json() == INVALID_REFRESH_TOKEN


async def test_session_past_its_absolute_expiry_refuses_access_and_refresh(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    tokens = await start_session(client, alice)
    assert await access_status(client, tokens) == 200
    # The refresh token itself is still within its own lifetime: only the session's end applies.
    await set_session_times(app, tokens.login_session_id, expires_at=utc_now() + AN_HOUR_AGO)

    assert await access_status(client, tokens) == 401
    response = await refresh(client, tokens.refresh)
    assert response.status_code == 401, response.text
    assert response.json() == INVALID_REFRESH_TOKEN


async def test_refresh_token_never_outlives_its_session(app: FastAPI, database_url: str) -> None:
    async with running_app(database_url, session_max_days=1, refresh_token_expire_days=14) as (short, client):
        email = fresh_email()
        tokens = await register_and_log_in(client, email)
        at_login = await stored_session(short, tokens.login_session_id)
        renewed = await refresh_pair(client, tokens.refresh)
        at_refresh = await stored_session(short, renewed.login_session_id)

    assert at_login.expires_at - at_login.created_at == timedelta(days=1)
    assert at_login.refresh_token_expires_at == at_login.expires_at
    # Refreshing never extends the session, nor the refresh token past it.
    assert at_refresh.expires_at == at_login.expires_at
    assert at_refresh.refresh_token_expires_at == at_login.expires_at


@pytest.mark.parametrize("attempt", range(5))
async def test_concurrent_refreshes_with_one_token_end_as_sequential_ones_would(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, attempt: int
) -> None:
    tokens = await start_session(client, alice)

    responses = await asyncio.gather(refresh(client, tokens.refresh), refresh(client, tokens.refresh))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401], [response.text for response in responses]
    winner = tokens_of(next(response for response in responses if response.status_code == 200))
    loser = next(response for response in responses if response.status_code == 401)
    assert loser.json() == INVALID_REFRESH_TOKEN
    # The second use was a replay: nothing of the session works any more, not even the pair just issued.
    for session_tokens in (winner, tokens):
        await assert_session_is_gone(client, app, session_tokens)
    assert (await client.get("/users/me", headers=alice.headers)).status_code == 200


# --- POST /logout ---------------------------------------------------------------------------------------


async def test_logout_answers_204_and_ends_the_session(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    tokens = await start_session(client, alice)

    response = await client.post("/logout", headers=tokens.headers)

    assert response.status_code == 204, response.text
    assert response.content == b""
    await assert_session_is_gone(client, app, tokens)


async def test_logout_without_a_token_answers_401_not_authenticated(client: httpx.AsyncClient) -> None:
    response = await client.post("/logout")

    assert response.status_code == 401, response.text
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["www-authenticate"] == "Bearer"


async def test_logging_out_twice_answers_401_the_second_time(
    client: httpx.AsyncClient, alice: Account
) -> None:
    tokens = await start_session(client, alice)
    assert (await client.post("/logout", headers=tokens.headers)).status_code == 204

    again = await client.post("/logout", headers=tokens.headers)

    assert again.status_code == 401, again.text
    assert again.json() == INVALID_TOKEN


# --- Writes counted for a read replica (tests/test_replica.py) ------------------------------------------


async def test_without_a_replica_writes_are_not_counted_on_the_session(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    created = await client.post("/posts/", json={"title": "t", "content": "c"}, headers=alice.headers)

    assert created.status_code == 201, created.text
    uncounted = (LoginSession.user_id == alice.id, LoginSession.write_count == 0)
    assert await count_rows(app, LoginSession, *uncounted) == 1


# --- Password hashes upgraded at login ------------------------------------------------------------------


async def test_course_bcrypt_hash_logs_in_and_is_replaced_by_argon2id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    email = fresh_email("course")
    user_id = await insert_user(app, email, course_hash(DEFAULT_PASSWORD))
    assert (await stored_password_hash(app, user_id)).startswith("$2b$12$")

    response = await post_login(client, email, DEFAULT_PASSWORD)

    assert response.status_code == 200, response.text
    upgraded = await stored_password_hash(app, user_id)
    assert upgraded.startswith(CURRENT_ARGON2_PREFIX)
    assert (await post_login(client, email, DEFAULT_PASSWORD)).status_code == 200
    # A current hash is left as it is.
    assert await stored_password_hash(app, user_id) == upgraded


async def test_wrong_password_against_a_bcrypt_hash_answers_403_and_keeps_the_hash(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    email = fresh_email("course")
    original = course_hash(DEFAULT_PASSWORD)
    user_id = await insert_user(app, email, original)

    response = await post_login(client, email, DEFAULT_PASSWORD + "!")

    assert response.status_code == 403, response.text
    assert response.json() == INVALID_CREDENTIALS
    assert await stored_password_hash(app, user_id) == original


@pytest.mark.parametrize("password", ["p" * 92, "ü" * 46], ids=["ascii", "two-byte-characters"])
async def test_long_password_behind_a_72_byte_course_hash_is_then_stored_in_full(
    client: httpx.AsyncClient, app: FastAPI, password: str
) -> None:
    assert len(password.encode()) == 92
    prefix = password.encode()[:BCRYPT_MAX_BYTES].decode()  # both cut on a character boundary
    email = fresh_email("long")
    user_id = await insert_user(app, email, course_hash(password))

    response = await post_login(client, email, password)

    assert response.status_code == 200, response.text
    assert (await stored_password_hash(app, user_id)).startswith(CURRENT_ARGON2_PREFIX)
    assert (await post_login(client, email, password)).status_code == 200
    # The new hash covers all 92 bytes: the part bcrypt read is no longer enough.
    refused = await post_login(client, email, prefix)
    assert refused.status_code == 403, refused.text


async def test_argon2_hash_with_weaker_parameters_is_upgraded(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    weak = Argon2Hasher(memory_cost=8192, time_cost=1, parallelism=1).hash(DEFAULT_PASSWORD)
    assert weak.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    email = fresh_email("weak")
    user_id = await insert_user(app, email, weak)

    response = await post_login(client, email, DEFAULT_PASSWORD)

    assert response.status_code == 200, response.text
    assert (await stored_password_hash(app, user_id)).startswith(CURRENT_ARGON2_PREFIX)
    assert (await post_login(client, email, DEFAULT_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("stored", "password"),
    [
        # A plaintext "hash": typing it must not log in.
        ("plaintext-password", "plaintext-password"),
        ("$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", DEFAULT_PASSWORD),  # md5-crypt
        ("pbkdf2_sha256$600000$salt$aGFzaA==", DEFAULT_PASSWORD),  # Django
        ("$2b$12$truncated", DEFAULT_PASSWORD),
        ("$argon2id$v=19$m=19456,t=2,p=1$truncated", DEFAULT_PASSWORD),
        pytest.param("$2b$12$" + "a" * 53, DEFAULT_PASSWORD, id="bcrypt-shaped-with-an-undecodable-salt"),
        pytest.param("", APP_DUMMY_PASSWORD, id="empty-hash-with-the-dummy-password"),
    ],
)
async def test_hash_in_no_known_format_answers_403_not_500(
    client: httpx.AsyncClient, app: FastAPI, stored: str, password: str
) -> None:
    email = fresh_email("odd")
    user_id = await insert_user(app, email, stored)

    response = await post_login(client, email, password)

    assert response.status_code == 403, response.text
    assert response.json() == INVALID_CREDENTIALS
    assert await stored_password_hash(app, user_id) == stored


# --- Logs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    user_id: int
    # Everything that must never reach a log: passwords tried, tokens issued.
    secrets: list[str]


async def run_scenario(client: httpx.AsyncClient) -> Scenario:
    """Register, log in, fail to log in (wrong password, unknown email), refresh, replay, change the
    password, log in again and log out."""
    email = fresh_email("logged")
    password, new_password, wrong_password = (f"{name}-{uuid.uuid4().hex}" for name in ("pw", "new", "wrong"))
    user_id = await register_account(client, email, password)
    first = await log_in(client, email, password)
    assert (await post_login(client, email, wrong_password)).status_code == 403
    assert (await post_login(client, fresh_email("nobody"), wrong_password)).status_code == 403
    second = await refresh_pair(client, first.refresh)
    assert (await refresh(client, first.refresh)).status_code == 401  # replay
    third = await log_in(client, email, password)
    change = await client.put(
        "/users/me/password",
        json={"current_password": password, "new_password": new_password},
        headers=third.headers,
    )
    assert change.status_code == 204, change.text
    fourth = await log_in(client, email, new_password)
    assert (await client.post("/logout", headers=fourth.headers)).status_code == 204
    issued = [first, second, third, fourth]
    return Scenario(
        user_id,
        [password, new_password, wrong_password]
        + [tokens.access for tokens in issued]
        + [tokens.refresh for tokens in issued]
        + [tokens.secret for tokens in issued],
    )


async def test_auth_events_are_logged_with_event_user_id_and_address(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="postboard.auth")

    scenario = await run_scenario(client)

    events = [
        (record.__dict__["event"], record.__dict__["user_id"], record.__dict__["address"])
        for record in caplog.records
        if record.name == "postboard.auth"
    ]
    me, address = scenario.user_id, "127.0.0.1"
    assert events == [
        ("login_succeeded", me, address),
        ("login_failed", me, address),
        ("login_failed", None, address),  # the unknown email
        ("refreshed", me, address),
        ("refresh_reuse_detected", me, address),
        ("login_succeeded", me, address),
        ("password_changed", me, address),
        ("login_succeeded", me, address),
        ("logout", me, address),
    ]


async def test_no_log_record_holds_a_password_or_a_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, at every level

    scenario = await run_scenario(client)

    assert any(record.name == "postboard.auth" for record in caplog.records)
    for record in caplog.records:
        texts = (record.getMessage(), str(record.__dict__))
        for secret in scenario.secrets:
            assert not any(secret in text for text in texts), f"{record.name}: {record.getMessage()[:200]}"
