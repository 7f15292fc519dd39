"""GET /health (liveness, no database, no Redis) and GET /ready (readiness: the database and Redis pinged,
a 503 naming what failed and never its address or credentials)."""

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import make_url

from postboard.app import create_app
from postboard.migrations import upgrade_to_head
from tests.helpers import in_process_client, make_settings, running_app
from tests.live_server import free_port
from tests.services import new_postgres_database, postgres_admin

READY = {"status": "ready", "database": "ok", "replica": "not configured", "redis": "not configured"}
REDIS_PASSWORD = "redis-pass-8e1f"


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_needs_no_database() -> None:
    # Never started: its database (a closed port) was never reached, and /health does not try.
    app = create_app(make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/postboard"))
    async with in_process_client(app) as client:
        response = await client.get("/health")
    await app.state.database.dispose()

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_answers_each_component_state(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == READY


async def test_ready_pings_redis_when_it_is_set(database_url: str, redis_url: str) -> None:
    async with running_app(database_url, redis_url=redis_url) as (_, client):
        response = await client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {**READY, "redis": "ok"}


async def test_ready_is_503_naming_redis_when_it_is_unreachable(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0"
    async with running_app(database_url, redis_url=redis_url) as (_, client):
        response = await client.get("/ready")
        health = await client.get("/health")

    assert response.status_code == 503
    assert response.json() == {**READY, "status": "unavailable", "redis": "unavailable"}
    assert response.headers["retry-after"] == "5"
    assert health.status_code == 200
    for secret in (REDIS_PASSWORD, str(port)):
        assert secret not in response.text
        assert secret not in caplog.text
    assert "readiness: redis unavailable" in caplog.text


@pytest.fixture
def own_postgresql_url() -> Iterator[str]:
    """A database of the test's own: the app's connections to it are cut, so no rows are deleted after."""
    with new_postgres_database() as database_url:
        upgrade_to_head(database_url)
        yield database_url


async def test_ready_is_503_naming_the_database_when_it_is_unreachable(own_postgresql_url: str) -> None:
    # The database stops accepting connections and its sessions are ended, then it accepts them again.
    database_url = own_postgresql_url
    name = make_url(database_url).database
    app = create_app(make_settings(database_url))
    async with app.router.lifespan_context(app), in_process_client(app) as client:
        before = await client.get("/ready")
        await postgres_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            await postgres_admin(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"  # noqa: S608
            )
            during = await client.get("/ready")
            health = await client.get("/health")
        finally:
            await postgres_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        after = await client.get("/ready")

    assert before.json() == READY
    assert during.status_code == 503
    assert during.json() == {**READY, "status": "unavailable", "database": "unavailable"}
    assert health.status_code == 200
    assert after.status_code == 200, after.text


def test_health_and_ready_are_documented_with_the_503() -> None:
    schema = create_app(make_settings("sqlite+aiosqlite://")).openapi()

    health, ready = schema["paths"]["/health"]["get"], schema["paths"]["/ready"]["get"]
    assert health["tags"] == ready["tags"] == ["Health"]
    assert "security" not in health
    assert "security" not in ready
    assert set(ready["responses"]) == {"200", "503"}
    for documented in (ready["responses"]["200"], ready["responses"]["503"]):
        assert documented["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Readiness"
        }
    assert "Retry-After" in ready["responses"]["503"]["headers"]
    assert health["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }
