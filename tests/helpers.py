"""What test modules share, each written once: settings and apps for a test, accounts and their tokens, the
calls tests make, rows read past the API, and the bodies the contract answers with. Plain functions and
constants; the fixtures are in conftest.py."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import ColumnElement, func, select, text

from postboard.app import create_app
from postboard.config import Settings
from postboard.models import Base

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
DEFAULT_PASSWORD = "correct horse battery"


# --- settings and apps ----------------------------------------------------------------------------------


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


# --- accounts and their tokens --------------------------------------------------------------------------


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
    def session_id(self) -> str:
        """The refresh token is "<session id>.<secret>"."""
        return self.refresh.partition(".")[0]

    @property
    def secret(self) -> str:
        return self.refresh.partition(".")[2]


# The fixtures `make_account` and `make_post`: they register (and log in) an account, and create a post.
MakeAccount = Callable[..., Awaitable[Account]]
MakePost = Callable[..., Awaitable[dict[str, object]]]


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> TokenPair:
    """A new login session of its own."""
    response = await client.post("/login", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return TokenPair(response.json()["access_token"], response.json()["refresh_token"])


async def refresh_pair(client: httpx.AsyncClient, refresh_token: str) -> TokenPair:
    response = await client.post("/token/refresh", json={"refresh_token": refresh_token})
    assert response.status_code == 200, response.text
    return TokenPair(response.json()["access_token"], response.json()["refresh_token"])
