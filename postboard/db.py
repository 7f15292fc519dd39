"""The database: its engines and pools, the ORM sessions of transactions, and the fast reads."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Integer, event, literal_column, make_url, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from postboard.config import PGBOUNCER_OPTION
from postboard.engines import (
    PoolSettings,
    PoolUsage,
    driver_arguments,
    engine_pool_usage,
    is_in_memory,
    make_engine,
    session_settings,
)
from postboard.reads import AnySelect, AsyncpgReads, Reads, Row, SQLAlchemyReads

# The cheapest statement that proves a connection works: for the start-up check and readiness.
PING = select(literal_column("1", Integer).label("one"))


def describe_database(database_url: str) -> str:
    """Names the database for people, never with its password: "the SQLite database ./postboard.db", or
    "the database 'postboard' at db.example.com:5432"."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"the SQLite database {url.database or ':memory:'}"
    return f"the database {url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"


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
        if is_in_memory(database_url):
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
            driver_arguments(url, pool),
            session_settings(url, pool),
            pool.size,
            pool.timeout_seconds,
        )

    async def open(self) -> None:
        for reads in self._all_reads:
            await reads.open()

    def orm_session(self, *, writes: bool) -> AsyncSession:
        return (self._write_sessions if writes else self._read_sessions)()

    async def fetch(self, statement: AnySelect, **parameters: Any) -> Sequence[Row]:
        """The rows of a SELECT that is built once (a module-level constant, its values as `bindparam`s):
        the fast path for reads, outside any transaction."""
        return await self._reads.fetch(statement, parameters)

    async def fetch_from_replica(self, statement: AnySelect, **parameters: Any) -> Sequence[Row]:
        """As `fetch`, on the replica: it may lag behind the primary, so its rows may be stale."""
        assert self._replica_reads is not None, "fetch_from_replica needs a replica_url"
        return await self._replica_reads.fetch(statement, parameters)

    def pool_usage(self) -> dict[str, PoolUsage]:
        """Each pool by name: `transactions` (SQLAlchemy's), `reads` (asyncpg's, or SQLAlchemy's reading
        engine on SQLite) and `replica`. For the metrics, which may read it from another thread."""
        engines = {"transactions": self.engine, "reads": self._read_engine}
        usage = {name: engine_pool_usage(engine) for name, engine in engines.items()}
        usage.update(
            (name, reads.usage())
            for name, reads in (("reads", self._reads), ("replica", self._replica_reads))
            if isinstance(reads, AsyncpgReads)
        )
        return {name: pool for name, pool in usage.items() if pool is not None}

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
