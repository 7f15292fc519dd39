"""The schema as the migrations build it, and the engine settings the app relies on."""

import asyncio
from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import delete, func, insert, inspect, select, table, text

from postboard.db import Database
from postboard.migrations import alembic_config, upgrade_to_head
from postboard.models import Post, User, Vote
from tests.conftest import new_postgres_database
from tests.schema import schema_differences


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
            insert(Post).values(title="t", content="c", owner_id=author).returning(Post.id)
        )
        await connection.execute(
            insert(Vote), [{"post_id": post_id, "user_id": voter}, {"post_id": post_id, "user_id": author}]
        )
        await connection.execute(delete(User).where(User.id == author))
        assert await connection.scalar(select(func.count()).select_from(Post)) == 0
        assert await connection.scalar(select(func.count()).select_from(Vote)) == 0
        assert await connection.scalar(text("SELECT count(*) FROM users")) == 1
