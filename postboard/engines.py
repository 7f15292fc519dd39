"""Engines and their pools: the SQLite pragmas, the driver's arguments, and where the two engines differ."""

import asyncio
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import URL, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from postboard.config import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_TIMEOUT_SECONDS,
    PGBOUNCER_OPTION,
    behind_pgbouncer,
)

SQLITE_BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class PoolSettings:
    """How many connections a process keeps per pool, how many more it may open for a burst (closed
    again after use), and how long a request waits for one before it is answered 503; on PostgreSQL, how
    long a statement may run and a connection attempt may wait for the server."""

    size: int = DEFAULT_POOL_SIZE
    max_overflow: int = 0
    timeout_seconds: float = DEFAULT_POOL_TIMEOUT_SECONDS
    # None: no limit, for migrations and commands (an index build may take minutes); the app sets one.
    statement_timeout_seconds: float | None = None
    connect_timeout_seconds: float = DEFAULT_CONNECT_TIMEOUT_SECONDS


def make_engine(
    database_url: str, pool: PoolSettings | None = None, *, sqlite_begin: str | None = "DEFERRED"
) -> AsyncEngine:
    """An engine whose errors never quote a statement's parameters: they hold what clients sent and what
    is stored (emails, password hashes), and the errors end up in the log."""
    pool = pool or PoolSettings()
    if is_in_memory(database_url):
        # One connection, shared: there is no file to pool for.
        engine = create_async_engine(database_url, hide_parameters=True)
    else:
        url = make_url(database_url)
        engine = create_async_engine(
            url.difference_update_query([PGBOUNCER_OPTION]),
            connect_args=driver_arguments(url, pool),
            pool_size=pool.size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.timeout_seconds,
            hide_parameters=True,
        )
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, sqlite_begin)
    else:
        event.listen(engine.sync_engine, "handle_error", _count_confused_connections_as_lost)
        if settings := session_settings(make_url(database_url), pool):
            _apply_session_settings_on_connect(engine, settings)
    # No pre-ping: it costs a round trip per request. A connection lost to a database restart fails one
    # request (503) and makes the pool replace every connection it held before.
    return engine


def _count_confused_connections_as_lost(context: ExceptionContext) -> None:
    """A connection that the server has just closed (a restart, pg_terminate_backend), used before asyncpg
    noticed, may fail as "another operation is in progress" rather than as closed: it is lost all the
    same, so the pool drops it and the request is answered 503 (see errors.py)."""
    driver_error = context.original_exception.__cause__  # SQLAlchemy's adapter raises from asyncpg's error
    if isinstance(driver_error, asyncpg.exceptions.InternalClientError):
        context.is_disconnect = True


def driver_arguments(url: URL, pool: PoolSettings) -> dict[str, Any]:
    """The driver's connection arguments besides the URL, the same on both paths (PostgreSQL only): a
    connect that gets no answer is given up after the connect timeout.

    Behind PgBouncer in transaction mode, statements outside a transaction, and even the two message
    batches asyncpg sends for one statement, may each reach another server connection. asyncpg's cached
    statements are named, prepared on one server connection: elsewhere they are missing, or another
    client's under the same name (wrong rows). Without its cache, asyncpg sends each statement unnamed and
    parses it again in the batch that binds it; SQLAlchemy's cache then keeps only descriptions, client-side.
    """
    if url.get_backend_name() != "postgresql":
        return {}
    arguments: dict[str, Any] = {"timeout": pool.connect_timeout_seconds}
    if behind_pgbouncer(url):
        arguments["statement_cache_size"] = 0
    return arguments


def session_settings(url: URL, pool: PoolSettings) -> dict[str, str]:
    """The PostgreSQL settings each new connection makes for its session, on both paths: the statement
    timeout, after which the server cancels a statement (the request is answered 503; the connection stays
    usable).

    Set by a statement once a connection is made rather than as a startup parameter, which PgBouncer
    refuses ("unsupported startup parameter"), in session mode too. Behind PgBouncer in transaction mode a
    session's settings would stay on a server connection that other clients then share: none are made,
    and the role's own apply (README: Behind PgBouncer)."""
    timeout = pool.statement_timeout_seconds
    if timeout is None or url.get_backend_name() != "postgresql" or behind_pgbouncer(url):
        return {}
    return {"statement_timeout": f"{round(timeout * 1000)}ms"}


async def apply_session_settings(connection: asyncpg.Connection, settings: dict[str, str]) -> None:
    """One round trip per new connection, none per statement."""
    for name, value in settings.items():
        await connection.execute("SELECT set_config($1, $2, false)", name, value)


def _apply_session_settings_on_connect(engine: AsyncEngine, settings: dict[str, str]) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # On the driver's own connection: through SQLAlchemy's adapter the statement would open a
        # transaction, and the pool's rollback at check-in would undo the setting.
        dbapi_connection.run_async(lambda connection: apply_session_settings(connection, settings))


def _configure_sqlite(engine: AsyncEngine, begin: str | None) -> None:
    """Foreign keys on, WAL, a busy timeout, and transactions begun by us (pysqlite's own BEGIN is lazy);
    with `begin` None, none at all: each statement is its own transaction, as reads of one statement need."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA foreign_keys = ON",
            "PRAGMA journal_mode = WAL",
            "PRAGMA synchronous = NORMAL",
            f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(pragma)
        cursor.close()
        # SQLite's own lower() folds ASCII only; titles are searched case-insensitively in any script.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    if begin is not None:

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(connection: Any) -> None:
            connection.exec_driver_sql(f"BEGIN {begin}")


def is_in_memory(database_url: str) -> bool:
    url = make_url(database_url)
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class PoolUsage(NamedTuple):
    """A pool's connections in use and idle, and the callers waiting for one: what the metrics read."""

    used: int
    idle: int
    waiting: int


def engine_pool_usage(engine: AsyncEngine) -> PoolUsage | None:
    """None for an engine that does not pool (an in-memory SQLite database's single connection)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return None
    # The asyncio queue is made at the first checkout; before that, nobody has waited.
    queue = vars(pool._pool).get("_queue")
    return PoolUsage(pool.checkedout(), pool.checkedin(), callers_waiting(queue))


def callers_waiting(queue: "asyncio.Queue[Any] | None") -> int:
    """Callers blocked in `queue.get()`. Both pools wait in an asyncio queue, and neither counts its
    waiters: this reads the queue's own list of them (tests/test_metrics.py checks that it still does)."""
    return len(getattr(queue, "_getters", ()))
