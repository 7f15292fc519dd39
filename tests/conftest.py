"""Fixtures: every HTTP test runs against SQLite and against a real PostgreSQL, each in a clean database."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI

from postboard.app import create_app
from postboard.migrations import upgrade_to_head
from postboard.users.models import Role
from tests.helpers import (
    DEFAULT_PASSWORD,
    Account,
    MakeAccount,
    MakePost,
    fresh_email,
    give_role,
    in_process_client,
    log_in,
    make_settings,
    register,
    started,
)
from tests.services import REDIS_TEST_URL, new_postgres_database, skip_without_service

# SMTP relays (tests/smtp_server.py), then the scan of every log line for secrets (tests/log_secrets.py).
pytest_plugins = ["tests.smtp_server", "tests.log_secrets"]


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "postboard.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_to_head(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own, at the latest schema, which it may break."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        upgrade_to_head(url)
        yield url
        return
    with new_postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    with new_postgres_database() as url:
        upgrade_to_head(url)
        yield url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of the suite's own, empty at the start and end of the test."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
        yield REDIS_TEST_URL
        client.flushdb()
    except redis.ConnectionError as error:
        skip_without_service(f"Redis at {REDIS_TEST_URL} is not reachable: {error}")
    finally:
        client.close()


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    async with started(create_app(make_settings(database_url))) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(app) as http_client:
        yield http_client


@pytest.fixture
def make_account(client: httpx.AsyncClient) -> MakeAccount:
    """Registers an account (a fresh email unless given) and logs it in."""

    async def make(email: str | None = None, password: str = DEFAULT_PASSWORD) -> Account:
        email = email or fresh_email()
        registered = await register(client, email, password)
        assert registered.status_code == 201, registered.text
        tokens = await log_in(client, email, password)
        return Account(registered.json()["id"], registered.json()["email"], password, tokens.access)

    return make


@pytest.fixture
async def alice(make_account: MakeAccount) -> Account:
    return await make_account("alice@example.com")


@pytest.fixture
async def bob(make_account: MakeAccount) -> Account:
    return await make_account("bob@example.com")


@pytest.fixture
async def admin(app: FastAPI, make_account: MakeAccount) -> Account:
    """An account made an admin as `postboard set-role` makes one, after it logged in: the role is read
    at each request, never from the token."""
    account = await make_account("admin@example.com")
    await give_role(app, account.email, Role.ADMIN)
    return account


@pytest.fixture
def make_post(client: httpx.AsyncClient) -> MakePost:
    """Creates a post as the given account and returns the created Post body."""

    async def make(
        owner: Account, title: str = "A title", content: str = "Some content", **fields: object
    ) -> dict[str, object]:
        response = await client.post(
            "/posts/", json={"title": title, "content": content, **fields}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        body: dict[str, object] = response.json()
        return body

    return make
