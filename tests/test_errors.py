"""When something other than the request is wrong: clean JSON answers, never a trace or SQL."""

from unittest.mock import patch

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url
from sqlalchemy.exc import InternalError

from postboard.app import create_app
from tests.helpers import (
    DATABASE_UNAVAILABLE,
    in_process_client,
    make_settings,
    running_app,
    started,
)
from tests.live_server import free_port
from tests.services import postgres_admin


async def test_unreachable_database_is_503_with_retry_after() -> None:
    app = create_app(make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/postboard"))
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.post("/users/", json={"email": "a@example.com", "password": "long enough"})
    await app.state.database.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == DATABASE_UNAVAILABLE


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (RuntimeError("SELECT secret FROM internals"), "SELECT secret FROM internals"),
        # The driver's own error on a live connection: a bug to look into, not a database out of reach.
        (
            InternalError("SELECT 1", {}, RuntimeError("the driver's own bug"), connection_invalidated=False),
            "the driver's own bug",
        ),
    ],
    ids=["unexpected", "driver-error-on-a-live-connection"],
)
async def test_unexpected_error_is_500_without_details(
    app: FastAPI, caplog: pytest.LogCaptureFixture, error: Exception, logged: str
) -> None:
    async def broken() -> None:
        raise error

    app.add_api_route("/broken", broken)
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    # The request's id lets the operator find the trace that the client is not shown.
    request_id = response.headers["x-request-id"]
    assert response.json() == {"detail": "Internal Server Error", "request_id": request_id}
    assert logged in caplog.text


async def test_requests_recover_when_postgresql_drops_every_connection(postgresql_url: str) -> None:
    credentials = {"username": "restart@example.com", "password": "long enough"}
    async with running_app(postgresql_url) as (_, client):
        registered = await client.post("/users/", json={"email": credentials["username"], **credentials})
        assert registered.status_code == 201
        await _drop_connections_to(make_url(postgresql_url).database)  # as a database restart does
        first = await client.post("/login", data=credentials)
        second = await client.post("/login", data=credentials)
    # No pre-ping: the request that meets a dead connection may fail, but only with a 503, and the pool
    # replaces its connections so that the next one succeeds.
    assert first.status_code in (200, 503), first.text
    assert second.status_code == 200, second.text


async def _drop_connections_to(database: str | None) -> None:
    await postgres_admin(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"  # noqa: S608
    )


async def test_a_connection_confused_by_its_closing_is_dropped_and_answered_503(postgresql_url: str) -> None:
    # What a connection the server has just closed can raise when it is used before asyncpg noticed.
    confused = asyncpg.exceptions.InternalClientError(
        "cannot switch to state 11; another operation is in progress"
    )
    async with (
        started(create_app(make_settings(postgresql_url))) as app,
        in_process_client(app, raise_app_exceptions=False) as client,
    ):
        engine = app.state.database.engine
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            lost = raw.driver_connection
        with patch.object(type(lost), "prepare", side_effect=confused):
            response = await client.post(
                "/users/", json={"email": "a@example.com", "password": "long enough"}
            )
        connected_again = await client.post(
            "/users/", json={"email": "b@example.com", "password": "long enough"}
        )

    assert response.status_code == 503, response.text
    assert response.json() == DATABASE_UNAVAILABLE
    assert connected_again.status_code == 201, connected_again.text
