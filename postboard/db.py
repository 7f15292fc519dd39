"""The database: engine set-up, the per-request session, and the few places where the engines differ."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, Dialect, Index, Insert, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

# Ids are 32-bit integers in both engines: a larger one can name no row, so it is answered as missing.
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**63 - 1
SQLITE_BUSY_TIMEOUT_MS = 5000
# Read by the SQLite `begin` hook: a writing request takes the write lock up front, because a
# transaction that reads first and writes later fails at once (no busy wait) when another wrote meanwhile.
_SQLITE_BEGIN = "postboard_sqlite_begin"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    pass


Base.metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both engines (SQLite stores none and hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def only_on(dialect: str, index: Index) -> Index:
    """An index that only `dialect` has (a type of index the other engine lacks); autogenerate skips it
    elsewhere through `postboard.migrations.include_object`."""
    index.info["only_on"] = dialect
    return index.ddl_if(dialect=dialect)


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_storable_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def create_engine(database_url: str) -> AsyncEngine:
    if make_url(database_url).get_backend_name() == "sqlite":
        engine = create_async_engine(database_url)
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip per request. A connection lost to a database restart fails one
    # request (503) and makes the pool replace every connection it held before.
    return create_async_engine(database_url)


def _configure_sqlite(engine: AsyncEngine) -> None:
    """Foreign keys on, WAL, a busy timeout, and transactions begun by us (pysqlite's own BEGIN is lazy)."""

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

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _reader_and_writer(engine: AsyncEngine) -> tuple[AsyncEngine, AsyncEngine]:
    """The engine as reading requests and as writing requests use it."""
    if engine.dialect.name == "sqlite":
        return engine, engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
    # A reading request needs no transaction: autocommit spares it the BEGIN and ROLLBACK round trips.
    return engine.execution_options(isolation_level="AUTOCOMMIT"), engine


class Database:
    """One engine and its session factories; made by the app at start, disposed at shutdown."""

    def __init__(self, database_url: str) -> None:
        self.engine = create_engine(database_url)
        reader, writer = _reader_and_writer(self.engine)
        self._read_sessions = async_sessionmaker(reader, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False)

    def session(self, *, writes: bool) -> AsyncSession:
        return (self._write_sessions if writes else self._read_sessions)()

    async def dispose(self) -> None:
        await self.engine.dispose()


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


AppDatabase = Annotated[Database, Depends(get_database)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed after the route returns and before the response is sent."""
    database = get_database(request)
    async with database.session(writes=request.method not in ("GET", "HEAD")) as session, session.begin():
        yield session


# scope="function": commit before the response goes out, so a client that saw 201 can read what it made.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def insert_ignoring_duplicates(session: AsyncSession, model: type[Base]) -> Insert:
    """An INSERT that skips rows whose key already exists; its rowcount says whether a row was added."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement: Insert = dialect.insert(model).on_conflict_do_nothing()
    return statement
