"""Every answer carries X-Request-ID, errors included; a valid incoming id is kept, any other replaced; an
unexpected error is answered 500 with the id, and logged once, with its route, its trace and the id."""

import asyncio
import json
import logging
import re

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from postboard.logs import JsonFormatter, SkipLoggedErrors, log_config
from postboard.request_ids import MAX_LENGTH
from tests.helpers import body_too_large, in_process_client
from tests.live_server import free_port

GENERATED = re.compile(r"[0-9a-f]{32}")
BOOM = "boom-5c1e"


def broken_route(app: FastAPI) -> None:
    async def broken(n: int) -> None:
        raise RuntimeError(BOOM)

    app.add_api_route("/broken/{n}", broken)


async def test_an_id_is_made_for_a_request_without_one(client: httpx.AsyncClient) -> None:
    first = await client.get("/")
    second = await client.get("/")

    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "incoming", ["a", "trace 42/b;c=d", "~" * MAX_LENGTH, "0af7651916cd43dd8448eb211c80319c"]
)
async def test_a_valid_incoming_id_is_kept(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/", headers={"X-Request-ID": incoming})

    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [b"", b"x" * (MAX_LENGTH + 1), b"caf\xc3\xa9", b"tab\there", b"del\x7f"],
    ids=["empty", "too-long", "not-ascii", "control-character", "delete"],
)
async def test_an_invalid_incoming_id_is_replaced(client: httpx.AsyncClient, incoming: bytes) -> None:
    response = await client.get("/", headers=[(b"X-Request-ID", incoming)])

    assert GENERATED.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/posts/", 401),
        ("GET", "/nowhere", 404),
        ("DELETE", "/", 405),
        ("POST", "/users/", 422),
        ("GET", "/health", 200),
        ("GET", "/openapi.json", 200),
    ],
)
async def test_every_answer_carries_the_id(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, headers={"X-Request-ID": "every-answer"})

    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == ["every-answer"]


async def test_a_413_carries_the_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", content=b"x" * 20_000, headers={"X-Request-ID": "too-big"})

    assert response.status_code == 413
    assert response.json() == body_too_large(16 * 1024)
    assert response.headers["x-request-id"] == "too-big"


async def test_an_unexpected_error_is_500_with_the_id_and_logged_once_with_route_and_trace(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    broken_route(app)
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/broken/7", headers={"X-Request-ID": "find-me"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error", "request_id": "find-me"}
    assert response.headers.get_list("x-request-id") == ["find-me"]
    [logged] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    entry = json.loads(JsonFormatter().format(logged))
    assert entry["request_id"] == "find-me"
    assert entry["route"] == "/broken/{n}"
    assert entry["path"] == "/broken/7"
    assert f"RuntimeError: {BOOM}" in entry["exception"]


async def test_uvicorn_does_not_log_again_the_error_postboard_logged(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # Starlette raises the error again once it has answered, for the server to log: `postboard serve`'s
    # log_config filters uvicorn's copy out.
    assert log_config("text")["loggers"]["uvicorn.error"]["filters"] == ["skip_logged_errors"]
    broken_route(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    skip_logged = SkipLoggedErrors()
    logging.getLogger("uvicorn.error").addFilter(skip_logged)
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn.Server has no event for it)
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/broken/1")
    finally:
        server.should_exit = True
        await serving
        logging.getLogger("uvicorn.error").removeFilter(skip_logged)

    assert response.status_code == 500
    traces = [record for record in caplog.records if record.exc_info and BOOM in str(record.exc_info[1])]
    assert [record.name for record in traces] == ["postboard.error_handlers"]
