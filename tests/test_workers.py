"""Several `postboard serve` processes on one database: what they share (revocations always, throttling
counters through Redis) and what they do not (counters without Redis are per process, as documented)."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NEW_PASSWORD,
    TEST_SECRET_KEY,
    TOO_MANY_LOGIN_FAILURES,
    TOO_MANY_REGISTRATIONS,
    assert_throttled,
    bearer,
    fresh_email,
)
from tests.live_server import register_and_log_in, serving
from tests.services import new_postgres_database
from tests.smtp_server import SmtpServer, production_mail

CONNECTED = "Database connection was successful!"


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database for the processes of one test; each `serve` migrates it (the first does the work)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        with new_postgres_database() as url:
            yield url


@pytest.fixture(params=["redis", "database-only"])
def counter_storage(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings that choose where throttling counters live: Redis, or each process's memory."""
    if request.param == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        return {"REDIS_URL": redis_url}
    return {}


@contextmanager
def two_servers(cwd: Path, database_url: str, **settings: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """Two `serve` processes at once, each on its own port, on one database and one signing key."""
    shared = {"DATABASE_URL": database_url, "SECRET_KEY": TEST_SECRET_KEY, **settings}
    # One after the other: the second finds the schema migrated instead of racing the first to create it.
    with serving(cwd, **shared) as (a, _), serving(cwd, **shared) as (b, _):
        yield a, b


def log_in(client: httpx.Client, email: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return client.post("/login", data={"username": email, "password": password})


def tokens(client: httpx.Client, email: str, password: str = DEFAULT_PASSWORD) -> dict[str, str]:
    """A successful login's body: access_token and refresh_token."""
    response = log_in(client, email, password)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def access_token(client: httpx.Client, email: str, password: str = DEFAULT_PASSWORD) -> str:
    return tokens(client, email, password)["access_token"]


def me(client: httpx.Client, access_token: str) -> httpx.Response:
    return client.get("/users/me", headers=bearer(access_token))


def register(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})


def assert_revoked(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == INVALID_TOKEN


def check_logout(a: httpx.Client, b: httpx.Client) -> None:
    email = fresh_email()
    token = register_and_log_in(a, email)
    assert me(b, token).json()["email"] == email

    assert b.post("/logout", headers=bearer(token)).status_code == 204

    assert_revoked(me(a, token))


def check_refresh_reuse(a: httpx.Client, b: httpx.Client, email: str) -> None:
    first = tokens(a, email)
    refreshed = a.post("/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    newest = refreshed.json()
    assert me(b, newest["access_token"]).status_code == 200

    # A retired refresh token presented anywhere ends the login session everywhere.
    replayed = b.post("/token/refresh", json={"refresh_token": first["refresh_token"]})
    assert replayed.status_code == 401
    assert replayed.json() == INVALID_REFRESH_TOKEN

    assert_revoked(me(a, newest["access_token"]))
    after_reuse = a.post("/token/refresh", json={"refresh_token": newest["refresh_token"]})
    assert after_reuse.status_code == 401


def check_password_change(a: httpx.Client, b: httpx.Client, email: str) -> None:
    on_a, on_b = access_token(a, email), access_token(b, email)

    change = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    assert a.put("/users/me/password", json=change, headers=bearer(on_a)).status_code == 204

    assert_revoked(me(b, on_a))
    assert_revoked(me(b, on_b))
    assert log_in(b, email).json() == INVALID_CREDENTIALS
    assert log_in(b, email, NEW_PASSWORD).status_code == 200


def check_account_deletion(a: httpx.Client, b: httpx.Client, email: str) -> None:
    on_a, on_b = access_token(a, email, NEW_PASSWORD), access_token(b, email, NEW_PASSWORD)

    deleted = b.request("DELETE", "/users/me", json={"password": NEW_PASSWORD}, headers=bearer(on_b))
    assert deleted.status_code == 204, deleted.text

    assert_revoked(me(a, on_a))
    assert_revoked(me(a, on_b))
    assert log_in(a, email, NEW_PASSWORD).json() == INVALID_CREDENTIALS


def test_revocations_through_one_process_are_seen_by_the_other(
    tmp_path: Path, shared_database: str, counter_storage: dict[str, str]
) -> None:
    # Revocation lives in the database (the login session row), so it needs no Redis to be shared.
    with two_servers(tmp_path, shared_database, **counter_storage) as (a, b):
        check_logout(a, b)

        email = fresh_email()
        register_and_log_in(b, email)
        check_refresh_reuse(a, b, email)
        check_password_change(a, b, email)
        check_account_deletion(a, b, email)


def test_redis_shares_the_failed_login_and_registration_budgets_between_processes(
    tmp_path: Path, shared_database: str, redis_url: str
) -> None:
    settings = {"REDIS_URL": redis_url, "LOGIN_LIMIT_PER_ACCOUNT": "4/minute"}
    with two_servers(tmp_path, shared_database, REGISTER_LIMIT_PER_ADDRESS="3/minute", **settings) as (a, b):
        emails = [fresh_email() for _ in range(3)]
        for client, email in zip([a, b, a], emails, strict=True):
            assert register(client, email).status_code == 201
        assert_throttled(register(b, fresh_email()), TOO_MANY_REGISTRATIONS)
        assert_throttled(register(a, fresh_email()), TOO_MANY_REGISTRATIONS)

        email = emails[0]
        for client in [a, a, b, b]:
            assert log_in(client, email, "wrong password").json() == INVALID_CREDENTIALS
        # The budget is spent on both, so neither checks even the right password.
        assert_throttled(log_in(a, email), TOO_MANY_LOGIN_FAILURES)
        assert_throttled(log_in(b, email), TOO_MANY_LOGIN_FAILURES)
        # Another account's budget is its own.
        assert log_in(b, emails[1]).status_code == 200


def test_without_redis_each_process_counts_failed_logins_on_its_own(
    tmp_path: Path, shared_database: str
) -> None:
    with two_servers(tmp_path, shared_database, LOGIN_LIMIT_PER_ACCOUNT="2/minute") as (a, b):
        email = fresh_email()
        assert register(a, email).status_code == 201

        for _ in range(2):
            assert log_in(a, email, "wrong password").json() == INVALID_CREDENTIALS
        assert_throttled(log_in(a, email), TOO_MANY_LOGIN_FAILURES)

        # B has counted nothing: it checks passwords until its own budget is spent.
        assert log_in(b, email).status_code == 200
        for _ in range(2):
            assert log_in(b, email, "wrong password").json() == INVALID_CREDENTIALS
        assert_throttled(log_in(b, email), TOO_MANY_LOGIN_FAILURES)


def test_two_workers_share_the_budgets_through_redis_however_connections_are_spread(
    tmp_path: Path, redis_url: str
) -> None:
    settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'workers.db'}",
        "REDIS_URL": redis_url,
        "LOGIN_LIMIT_PER_ACCOUNT": "5/minute",
        "REGISTER_LIMIT_PER_ADDRESS": "3/minute",
    }
    with serving(tmp_path, "--workers", "2", **settings) as (client, log_path):
        # A new connection per request lets either worker accept each one.
        fresh = httpx.Client(base_url=client.base_url, limits=httpx.Limits(max_keepalive_connections=0))
        with fresh:
            emails = [fresh_email() for _ in range(3)]
            for email in emails:
                assert register(fresh, email).status_code == 201
            for _ in range(3):
                assert_throttled(register(fresh, fresh_email()), TOO_MANY_REGISTRATIONS)

            for _ in range(5):
                assert log_in(fresh, emails[0], "wrong password").json() == INVALID_CREDENTIALS
            for _ in range(5):
                assert_throttled(log_in(fresh, emails[0]), TOO_MANY_LOGIN_FAILURES)
    log = log_path.read_text()
    assert log.count(CONNECTED) == 2
    assert "per worker" not in log


def test_serve_warns_that_workers_without_redis_count_failures_on_their_own(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'workers.db'}"
    with serving(tmp_path, "--workers", "2", DATABASE_URL=database_url) as (_, log_path):
        pass
    log = log_path.read_text()
    assert "postboard: warning: without REDIS_URL each of the 2 workers counts" in log
    assert "the budgets are per worker" in log


def test_serve_warns_that_logins_are_not_throttled_with_rate_limits_off_in_production(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = {
        "POSTBOARD_ENV": "production",
        **production_mail(smtp_server),
        "SECRET_KEY": secrets.token_hex(24),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.db'}",
        "RATE_LIMITS": "off",
        "LOGIN_LIMIT_PER_ACCOUNT": "1/minute",
    }
    with serving(tmp_path, **settings) as (client, log_path):
        # The warning tells the truth: past the (ignored) budget, passwords are still checked.
        email = fresh_email()
        for _ in range(3):
            assert log_in(client, email, "wrong password").json() == INVALID_CREDENTIALS
    assert "RATE_LIMITS=off in production: logins and registrations are NOT THROTTLED" in log_path.read_text()
