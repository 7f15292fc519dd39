"""A database error's log line names the statement, never its parameters: they hold what clients sent
and what is stored (emails, password hashes)."""

import logging
import traceback
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, bindparam, select, text

from postboard.app import create_app
from postboard.db import Database
from postboard.reads import UnencodableArgument
from postboard.users.models import User
from tests.helpers import DEFAULT_PASSWORD, in_process_client, log_in, make_settings

PROBE_EMAIL = "probe-4f1c@example.com"
PROBE_SEARCH = "probe-search-9d2e"
PROBE_TITLE = "probe-title-7b3a"


@pytest.fixture
async def private_app(migrated_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(migrated_url))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def private_client(private_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions=False: a 500 is answered, as a server would, rather than raised into the test.
    async with in_process_client(private_app, raise_app_exceptions=False) as client:
        yield client


async def hide_table(app: FastAPI, table: str) -> None:
    """Every statement on `table` fails in the database from now on."""
    async with app.state.database.engine.begin() as connection:
        await connection.execute(text(f"ALTER TABLE {table} RENAME TO {table}_elsewhere"))


def logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The error records, each with its trace."""
    return [caplog.handler.format(record) for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_failed_registration_logs_neither_the_email_nor_the_password_hash(
    private_app: FastAPI, private_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    await hide_table(private_app, "users")

    response = await private_client.post("/users/", json={"email": PROBE_EMAIL, "password": DEFAULT_PASSWORD})

    assert response.status_code >= 500, response.text  # the database is broken, not the request
    assert PROBE_EMAIL not in response.text
    assert any("INSERT INTO users" in error for error in logged_errors(caplog)), caplog.text
    assert PROBE_EMAIL not in caplog.text
    assert "$argon2" not in caplog.text


async def test_failed_reads_and_writes_of_posts_log_nothing_the_client_sent(
    private_app: FastAPI, private_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    registered = await private_client.post(
        "/users/", json={"email": PROBE_EMAIL, "password": DEFAULT_PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    auth = (await log_in(private_client, PROBE_EMAIL, DEFAULT_PASSWORD)).headers
    await hide_table(private_app, "posts")

    searched = await private_client.get("/posts/", params={"search": PROBE_SEARCH}, headers=auth)
    posted = await private_client.post("/posts/", json={"title": PROBE_TITLE, "content": "x"}, headers=auth)

    assert searched.status_code >= 500, searched.text
    assert posted.status_code >= 500, posted.text
    errors = logged_errors(caplog)
    assert any("GET /posts/" in error for error in errors), caplog.text
    assert any("INSERT INTO posts" in error for error in errors), caplog.text
    for sent in (PROBE_SEARCH, PROBE_TITLE):
        assert not any(sent in error for error in errors)
    # The access line shows the search on purpose (postboard/access_log.py), and only that.
    assert PROBE_TITLE not in caplog.text


async def test_an_argument_the_driver_cannot_encode_is_not_quoted(postgresql_url: str) -> None:
    # asyncpg's own error quotes such an argument; the read path's error leaves it out.
    unencodable_id = 2**70
    database = Database(postgresql_url)
    await database.open()
    try:
        with pytest.raises(UnencodableArgument) as failure:
            await database.fetch(
                select(User.id).where(User.id == bindparam("user_id", type_=Integer)), user_id=unencodable_id
            )
    finally:
        await database.dispose()

    logged = "".join(traceback.format_exception(failure.value))
    assert "query argument $1 (OverflowError)" in logged
    assert str(unencodable_id) not in logged
