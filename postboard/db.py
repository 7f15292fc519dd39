"""The database: engines and pools, the per-request session, reads, and where the two engines differ."""

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import URL, Boolean, ColumnElement, Insert, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from postboard.config import (
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_TIMEOUT_SECONDS,
    PGBOUNCER_OPTION,
    behind_pgbouncer,
)
from postboard.orm import Base
from postboard.reads import AnySelect, AsyncpgReads, Reads, Row, SQLAlchemyReads

SQLITE_BUSY_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class PoolSettings:
    """How many connections a process keeps per pool, how many more it may open for a burst (closed
    again after use), and how long a request waits for one before it is answered 503."""

    size: int = DEFAULT_POOL_SIZE
    max_overflow: int = 0
    timeout_seconds: float = DEFAULT_POOL_TIMEOUT_SECONDS


def make_engine(
    database_url: str, pool: PoolSettings | None = None, *, sqlite_begin: str | None = "DEFERRED"
) -> AsyncEngine:
    """An engine whose errors never quote a statement's parameters: they hold what clients sent and what
    is stored (emails, password hashes), and the errors end up in the log."""
    pool = pool or PoolSettings()
    if _is_in_memory(database_url):
        # One connection, shared: there is no file to pool for.
        engine = create_async_engine(database_url, hide_parameters=True)
    else:
        url = make_url(database_url)
        engine = create_async_engine(
            url.difference_update_query([PGBOUNCER_OPTION]),
            connect_args=driver_arguments(url),
            pool_size=pool.size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.timeout_seconds,
            hide_parameters=True,
        )
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, sqlite_begin)
    else:
        event.listen(engine.sync_engine, "handle_error", _count_confused_connections_as_lost)
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


def driver_arguments(url: URL) -> dict[str, Any]:
    """The driver's connection arguments besides the URL, the same on both paths.

    Behind PgBouncer in transaction mode, statements outside a transaction, and even the two message
    batches asyncpg sends for one statement, may each reach another server connection. asyncpg's cached
    statements are named, prepared on one server connection: elsewhere they are missing, or another
    client's under the same name (wrong rows). Without its cache, asyncpg sends each statement unnamed and
    parses it again in the batch that binds it; SQLAlchemy's cache then keeps only descriptions, client-side.
    """
    return {"statement_cache_size": 0} if behind_pgbouncer(url) else {}


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


def _is_in_memory(database_url: str) -> bool:
    url = make_url(database_url)
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class Database:
    """The engines, pools and session factories of one database; made by the app, opened at start and
    disposed at shutdown.

    PostgreSQL: one engine for transactions, and asyncpg's own pool for `fetch`; with `replica_url` (a
    streaming replica of it, which the settings allow on PostgreSQL only), a second such pool there for
    `fetch_from_replica`. SQLite: one writing connection, so that a process's writers queue in turn for it
    (SQLite's busy handler would let them race and back off unfairly), and a pool of reading connections
    beside it (WAL lets them read while it writes).
    """

    def __init__(
        self, database_url: str, pool: PoolSettings | None = None, replica_url: str | None = None
    ) -> None:
        pool = pool or PoolSettings()
        if _is_in_memory(database_url):
            self.engine = self._read_engine = make_engine(database_url)
            self.engines = [self.engine]
            self._reads: Reads = SQLAlchemyReads(self.engine)
        elif make_url(database_url).get_backend_name() == "sqlite":
            one_writer = PoolSettings(size=1, max_overflow=0, timeout_seconds=pool.timeout_seconds)
            # IMMEDIATE: a writing transaction takes the write lock up front, because one that reads first
            # and writes later fails at once (no busy wait) when another process wrote meanwhile.
            self.engine = make_engine(database_url, one_writer, sqlite_begin="IMMEDIATE")
            self._read_engine = make_engine(database_url, pool, sqlite_begin=None)
            self.engines = [self.engine, self._read_engine]
            self._reads = SQLAlchemyReads(self._read_engine)
        else:
            self.engine = make_engine(database_url, pool)
            # A reading transaction needs no BEGIN and ROLLBACK: autocommit spares it the round trips.
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self.engines = [self.engine]
            self._reads = self._asyncpg_reads(database_url, pool)
        self._replica_reads: AsyncpgReads | None = None
        if replica_url is not None:
            self._replica_reads = self._asyncpg_reads(replica_url, pool)
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def _all_reads(self) -> list[Reads]:
        return [self._reads] if self._replica_reads is None else [self._reads, self._replica_reads]

    @property
    def has_replica(self) -> bool:
        return self._replica_reads is not None

    def _asyncpg_reads(self, database_url: str, pool: PoolSettings) -> AsyncpgReads:
        url = make_url(database_url)
        return AsyncpgReads(
            self.engine.dialect,
            url.difference_update_query([PGBOUNCER_OPTION]),
            driver_arguments(url),
            pool.size,
            pool.timeout_seconds,
        )

    async def open(self) -> None:
        for reads in self._all_reads:
            await reads.open()

    def session(self, *, writes: bool) -> AsyncSession:
        return (self._write_sessions if writes else self._read_sessions)()

    async def fetch(self, statement: AnySelect, **parameters: Any) -> Sequence[Row]:
        """The rows of a SELECT that is built once (a module-level constant, its values as `bindparam`s):
        the fast path for reads, outside any transaction."""
        return await self._reads.fetch(statement, parameters)

    async def fetch_from_replica(self, statement: AnySelect, **parameters: Any) -> Sequence[Row]:
        """As `fetch`, on the replica: it may lag behind the primary, so its rows may be stale."""
        assert self._replica_reads is not None, "fetch_from_replica needs a replica_url"
        return await self._replica_reads.fetch(statement, parameters)

    async def dispose(self) -> None:
        for reads in self._all_reads:
            await reads.close()
        for engine in self.engines:
            await engine.dispose()


@contextmanager
def recorded_statements(database: Database) -> Iterator[list[str]]:
    """The SQL of every statement `database` sends while the block runs, by any path: for tests and
    benchmarks that hold the number of statements a request costs."""
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    for engine in database.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    for reads in database._all_reads:
        reads.observers.append(statements.append)
    try:
        yield statements
    finally:
        for reads in database._all_reads:
            reads.observers.remove(statements.append)
        for engine in database.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)


def app_database(request: Request) -> Database:
    """The database the app opened at start, for any part of a request that needs it."""
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    return app_database(request)


AppDatabase = Annotated[Database, Depends(get_database)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed after the route returns and before the response is sent."""
    database = app_database(request)
    async with database.session(writes=request.method not in ("GET", "HEAD")) as session, session.begin():
        yield session


# scope="function": commit before the response goes out, so a client that saw 201 can read what it made.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


class _OneOf(ColumnElement[bool]):
    """`column IN (subquery)`, for a subquery that selects a handful of values (a page's ids, say)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: SQLite needs no `= 1` after it
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own class attribute)
        ("column", InternalTraversal.dp_clauseelement),
        ("subquery", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], subquery: AnySelect) -> None:
        self.column = column
        self.subquery = subquery.scalar_subquery()


def one_of(column: ColumnElement[Any], few: AnySelect) -> ColumnElement[bool]:
    """Whether `column` is among the few values that the SELECT `few` returns.

    On PostgreSQL, `= ANY(ARRAY(subquery))` rather than `IN`: the planner makes an IN into a join, and for a
    prepared statement (asyncpg prepares every one) it does not know the subquery's LIMIT, takes it for a
    tenth of the table, and joins it to the whole table. The array is computed once, then looked up by
    index, whatever the plan assumes."""
    return _OneOf(column, few)


@compiles(_OneOf)
def _compile_in(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {compiler.process(element.subquery, **kw)}"


@compiles(_OneOf, "postgresql")
def _compile_any_array(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY{compiler.process(element.subquery, **kw)})"


def insert_ignoring_duplicates(session: AsyncSession, model: type[Base]) -> Insert:
    """An INSERT that skips rows whose key already exists; its rowcount says whether a row was added."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement: Insert = dialect.insert(model).on_conflict_do_nothing()
    return statement
