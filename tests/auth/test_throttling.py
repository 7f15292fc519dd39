"""Throttling of failed logins (per account, per address) and of registrations (per address), in-process.

Every throttled test runs on SQLite and PostgreSQL, with the counters in the app's memory and in Redis.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from postboard.app import create_app
from postboard.auth import passwords
from postboard.users.models import User
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    TOO_MANY_LOGIN_FAILURES,
    TOO_MANY_REGISTRATIONS,
    Account,
    assert_throttled,
    bearer,
    count_rows,
    fresh_email,
    in_process_client,
    make_settings,
    post_login,
    refresh,
    refresh_pair,
    register,
    register_and_log_in,
    retry_after,
    running_app,
    started,
)

WRONG_PASSWORD = "not the password at all"
LOCAL = "127.0.0.1"  # httpx.ASGITransport's default peer
ELSEWHERE = "10.0.0.9"
TOO_MANY_REFRESH_FAILURES = {"detail": "Too many invalid refresh tokens from this address, try again later"}
TOO_MANY_EMAIL_CHANGES = {"detail": "Too many email changes on this account, try again later"}
# Budgets no test reaches unless it sets a small one itself.
GENEROUS_BUDGETS = {
    "login_limit_per_account": "1000/minute",
    "login_limit_per_address": "1000/minute",
    "register_limit_per_address": "1000/minute",
    "password_check_limit_per_session": "1000/minute",
    "email_change_limit_per_account": "1000/minute",
    "refresh_limit_per_address": "1000/minute",
}


class Harness:
    """Starts throttled apps on the test database and opens clients to them; all closed at teardown."""

    def __init__(self, database_url: str, storage: dict[str, str], stack: AsyncExitStack) -> None:
        self.database_url = database_url
        self.storage = storage
        self.stack = stack

    async def start(self, **overrides: Any) -> FastAPI:
        settings = make_settings(
            self.database_url, **{"rate_limits": True, **GENEROUS_BUDGETS, **self.storage, **overrides}
        )
        return await self.stack.enter_async_context(started(create_app(settings)))

    async def connect(self, app: FastAPI, address: str = LOCAL) -> httpx.AsyncClient:
        return await self.stack.enter_async_context(in_process_client(app, client=(address, 1234)))

    async def client(self, **overrides: Any) -> httpx.AsyncClient:
        return await self.connect(await self.start(**overrides))


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where the counters live: the app's memory, or an emptied Redis database."""
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


@pytest.fixture
async def harness(database_url: str, storage: dict[str, str]) -> AsyncIterator[Harness]:
    async with AsyncExitStack() as stack:
        yield Harness(database_url, storage, stack)


async def registered(client: httpx.AsyncClient, email: str | None = None) -> str:
    """A new account's email."""
    email = email or fresh_email()
    response = await register(client, email)
    assert response.status_code == 201, response.text
    return email


async def fail_logins(client: httpx.AsyncClient, email: str, times: int) -> None:
    for _ in range(times):
        response = await post_login(client, email, WRONG_PASSWORD)
        assert response.status_code == 403, response.text
        assert response.json() == INVALID_CREDENTIALS


def auth_records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if getattr(record, "event", None) == event]


# --- Failed logins per account ---------------------------------------------------------------------------


async def test_spent_account_budget_answers_429_even_to_the_right_password(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="3/minute")
    alice = await registered(client)
    await fail_logins(client, alice, 3)

    right_password = await post_login(client, alice, DEFAULT_PASSWORD)
    wrong_password = await post_login(client, alice, WRONG_PASSWORD)

    assert_throttled(right_password, TOO_MANY_LOGIN_FAILURES)
    assert_throttled(wrong_password, TOO_MANY_LOGIN_FAILURES)


async def test_spent_account_budget_leaves_other_accounts_alone(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="3/minute")
    alice, bob = await registered(client), await registered(client)
    await fail_logins(client, alice, 3)
    assert (await post_login(client, alice, DEFAULT_PASSWORD)).status_code == 429

    # Bob keeps his whole budget: three failures, and his password still works.
    await fail_logins(client, bob, 3)
    assert_throttled(await post_login(client, bob, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)
    carol = await registered(client)
    assert (await post_login(client, carol, DEFAULT_PASSWORD)).status_code == 200


async def test_throttled_attempt_verifies_no_password(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await harness.client(login_limit_per_account="3/minute")
    alice = await registered(client)
    verified: list[str] = []
    verify = passwords._verify_and_update

    def counting_verify(password: str, password_hash: str) -> passwords.Verdict:
        verified.append(password)
        return verify(password, password_hash)

    monkeypatch.setattr(passwords, "_verify_and_update", counting_verify)
    await fail_logins(client, alice, 3)
    assert len(verified) == 3

    for _ in range(3):
        assert_throttled(await post_login(client, alice, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)

    # No hashing at all once throttled: the limiter, not the password, decides.
    assert len(verified) == 3


async def test_throttling_is_logged_as_an_auth_event(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    client = await harness.client(login_limit_per_account="2/minute")
    alice = await registered(client)
    await fail_logins(client, alice, 2)
    caplog.set_level(logging.INFO, logger="postboard.auth")

    assert (await post_login(client, alice, DEFAULT_PASSWORD)).status_code == 429

    [record] = auth_records(caplog, "throttled")
    assert record.levelno == logging.WARNING
    assert getattr(record, "address", None) == LOCAL
    assert isinstance(getattr(record, "user_id", None), int)
    assert not auth_records(caplog, "login_succeeded")
    assert DEFAULT_PASSWORD not in caplog.text


# --- No enumeration through the limiter -------------------------------------------------------------------


def comparable_headers(response: httpx.Response) -> dict[str, str]:
    """The headers that must match between two answers: all but the clock-dependent ones and the request's
    own id."""
    varying = {"date", "retry-after", "x-request-id"}
    return {name: value for name, value in response.headers.items() if name not in varying}


async def test_unknown_and_known_emails_are_throttled_identically(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="3/minute")
    known = await registered(client)
    unknown = fresh_email("nobody")

    known_answers = [await post_login(client, known, WRONG_PASSWORD) for _ in range(5)]
    unknown_answers = [await post_login(client, unknown, WRONG_PASSWORD) for _ in range(5)]

    assert [r.status_code for r in known_answers] == [403, 403, 403, 429, 429]
    assert [r.status_code for r in unknown_answers] == [403, 403, 403, 429, 429]
    for known_answer, unknown_answer in zip(known_answers, unknown_answers, strict=True):
        assert known_answer.content == unknown_answer.content
        assert comparable_headers(known_answer) == comparable_headers(unknown_answer)
        assert ("retry-after" in known_answer.headers) == ("retry-after" in unknown_answer.headers)
    for answer in known_answers[3:] + unknown_answers[3:]:
        assert_throttled(answer, TOO_MANY_LOGIN_FAILURES)


@pytest.mark.parametrize("exists", [True, False], ids=["known", "unknown"])
async def test_email_letter_case_variants_share_one_budget(harness: Harness, exists: bool) -> None:
    client = await harness.client(login_limit_per_account="3/minute")
    if exists:
        await registered(client, "alice@example.com")

    await fail_logins(client, "Alice@Example.com", 1)
    await fail_logins(client, "alice@example.com", 1)
    await fail_logins(client, "ALICE@EXAMPLE.COM", 1)

    assert_throttled(await post_login(client, "alice@example.com", DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)
    assert_throttled(await post_login(client, "aLiCe@eXaMpLe.CoM", DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)


# --- Several windows, and what a successful login does ----------------------------------------------------


async def test_hour_budget_applies_under_a_generous_minute_budget(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="100/minute;4/hour")
    alice = await registered(client)
    await fail_logins(client, alice, 4)

    response = await post_login(client, alice, DEFAULT_PASSWORD)

    # The hour's window is the one that is spent, so the wait is longer than a minute.
    assert_throttled(response, TOO_MANY_LOGIN_FAILURES, min_seconds=61, max_seconds=3600)


async def test_successful_login_does_not_reset_the_budget(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="100/minute;4/hour")
    alice = await registered(client)

    await fail_logins(client, alice, 2)
    assert (await post_login(client, alice, DEFAULT_PASSWORD)).status_code == 200
    await fail_logins(client, alice, 2)

    assert_throttled(
        await post_login(client, alice, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES, max_seconds=3600
    )


async def test_successful_logins_spend_no_budget(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="2/minute", login_limit_per_address="2/minute")
    alice = await registered(client)

    for _ in range(5):
        response = await post_login(client, alice, DEFAULT_PASSWORD)
        assert response.status_code == 200, response.text
        assert "access_token" in response.json()

    # The whole budget is still there: two failures before the 429.
    await fail_logins(client, alice, 2)
    assert_throttled(await post_login(client, alice, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)


# --- Failed logins per address ----------------------------------------------------------------------------


async def test_spent_address_budget_answers_429_whatever_the_account(harness: Harness) -> None:
    app = await harness.start(login_limit_per_address="4/minute")
    local = await harness.connect(app)
    elsewhere = await harness.connect(app, ELSEWHERE)
    alice = await registered(local)
    for _ in range(4):
        await fail_logins(local, fresh_email("guess"), 1)

    assert_throttled(await post_login(local, fresh_email("guess"), WRONG_PASSWORD), TOO_MANY_LOGIN_FAILURES)
    assert_throttled(await post_login(local, alice, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)

    # Another address has a budget of its own, and Alice's account spent nothing of hers.
    wrong = await post_login(elsewhere, alice, WRONG_PASSWORD)
    assert wrong.status_code == 403, wrong.text
    assert wrong.json() == INVALID_CREDENTIALS
    right = await post_login(elsewhere, alice, DEFAULT_PASSWORD)
    assert right.status_code == 200, right.text


# --- Registrations per address ----------------------------------------------------------------------------


INVALID_REGISTRATIONS: list[Any] = [
    {"email": "not an email", "password": DEFAULT_PASSWORD},
    {"email": "valid@example.com", "password": "short"},
    {"email": "valid@example.com"},
    {},
    ["not", "an", "object"],
]


async def test_spent_registration_budget_answers_429(harness: Harness) -> None:
    app = await harness.start(register_limit_per_address="3/minute")
    local = await harness.connect(app)
    elsewhere = await harness.connect(app, ELSEWHERE)
    # Bodies refused by validation never reach the throttle.
    for body in INVALID_REGISTRATIONS:
        refused = await local.post("/users/", json=body)
        assert refused.status_code == 422, refused.text
    for _ in range(3):
        await registered(local)
    late = fresh_email("late")

    response = await register(local, late)

    assert_throttled(response, TOO_MANY_REGISTRATIONS)
    assert await count_rows(app, User, User.email == late) == 0
    # Another address registers as usual, even the refused email.
    assert (await register(elsewhere, late)).status_code == 201


async def test_registration_budget_is_not_the_login_budget(harness: Harness) -> None:
    client = await harness.client(register_limit_per_address="1/minute", login_limit_per_address="1/minute")
    alice = await registered(client)

    # Each budget answers with its own message, and spending one leaves the other whole.
    assert_throttled(await register(client, fresh_email()), TOO_MANY_REGISTRATIONS)
    assert (await post_login(client, alice, DEFAULT_PASSWORD)).status_code == 200
    await fail_logins(client, alice, 1)
    assert_throttled(await post_login(client, alice, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)


# --- Failed refreshes per address -------------------------------------------------------------------------


async def test_spent_refresh_budget_answers_429_to_every_refresh_from_the_address(harness: Harness) -> None:
    app = await harness.start(refresh_limit_per_address="3/minute")
    local = await harness.connect(app)
    elsewhere = await harness.connect(app, ELSEWHERE)
    tokens = await register_and_log_in(local, fresh_email())
    # Successful refreshes spend nothing.
    for _ in range(4):
        tokens = await refresh_pair(local, tokens.refresh)
    for _ in range(3):
        guess = await refresh(local, f"{uuid.uuid4().hex}.{uuid.uuid4().hex}")
        assert guess.status_code == 401, guess.text

    assert_throttled(await refresh(local, "another.guess"), TOO_MANY_REFRESH_FAILURES)
    assert_throttled(await refresh(local, tokens.refresh), TOO_MANY_REFRESH_FAILURES)
    # The refused attempts ended nothing, and another address refreshes as usual.
    assert (await refresh(elsewhere, tokens.refresh)).status_code == 200


# --- Email changes per account ----------------------------------------------------------------------------


async def change_email(client: httpx.AsyncClient, access_token: str, email: str) -> httpx.Response:
    return await client.patch(
        "/users/me", json={"email": email, "current_password": DEFAULT_PASSWORD}, headers=bearer(access_token)
    )


async def test_email_changes_have_a_budget_per_account_taken_or_refused(harness: Harness) -> None:
    client = await harness.client(email_change_limit_per_account="3/minute")
    taken = await registered(client)
    tokens, other = (
        await register_and_log_in(client, fresh_email()),
        await register_and_log_in(client, fresh_email()),
    )
    me = await client.get("/users/me", headers=tokens.headers)
    own_email = me.json()["email"]
    # Keeping the same address is no change, and costs nothing.
    assert (await change_email(client, tokens.access, own_email)).status_code == 200
    moved = fresh_email("moved")
    assert (await change_email(client, tokens.access, moved)).status_code == 200
    for _ in range(2):
        assert (await change_email(client, tokens.access, taken)).status_code == 409

    probe = await change_email(client, tokens.access, fresh_email("probe"))

    assert_throttled(probe, TOO_MANY_EMAIL_CHANGES)
    assert_throttled(await change_email(client, tokens.access, taken), TOO_MANY_EMAIL_CHANGES)
    me = await client.get("/users/me", headers=tokens.headers)
    assert me.json()["email"] == moved
    # Another account has a budget of its own.
    assert (await change_email(client, other.access, fresh_email("mine"))).status_code == 200


# --- Throttling turned off --------------------------------------------------------------------------------


async def test_rate_limits_off_throttles_nothing(harness: Harness) -> None:
    client = await harness.client(
        rate_limits=False,
        login_limit_per_account="1/minute",
        login_limit_per_address="1/minute",
        register_limit_per_address="1/minute",
    )
    alice = await registered(client)

    failures = [(await post_login(client, alice, WRONG_PASSWORD)).status_code for _ in range(20)]
    registrations = [(await register(client, fresh_email())).status_code for _ in range(20)]

    assert failures == [403] * 20
    assert registrations == [201] * 20
    assert (await post_login(client, alice, DEFAULT_PASSWORD)).status_code == 200


# --- The client address behind a proxy --------------------------------------------------------------------


def forwarded_for(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


@pytest.mark.parametrize("trusted_proxies", [[], ["10.9.9.9"]], ids=["no-proxy", "another-proxy"])
async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    harness: Harness, caplog: pytest.LogCaptureFixture, trusted_proxies: list[str]
) -> None:
    client = await harness.client(login_limit_per_address="3/minute", trusted_proxies=trusted_proxies)
    caplog.set_level(logging.INFO, logger="postboard.auth")
    for number in range(3):
        response = await post_login(
            client, fresh_email("guess"), WRONG_PASSWORD, headers=forwarded_for(f"198.51.100.{number}")
        )
        assert response.status_code == 403, response.text

    # A fresh forwarded address each time buys nothing: the peer, 127.0.0.1, is what is counted.
    response = await post_login(
        client, fresh_email("guess"), WRONG_PASSWORD, headers=forwarded_for("198.51.100.9")
    )

    assert_throttled(response, TOO_MANY_LOGIN_FAILURES)
    records = auth_records(caplog, "login_failed") + auth_records(caplog, "throttled")
    assert len(records) == 4
    assert {getattr(record, "address", None) for record in records} == {LOCAL}


async def test_forwarded_for_from_a_trusted_proxy_is_the_address_counted(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    client = await harness.client(login_limit_per_address="3/minute", trusted_proxies=[LOCAL])
    caplog.set_level(logging.INFO, logger="postboard.auth")
    attacker = forwarded_for("203.0.113.7")
    for _ in range(3):
        response = await post_login(client, fresh_email("guess"), WRONG_PASSWORD, headers=attacker)
        assert response.status_code == 403, response.text

    throttled = await post_login(client, fresh_email("guess"), WRONG_PASSWORD, headers=attacker)
    # Another client behind the same proxy has its own budget.
    other = await post_login(
        client, fresh_email("guess"), WRONG_PASSWORD, headers=forwarded_for("203.0.113.8")
    )

    assert_throttled(throttled, TOO_MANY_LOGIN_FAILURES)
    assert other.status_code == 403, other.text
    failed_addresses = [getattr(record, "address", None) for record in auth_records(caplog, "login_failed")]
    assert failed_addresses == ["203.0.113.7"] * 3 + ["203.0.113.8"]
    [throttled_record] = auth_records(caplog, "throttled")
    assert getattr(throttled_record, "address", None) == "203.0.113.7"


# --- Concurrent bursts ------------------------------------------------------------------------------------


async def test_concurrent_burst_cannot_overrun_the_budget(harness: Harness) -> None:
    client = await harness.client(login_limit_per_account="3/minute", password_hashing_threads=1)
    alice = await registered(client)

    answers = await asyncio.gather(*(post_login(client, alice, WRONG_PASSWORD) for _ in range(20)))

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {403, 429}, statuses
    # The budget is checked while holding the hashing slot: at most one attempt per thread past it.
    assert 3 <= statuses.count(403) <= 3 + 1, statuses
    for answer in answers:
        if answer.status_code == 429:
            assert_throttled(answer, TOO_MANY_LOGIN_FAILURES)
    assert_throttled(await post_login(client, alice, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)


# --- An unreachable Redis -----------------------------------------------------------------------------------


RATE_LIMITER_UNAVAILABLE = {"detail": "The rate limiter is unavailable, try again shortly"}
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
async def redis_down_client(database_url: str, alice: Account) -> AsyncIterator[httpx.AsyncClient]:
    """A throttled app whose Redis refuses connections; `alice` was registered through an unthrottled app."""
    async with running_app(database_url, rate_limits=True, redis_url=UNREACHABLE_REDIS) as (_, client):
        yield client


@pytest.mark.parametrize("right_password", [True, False], ids=["right-password", "wrong-password"])
async def test_unreachable_redis_refuses_logins_with_503(
    redis_down_client: httpx.AsyncClient, alice: Account, right_password: bool
) -> None:
    password = alice.password if right_password else WRONG_PASSWORD

    response = await post_login(redis_down_client, alice.email, password)

    assert response.status_code == 503, response.text
    assert response.json() == RATE_LIMITER_UNAVAILABLE
    assert retry_after(response) >= 1
    assert "access_token" not in response.text


async def test_unreachable_redis_refuses_registrations_with_503(
    redis_down_client: httpx.AsyncClient, app: FastAPI
) -> None:
    email = fresh_email()

    response = await register(redis_down_client, email)

    assert response.status_code == 503, response.text
    assert response.json() == RATE_LIMITER_UNAVAILABLE
    assert retry_after(response) >= 1
    assert await count_rows(app, User, User.email == email) == 0


# --- OpenAPI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/users/"])
@pytest.mark.parametrize("status_code", ["429", "503"])
async def test_openapi_documents_the_429_and_503_with_retry_after(
    app: FastAPI, path: str, status_code: str
) -> None:
    documented = app.openapi()["paths"][path]["post"]["responses"]

    assert status_code in documented
    schema = documented[status_code]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorDetail"}
    assert documented[status_code]["headers"]["Retry-After"]["schema"] == {"type": "integer"}
