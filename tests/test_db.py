"""The schema as the migrations build it, and the engine settings the app relies on."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import Numeric, delete, func, insert, inspect, literal, select, table, text

from postboard.db import Database
from postboard.migrations import alembic_config, upgrade_to_head
from postboard.models import PostRow, User, Vote
from tests.helpers import (
    DATABASE_UNAVAILABLE,
    DEFAULT_PASSWORD,
    count_rows,
    register_and_log_in,
    running_app,
)
from tests.schema import schema_differences
from tests.services import new_postgres_database


async def test_migrations_build_exactly_the_models_schema(app: FastAPI) -> None:
    async with app.state.database.engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []


def _table_names(database_url: str) -> set[str]:
    async def read() -> set[str]:
        database = Database(database_url)
        try:
            async with database.engine.connect() as connection:
                return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_migrations_downgrade_to_nothing_and_upgrade_again(engine: str, tmp_path: Path) -> None:
    def round_trip(database_url: str) -> None:
        upgrade_to_head(database_url)
        assert {"users", "posts", "votes"} <= _table_names(database_url)
        command.downgrade(alembic_config(database_url), "base")
        assert _table_names(database_url) == {"alembic_version"}
        upgrade_to_head(database_url)
        assert {"users", "posts", "votes"} <= _table_names(database_url)

    if engine == "sqlite":
        round_trip(f"sqlite+aiosqlite:///{tmp_path / 'round-trip.db'}")
    else:
        with new_postgres_database() as database_url:
            round_trip(database_url)


def _run_statements(database_url: str, *statements: str) -> list[int]:
    """Runs `statements` in one transaction; the first column of each one's first row, where it has rows."""

    async def run() -> list[int]:
        database = Database(database_url)
        try:
            async with database.engine.begin() as connection:
                results = [await connection.execute(text(statement)) for statement in statements]
                return [result.scalar_one() for result in results if result.returns_rows]
        finally:
            await database.dispose()

    return asyncio.run(run())


_COUNT_ROWS = ("SELECT count(*) FROM users", "SELECT count(*) FROM posts", "SELECT count(*) FROM votes")


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_undoing_the_email_and_moderation_migrations_keeps_every_row(engine: str, tmp_path: Path) -> None:
    """0007 and 0008 change `users` in place: a copy of it (Alembic's batch mode on SQLite) would cascade
    the old copy's deletion to every post and vote."""

    def round_trip(database_url: str) -> None:
        upgrade_to_head(database_url)
        _run_statements(
            database_url,
            "INSERT INTO users (id, email, password_hash) VALUES (1, 'ada@example.com', 'hash')",
            "INSERT INTO posts (id, title, content, published, owner_id) VALUES (1, 'T', 'C', true, 1)",
            "INSERT INTO votes (post_id, user_id) VALUES (1, 1)",
        )
        command.downgrade(alembic_config(database_url), "0006")
        assert _run_statements(database_url, *_COUNT_ROWS) == [1, 1, 1]

    if engine == "sqlite":
        round_trip(f"sqlite+aiosqlite:///{tmp_path / 'keeps-rows.db'}")
    else:
        with new_postgres_database() as database_url:
            round_trip(database_url)


# Each connection's named prepared statements: asyncpg lists the unnamed ones nowhere.
_NAMED_STATEMENTS = select(func.count().label("named")).select_from(table("pg_prepared_statements"))


@pytest.mark.parametrize(("option", "named_statements"), [("", True), ("?pgbouncer=transaction", False)])
async def test_only_direct_connections_keep_named_statements(
    postgresql_url: str, option: str, named_statements: bool
) -> None:
    """Named statements are the fast path on a direct connection; behind PgBouncer in transaction mode they
    would be met on other clients' server connections, so neither path makes one (and the option itself
    reaches no driver, which would refuse it)."""
    database = Database(postgresql_url + option)
    try:
        await database.open()
        read_path = (await database.fetch(_NAMED_STATEMENTS))[0]["named"]
        async with database.engine.connect() as connection:
            await connection.execute(select(User.id).limit(1))
            transaction_path = (await connection.execute(_NAMED_STATEMENTS)).scalar_one()
    finally:
        await database.dispose()
    assert (read_path > 0, transaction_path > 0) == (named_statements, named_statements)


async def test_sqlite_connections_enforce_foreign_keys_use_wal_and_wait_when_busy(sqlite_url: str) -> None:
    database = Database(sqlite_url)
    try:
        async with database.engine.connect() as connection:
            settings = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
    finally:
        await database.dispose()
    assert settings == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 5000}


async def test_deleting_a_user_removes_their_posts_and_votes_in_the_database(app: FastAPI) -> None:
    async with app.state.database.engine.begin() as connection:
        author, voter = (
            await connection.execute(
                insert(User).returning(User.id),
                [
                    {"email": "author@example.com", "password_hash": "x"},
                    {"email": "voter@example.com", "password_hash": "x"},
                ],
            )
        ).scalars()
        post_id = await connection.scalar(
            insert(PostRow).values(title="t", content="c", owner_id=author).returning(PostRow.id)
        )
        await connection.execute(
            insert(Vote), [{"post_id": post_id, "user_id": voter}, {"post_id": post_id, "user_id": author}]
        )
        await connection.execute(delete(User).where(User.id == author))
        assert await connection.scalar(select(func.count()).select_from(PostRow)) == 0
        assert await connection.scalar(select(func.count()).select_from(Vote)) == 0
        assert await connection.scalar(text("SELECT count(*) FROM users")) == 1


def _database_url(engine: str, tmp_path: Path) -> Iterator[str]:
    if engine == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'own.db'}"
        return
    with new_postgres_database() as database_url:
        yield database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own with no schema yet."""
    yield from _database_url(request.param, tmp_path)


def test_the_vote_count_migration_counts_the_votes_already_there(empty_database_url: str) -> None:
    command.upgrade(alembic_config(empty_database_url), "0002")

    async def add_votes() -> None:
        database = Database(empty_database_url)
        try:
            async with database.engine.begin() as connection:
                # Plain SQL: the models already have columns that schema 0002 lacks.
                for statement in (
                    "INSERT INTO users (id, email, password_hash) VALUES "
                    "(1, 'a@example.com', 'x'), (2, 'b@example.com', 'x')",
                    "INSERT INTO posts (id, title, content, owner_id) VALUES "
                    "(1, 't', 'c', 1), (2, 't', 'c', 1)",
                    "INSERT INTO votes (post_id, user_id) VALUES (1, 1), (1, 2), (2, 2)",
                ):
                    await connection.execute(text(statement))
        finally:
            await database.dispose()

    async def counts() -> list[tuple[int, int]]:
        database = Database(empty_database_url)
        try:
            async with database.engine.connect() as connection:
                rows = await connection.execute(select(PostRow.id, PostRow.vote_count).order_by(PostRow.id))
                return [(post_id, votes) for post_id, votes in rows]
        finally:
            await database.dispose()

    asyncio.run(add_votes())
    upgrade_to_head(empty_database_url)

    assert asyncio.run(counts()) == [(1, 2), (2, 1)]


async def test_a_request_that_waits_past_the_pool_timeout_is_a_503(database_url: str) -> None:
    async with running_app(database_url, database_pool_size=1, database_pool_timeout=0.2) as (
        application,
        client,
    ):
        headers = (await register_and_log_in(client, "a@example.com")).headers
        # The pool's only connection is taken for longer than the timeout.
        async with application.state.database.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            post = await client.post("/posts/", json={"title": "t", "content": "c"}, headers=headers)
            # Checked on a read of its own, the password then waits for the transaction's connection.
            password_change = await client.put(
                "/users/me/password",
                json={"current_password": DEFAULT_PASSWORD, "new_password": "another password"},
                headers=headers,
            )

    for response in (post, password_change):
        assert response.status_code == 503, response.text
        assert response.json() == DATABASE_UNAVAILABLE
        assert response.headers["retry-after"].isdigit()


async def test_a_read_that_waits_past_the_pool_timeout_is_a_503(postgresql_url: str) -> None:
    async with running_app(postgresql_url, database_pool_size=1, database_pool_timeout=0.2) as (
        application,
        client,
    ):
        headers = (await register_and_log_in(client, "a@example.com")).headers
        # The read pool's only connection sleeps for longer than the timeout.
        slow_read = asyncio.create_task(
            application.state.database.fetch(select(literal(1)).where(func.pg_sleep(1).is_not(None)))
        )
        await asyncio.sleep(0.1)
        response = await client.get("/posts/", headers=headers)
        await slow_read

    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()


async def test_reads_refuse_a_column_type_asyncpg_would_not_return_as_the_app_expects(
    postgresql_url: str,
) -> None:
    database = Database(postgresql_url)
    await database.open()
    try:
        with pytest.raises(TypeError, match="Numeric"):
            await database.fetch(select(literal(1.5, Numeric()).label("amount")))
    finally:
        await database.dispose()


async def test_sqlite_writers_of_one_process_take_turns_without_being_refused(sqlite_url: str) -> None:
    async with running_app(sqlite_url, database_pool_timeout=60) as (application, client):
        headers = (await register_and_log_in(client, "a@example.com")).headers
        responses = await asyncio.gather(
            *(
                client.post("/posts/", json={"title": f"t{n}", "content": "c"}, headers=headers)
                for n in range(64)
            )
        )
        created = await count_rows(application, PostRow)

    assert [response.status_code for response in responses] == [201] * 64
    assert created == 64
