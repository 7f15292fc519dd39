"""Fixtures: every HTTP test runs against SQLite and against a real PostgreSQL, each in a clean database."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import httpx
import pytest
import redis
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import ColumnElement, func, make_url, select, text

from postboard.app import create_app
from postboard.config import Settings
from postboard.migrations import upgrade_to_head
from postboard.models import Base

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
DEFAULT_PASSWORD = "correct horse battery"
# Where the suite creates (and drops) its PostgreSQL databases; CI insists that it is reachable.
POSTGRES_ADMIN_URL = os.environ.get(
    "POSTBOARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Redis database 15, emptied by each test that uses it.
REDIS_TEST_URL = os.environ.get("POSTBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# CI sets this: a test that cannot reach PostgreSQL or Redis fails instead of being skipped.
REQUIRE_SERVICES = os.environ.get("POSTBOARD_TEST_REQUIRE_SERVICES") == "1"


def skip_without_service(message: str) -> NoReturn:
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def _postgres_url(database: str) -> str:
    return (
        make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql", database=database).render_as_string(False)
    )


async def postgres_admin(statement: str) -> None:
    connection = await asyncpg.connect(_postgres_url(make_url(POSTGRES_ADMIN_URL).database or "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "postboard.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_to_head(url)
    return url


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A PostgreSQL database of its own (an asyncpg URL), dropped afterwards; skips if there is no server."""
    name = f"postboard_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(postgres_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        skip_without_service(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable: {error}")
    try:
        yield _postgres_url(name).replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


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


class IsolatedSettings(Settings):
    """Settings read from the arguments alone, never from the developer's environment or `.env`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Throttling is off unless a test turns it on: the suite logs in far more often than a person would."""
    settings: dict[str, Any] = {"secret_key": TEST_SECRET_KEY, "rate_limits": False, **overrides}
    return IsolatedSettings(database_url=database_url, **settings)


async def delete_all_rows(app: FastAPI) -> None:
    async with app.state.database.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(text(f"DELETE FROM {table.name}"))  # noqa: S608 (names from our schema)


async def count_rows(app: FastAPI, model: type[Base], *criteria: ColumnElement[bool]) -> int:
    """Rows of a table as the database holds them, read past the API."""
    async with app.state.database.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(model).where(*criteria))
    assert isinstance(count, int)
    return count


@asynccontextmanager
async def running_app(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app of the test's own settings on the test database, started, and a client for it; the rows it
    made are deleted at the end."""
    application = create_app(make_settings(database_url, **overrides))
    async with application.router.lifespan_context(application):
        try:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://postboard.test") as client:
                yield application, client
        finally:
            await delete_all_rows(application)


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url))
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            await delete_all_rows(application)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://postboard.test") as http_client:
        yield http_client


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class TokenPair:
    """What POST /login and POST /token/refresh hand out."""

    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}

    @property
    def login_session_id(self) -> str:
        """The refresh token is "<session id>.<secret>"."""
        return self.refresh.partition(".")[0]

    @property
    def secret(self) -> str:
        return self.refresh.partition(".")[2]


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> TokenPair:
    """A new login session of its own."""
    response = await client.post("/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return TokenPair(response.json()["access_token"], response.json()["refresh_token"])


async def refresh_pair(client: httpx.AsyncClient, refresh_token: str) -> TokenPair:
    response = await client.post("/token/refresh", json={"refresh_token": refresh_token})
    assert response.status_code == 200, response.text
    return TokenPair(response.json()["access_token"], response.json()["refresh_token"])


MakeAccount = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_account(client: httpx.AsyncClient) -> MakeAccount:
    """Registers an account (a fresh email unless given) and logs it in."""

    async def make(email: str | None = None, password: str = DEFAULT_PASSWORD) -> Account:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        registered = await client.post("/users/", json={"email": email, "password": password})
        assert registered.status_code == 201, registered.text
        login = await client.post("/login", data={"username": email, "password": password})
        assert login.status_code == 200, login.text
        return Account(
            registered.json()["id"], registered.json()["email"], password, login.json()["access_token"]
        )

    return make


@pytest.fixture
async def alice(make_account: MakeAccount) -> Account:
    return await make_account("alice@example.com")


@pytest.fixture
async def bob(make_account: MakeAccount) -> Account:
    return await make_account("bob@example.com")


MakePost = Callable[..., Awaitable[dict[str, object]]]


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
