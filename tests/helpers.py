"""What test modules share, each written once: settings and apps for a test, accounts and their tokens, the
calls tests make, rows read past the API, and the bodies the contract answers with. Plain functions and
constants; the fixtures are in conftest.py."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from sqlalchemy import ColumnElement, func, select, text

from postboard.app import create_app
from postboard.config import Settings
from postboard.models import Base
from postboard.moderation.service import set_role
from postboard.users.models import Role, User

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
DEFAULT_PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"

# --- what the contract answers --------------------------------------------------------------------------

NOT_AUTHENTICATED = {"detail": "Not authenticated"}
INVALID_TOKEN = {"detail": "Could not validate credentials"}
INVALID_CREDENTIALS = {"detail": "Invalid Credentials"}
INVALID_REFRESH_TOKEN = {"detail": "Invalid or expired refresh token"}
WRONG_PASSWORD = {"detail": "The current password is incorrect"}
TOO_MANY_LOGIN_FAILURES = {"detail": "Too many failed login attempts, try again later"}
TOO_MANY_REGISTRATIONS = {"detail": "Too many registrations from this address, try again later"}
DATABASE_UNAVAILABLE = {"detail": "The database is unavailable, try again shortly"}
VOTE_ADDED = {"message": "successfully added vote"}


def body_too_large(limit: int) -> dict[str, str]:
    return {"detail": f"Request body is larger than the limit of {limit} bytes"}


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


def in_process_client(application: FastAPI, **transport_options: Any) -> httpx.AsyncClient:
    """A client that calls the app in-process; the options (`client`, `raise_app_exceptions`) go to
    httpx.ASGITransport."""
    transport = httpx.ASGITransport(app=application, **transport_options)
    return httpx.AsyncClient(transport=transport, base_url="http://postboard.test")


@asynccontextmanager
async def started(application: FastAPI) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered; the rows it made are deleted before the lifespan ends."""
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            await delete_all_rows(application)


@asynccontextmanager
async def running_app(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app of the test's own settings on the test database, started, and a client for it; the rows it
    made are deleted at the end."""
    async with (
        started(create_app(make_settings(database_url, **overrides))) as application,
        in_process_client(application) as client,
    ):
        yield application, client


# --- accounts and their tokens --------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass(frozen=True)
class TokenPair:
    """What POST /login and POST /token/refresh hand out."""

    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)

    @property
    def login_session_id(self) -> str:
        """The refresh token is "<session id>.<secret>"."""
        return self.refresh.partition(".")[0]

    @property
    def secret(self) -> str:
        return self.refresh.partition(".")[2]


# The fixtures `make_account` and `make_post`: they register (and log in) an account, and create a post.
MakeAccount = Callable[..., Awaitable[Account]]
MakePost = Callable[..., Awaitable[dict[str, object]]]


def fresh_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    return await client.post("/users/", json={"email": email, "password": password})


async def register_account(client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> int:
    """Registers an account; its id."""
    response = await register(client, email, password)
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


async def post_login(
    client: httpx.AsyncClient, email: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post("/login", data={"username": email, "password": password}, headers=headers)


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/token/refresh", json={"refresh_token": refresh_token})


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> TokenPair:
    """A new login session of its own."""
    response = await post_login(client, email, password)
    assert response.status_code == 200, response.text
    return TokenPair(response.json()["access_token"], response.json()["refresh_token"])


async def refresh_pair(client: httpx.AsyncClient, refresh_token: str) -> TokenPair:
    response = await refresh(client, refresh_token)
    assert response.status_code == 200, response.text
    return TokenPair(response.json()["access_token"], response.json()["refresh_token"])


async def register_and_log_in(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> TokenPair:
    await register_account(client, email, password)
    return await log_in(client, email, password)


# --- the account's own routes (/users/me) ---------------------------------------------------------------


async def get_me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get("/users/me", headers=headers)


async def patch_me(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.patch("/users/me", json=body, headers=headers)


async def put_password(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.put("/users/me/password", json=body, headers=headers)


async def change_password(
    client: httpx.AsyncClient, headers: dict[str, str], current: str, new: str
) -> httpx.Response:
    return await put_password(client, headers, {"current_password": current, "new_password": new})


async def delete_me(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.request("DELETE", "/users/me", json=body, headers=headers)


# --- rows read past the API ----------------------------------------------------------------------------


async def count_rows(app: FastAPI, model: type[Base], *criteria: ColumnElement[bool]) -> int:
    """Rows of a table as the database holds them, read past the API."""
    async with app.state.database.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(model).where(*criteria))
    assert isinstance(count, int)
    return count


@dataclass(frozen=True)
class StoredUser:
    """A user's row as the database holds it, read past the API."""

    email: str
    password_hash: str
    created_at: datetime


async def stored_user(app: FastAPI, user_id: int) -> StoredUser | None:
    async with app.state.database.engine.connect() as connection:
        row = (
            await connection.execute(
                select(User.email, User.password_hash, User.created_at).where(User.id == user_id)
            )
        ).one_or_none()
    return None if row is None else StoredUser(row.email, row.password_hash, row.created_at)


# --- posts and votes ------------------------------------------------------------------------------------


async def cast_vote(
    client: httpx.AsyncClient, voter: Account, post_id: object, direction: object
) -> httpx.Response:
    return await client.post("/vote/", json={"post_id": post_id, "dir": direction}, headers=voter.headers)


async def vote(client: httpx.AsyncClient, voter: Account, post_id: object, direction: int = 1) -> None:
    response = await cast_vote(client, voter, post_id, direction)
    assert response.status_code == 201, response.text


async def votes_on(client: httpx.AsyncClient, viewer: Account, post_id: object) -> int:
    """The post's vote count, as GET /posts/{id} shows it to `viewer`."""
    response = await client.get(f"/posts/{post_id}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    votes: int = response.json()["votes"]
    return votes


# --- moderation ----------------------------------------------------------------------------------------

ADMINS_ONLY = {"detail": "Admins only"}
ACCOUNT_SUSPENDED = {"detail": "Account suspended"}
A_REASON = {"reason": "Spam, reported three times"}


async def give_role(app: FastAPI, email: str, role: Role) -> None:
    """What `postboard set-role` does, on the app's database."""
    async with app.state.database.orm_session(writes=True) as db, db.begin():
        await set_role(db, email, role)


async def suspend(client: httpx.AsyncClient, admin: Account, account_id: object) -> httpx.Response:
    return await client.post(f"/admin/users/{account_id}/suspend", json=A_REASON, headers=admin.headers)


async def reinstate(client: httpx.AsyncClient, admin: Account, account_id: object) -> httpx.Response:
    return await client.post(f"/admin/users/{account_id}/reinstate", json=A_REASON, headers=admin.headers)


async def report(client: httpx.AsyncClient, reporter: Account, post_id: object) -> httpx.Response:
    return await client.post(f"/posts/{post_id}/report", json=A_REASON, headers=reporter.headers)


# --- assertions -----------------------------------------------------------------------------------------


def retry_after(response: httpx.Response) -> int:
    value = response.headers["retry-after"]
    assert value.isdigit(), value
    return int(value)


def assert_throttled(
    response: httpx.Response, body: dict[str, str], min_seconds: int = 1, max_seconds: int = 60
) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == body
    assert min_seconds <= retry_after(response) <= max_seconds
    assert "access_token" not in response.text
