"""When something other than the request is wrong: clean JSON answers, never a trace or SQL."""

import httpx
import pytest
from fastapi import FastAPI

from postboard.app import create_app
from tests.conftest import make_settings
from tests.live_server import free_port


async def test_unreachable_database_is_503_with_retry_after() -> None:
    app = create_app(make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/postboard"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://postboard.test") as client:
        response = await client.post("/users/", json={"email": "a@example.com", "password": "long enough"})
    await app.state.database.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "The database is unavailable, try again shortly"}


async def test_unexpected_error_is_500_without_details(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://postboard.test") as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    # The operator gets the trace in the log; the client gets none of it.
    assert "SELECT secret FROM internals" in caplog.text
