"""Alembic's entry point: runs the migrations on the async engine Postboard itself uses."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from postboard.config import Settings
from postboard.engines import make_engine
from postboard.migrations import include_object, record_applied
from postboard.models import Base


def _run_migrations(connection: Connection) -> None:
    # render_as_batch: SQLite alters a table by copying it, which Alembic's batch mode does.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        include_object=include_object(connection.dialect.name),
        on_version_apply=record_applied(context.config.attributes.setdefault("applied_revisions", [])),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    database_url = context.config.attributes.get("database_url") or Settings().database_url
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_run_online())
