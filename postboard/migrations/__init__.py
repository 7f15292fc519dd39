"""Schema migrations, applied by `postboard migrate` and at the start of `postboard serve`."""

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from postboard.engines import make_engine


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("postboard") / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> list[str]:
    """Applies every pending migration and returns their revisions, in the order applied (none when the
    database was up to date). Runs its own event loop: call it outside one."""
    config = alembic_config(database_url)
    applied: list[str] = []
    config.attributes["applied_revisions"] = applied
    command.upgrade(config, "head")
    return applied


def record_applied(revisions: list[str]) -> Callable[..., None]:
    """Alembic's on_version_apply hook: appends each revision it upgrades to `revisions`."""

    def record(*, step: MigrationInfo, **_context: Any) -> None:
        if step.is_upgrade:
            revisions.extend(step.up_revision_ids)

    return record


def include_object(dialect_name: str) -> Callable[..., bool]:
    """Autogenerate's filter for a database of `dialect_name`: the models' indexes that only another engine
    builds (`postboard.db.only_on`) are not expected there."""

    def include(schema_object: Any, _name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
        only_on = None if reflected or type_ != "index" else schema_object.info.get("only_on")
        return only_on in (None, dialect_name)

    return include


def head_revisions(database_url: str) -> frozenset[str]:
    """The revisions the migrations end at (one, unless two branches await a merge)."""
    return frozenset(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


async def database_revisions(database_url: str) -> frozenset[str]:
    """The revisions the database is at: none when it was never migrated."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return frozenset(await connection.run_sync(_current_heads))
    finally:
        await engine.dispose()


def _current_heads(connection: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(connection).get_current_heads()
