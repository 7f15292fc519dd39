"""Which errors mean that the database is out of reach, as opposed to a bug: the one place that tells them
apart, for the engine's errors (SQLAlchemy's, which wrap the driver's) and the read path's (asyncpg's own).

Out of reach: refused or failed connects, connections closed under a request (a restart, a crash,
pg_terminate_backend), a server shutting down or starting up, one out of connections, and a statement
cancelled by the statement timeout. Those are answered 503 with Retry-After: the request may be retried
once the database is back. Anything else (a syntax error, a constraint nobody expected, the driver's own
confusion on a live connection) is a bug, and stays a 500.
"""

import socket
from collections.abc import Iterator
from types import TracebackType

import asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many connections, out of
# memory or disk), 57 operator intervention (admin or crash shutdown, cannot connect now, query cancelled:
# the statement timeout's). Both asyncpg's errors and SQLAlchemy's adaptations of them carry `sqlstate`.
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
# asyncpg's InterfaceError for a connection that it has found closed ("connection is closed", "the
# connection was closed in the middle of operation"); its other InterfaceErrors are misuse, a bug.
_CLOSED_CONNECTION_WORDS = ("connection is closed", "connection was closed", "pool is closing")
# The packages whose OSErrors are a database connection's: the driver (its frames stay in the traceback of
# an error raised from the event loop's sockets under it, through SQLAlchemy's pool too).
_DRIVER_PACKAGES = ("asyncpg",)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or what it wraps, says that the database is out of reach or too slow."""
    return any(_means_unavailable(cause) for cause in _error_and_causes(error))


def _error_and_causes(error: BaseException) -> Iterator[BaseException]:
    """The error, the driver's error that SQLAlchemy wraps (`.orig`), and what each was raised from."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = current.orig if isinstance(current, DBAPIError) else None
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__


def _means_unavailable(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True  # SQLAlchemy (and engines' handle_error hook) judged it a disconnect
    if isinstance(error, (OperationalError, PoolTimeout)):
        return True  # DBAPI's category for a database in trouble (SQLite: locked); no connection free in time
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        return True  # a connection the server closed, used before asyncpg noticed (see engines.py)
    if isinstance(error, asyncpg.InterfaceError):
        return any(words in str(error) for words in _CLOSED_CONNECTION_WORDS)
    if isinstance(error, OSError):
        return _is_network_error(error)
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES


def _is_network_error(error: OSError) -> bool:
    """A connection's error (refused, reset, timed out, a name that does not resolve), or any OSError the
    driver raised (a Unix socket that is gone while the server is down is a FileNotFoundError)."""
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    return _raised_in(error.__traceback__, _DRIVER_PACKAGES)


def _raised_in(traceback: TracebackType | None, packages: tuple[str, ...]) -> bool:
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.partition(".")[0] in packages:
            return True
        traceback = traceback.tb_next
    return False
