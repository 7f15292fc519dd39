"""The read path: the SELECTs that most requests run, each compiled once and run at the driver's speed.

SQLAlchemy builds and compiles every statement; on PostgreSQL, running one through an `AsyncConnection`
costs about 140 µs of Python per statement on top of asyncpg's own work (greenlet hand-offs, cache keys,
result adaptation), and a checkout 60 µs more: more than the whole query. So reads compile their
statement once, to the SQL and parameter order asyncpg takes, and run it on a pool of asyncpg's own.
On SQLite each call is a hop to aiosqlite's thread anyway, so reads keep SQLAlchemy's execution there.
Behind PgBouncer in transaction mode the pool caches no statement (see `engines.driver_arguments`).
Rows come back as asyncpg `Record`s or SQLAlchemy `RowMapping`s: both are read by column name.
"""

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import asyncpg
from sqlalchemy import URL, Boolean, Dialect, Integer, Select, String
from sqlalchemy.ext.asyncio import AsyncEngine

from postboard.engines import PoolUsage, apply_session_settings, callers_waiting
from postboard.orm import UTCDateTime
from postboard.outages import database_unavailable

# Column types that asyncpg already returns as the Python values the app expects (UTCDateTime: asyncpg
# returns aware UTC datetimes), so its rows need no conversion. A statement that selects another type is
# refused when it is first compiled, rather than returning values of the wrong type.
_NATIVE_TYPES = (Integer, String, Boolean, UTCDateTime)
# SQLAlchemy's own connection arguments, which asyncpg.connect does not take.
_SQLALCHEMY_ONLY_ARGUMENTS = ("prepared_statement_name_func", "async_creator_fn")


# A SELECT of any columns.
AnySelect = Select[*tuple[Any, ...]]


class Row(Protocol):
    def __getitem__(self, column: str) -> Any: ...


class DatabaseUnavailable(Exception):
    """The database could not be reached, or gave no connection in time: the request may be retried."""


class UnencodableArgument(Exception):
    """asyncpg could not encode a statement's argument: a bug, told without the argument's value."""


class Reads(Protocol):
    # Told the SQL of each statement sent past SQLAlchemy (whose own statements its events report).
    observers: list[Callable[[str], None]]

    async def open(self) -> None: ...

    async def fetch(self, statement: AnySelect, parameters: dict[str, Any]) -> Sequence[Row]: ...

    async def close(self) -> None: ...


class SQLAlchemyReads:
    """Reads through SQLAlchemy Core on `engine`, each on a connection of its own (SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.observers: list[Callable[[str], None]] = []

    async def open(self) -> None:
        pass

    async def fetch(self, statement: AnySelect, parameters: dict[str, Any]) -> Sequence[Row]:
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, parameters)).mappings().all()

    async def close(self) -> None:
        pass


class AsyncpgReads:
    """Reads on the PostgreSQL server at `url`: each statement compiled once by `dialect`, run on asyncpg's
    pool."""

    def __init__(
        self,
        dialect: Dialect,
        url: URL,
        driver_arguments: dict[str, Any],
        session_settings: dict[str, str],
        pool_size: int,
        timeout_seconds: float,
    ) -> None:
        self._dialect = dialect
        self._url = url
        self._driver_arguments = driver_arguments  # as the engine passes them, on top of the URL
        self._session_settings = session_settings  # as the engine makes them on each new connection
        self._pool_size = pool_size
        self._timeout_seconds = timeout_seconds
        self._pool: asyncpg.Pool | None = None
        self._compiled: dict[AnySelect, _Compiled] = {}
        self.observers: list[Callable[[str], None]] = []

    async def open(self) -> None:
        _, arguments = self._dialect.create_connect_args(self._url)
        # One setting governs both statement caches: `?prepared_statement_cache_size=0` turns off ours too.
        arguments["statement_cache_size"] = arguments.pop("prepared_statement_cache_size", 100)
        for name in _SQLALCHEMY_ONLY_ARGUMENTS:
            arguments.pop(name, None)
        arguments.update(self._driver_arguments)  # behind PgBouncer: no statement cache at all
        self._pool = await asyncpg.create_pool(
            min_size=0,
            max_size=self._pool_size,
            # Reads leave no session state behind (no transaction, no SET, no LISTEN), so the round trip
            # that asyncpg's default reset makes at every release buys nothing.
            reset=_keep_as_is,
            init=self._set_up_session,
            **arguments,
        )

    async def _set_up_session(self, connection: asyncpg.Connection) -> None:
        await apply_session_settings(connection, self._session_settings)

    async def fetch(self, statement: AnySelect, parameters: dict[str, Any]) -> Sequence[Row]:
        assert self._pool is not None, "open() the reads before fetching"
        sql, parameter_names, literals = self._compile(statement)
        arguments = [parameters[name] if name in parameters else literals[name] for name in parameter_names]
        for observe in self.observers:
            observe(sql)
        try:
            connection = await self._acquire(self._pool)
            try:
                rows: Sequence[Row] = await connection.fetch(sql, *arguments)
            finally:
                await self._pool.release(connection)
        except asyncpg.DataError as error:
            if error.__cause__ is None:  # the server's own: its message quotes no argument
                raise
            raise _without_the_value(error, sql) from None
        except Exception as error:
            # Any OSError here is the connection's: nothing else in this block touches the system.
            if database_unavailable(error) or isinstance(error, OSError):
                raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
            raise
        return rows

    async def _acquire(self, pool: asyncpg.Pool) -> asyncpg.Connection:
        """A connection of the pool, within the pool timeout. The timer is set only when every connection
        is busy: asyncpg's own acquire(timeout=) runs in a task of its own, and even asyncio.timeout costs
        a system call per read on Python 3.11 (asyncio checks the process id when it looks up the loop)."""
        if pool.get_idle_size():
            return await pool.acquire()
        async with asyncio.timeout(self._timeout_seconds):
            return await pool.acquire()

    def usage(self) -> PoolUsage:
        """Read by the metrics, possibly from another thread: counts only, no pool state is changed."""
        if self._pool is None:
            return PoolUsage(0, 0, 0)
        connections, idle = self._pool.get_size(), self._pool.get_idle_size()
        return PoolUsage(connections - idle, idle, callers_waiting(self._pool._queue))

    def _compile(self, statement: AnySelect) -> "_Compiled":
        """The statement's SQL, its parameters' names in `$n` order, and the values of those it holds
        itself (`literal()`s); compiled on first use."""
        compiled = self._compiled.get(statement)
        if compiled is None:
            for column in statement.selected_columns:
                if not isinstance(column.type, _NATIVE_TYPES):
                    raise TypeError(f"reads cannot convert {column.type!r} (column {column.key!r})")
            sql = statement.compile(dialect=self._dialect)
            literals = {name: bind.value for name, bind in sql.binds.items() if not bind.required}
            compiled = self._compiled[statement] = _Compiled(
                sql.string, tuple(sql.positiontup or ()), literals
            )
        return compiled

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


def _without_the_value(error: asyncpg.DataError, sql: str) -> UnencodableArgument:
    """asyncpg's error for an argument it cannot encode quotes the value ("invalid input for query
    argument $1: 'ada@example.com' (…)"), which may be a client's input or a stored secret: the error
    that reaches the log names the argument, the encoder's error type and the statement instead."""
    argument = str(error).partition(":")[0]
    return UnencodableArgument(f"{argument} ({type(error.__cause__).__name__}) of: {sql}")


class _Compiled(NamedTuple):
    sql: str
    parameter_names: tuple[str, ...]
    literals: dict[str, Any]


async def _keep_as_is(_connection: asyncpg.Connection) -> None:
    pass
