"""The PostgreSQL and Redis the suite runs against, and PostgreSQL databases of a test's own."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import asyncpg
import pytest
from sqlalchemy import make_url

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
