"""Which errors say that the database is out of reach (503 with Retry-After) and which are bugs (500):
the driver's errors as they come on the read path, and as SQLAlchemy wraps them on the engine's; then
the same on a real PostgreSQL: a statement past the statement timeout, and a server that never answers."""

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, literal, make_url, select
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection, AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError, InternalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from postboard.app import create_app
from postboard.engines import PoolSettings, session_settings
from postboard.error_handlers import LogPacing
from postboard.outages import database_unavailable
from postboard.reads import DatabaseUnavailable
from tests.helpers import DATABASE_UNAVAILABLE, in_process_client, make_settings, running_app
from tests.live_server import free_port

# What PostgreSQL and asyncpg raise while the database is away, shutting down, starting up or too slow.
OUTAGE_ERRORS = {
    "shutting-down": asyncpg.exceptions.CannotConnectNowError("the database system is shutting down"),
    "starting-up": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    "admin-shutdown": asyncpg.exceptions.AdminShutdownError(
        "terminating connection due to administrator command"
    ),
    "crash-shutdown": asyncpg.exceptions.CrashShutdownError(
        "terminating connection due to crash of another process"
    ),
    "statement-timeout": asyncpg.exceptions.QueryCanceledError(
        "canceling statement due to statement timeout"
    ),
    "too-many-connections": asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    "closed-mid-operation": asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    ),
    "connection-failure": asyncpg.exceptions.ConnectionFailureError("could not receive data from server"),
    "connection-closed": asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
    "confused-connection": asyncpg.exceptions.InternalClientError("cannot switch to state 11"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "timed-out": TimeoutError(),
    "unknown-host": socket.gaierror(-2, "Name or service not known"),
}
# Bugs, or the client's doing: they must stay 500s (or what their own handler makes of them).
BUG_ERRORS = {
    "unique-violation": asyncpg.exceptions.UniqueViolationError("duplicate key value"),
    "syntax-error": asyncpg.exceptions.PostgresSyntaxError('syntax error at or near "SELEC"'),
    "undefined-table": asyncpg.exceptions.UndefinedTableError('relation "postz" does not exist'),
    "division-by-zero": asyncpg.exceptions.DivisionByZeroError("division by zero"),
    "operation-in-progress": asyncpg.InterfaceError(
        "cannot perform operation: another operation is in progress"
    ),
    "runtime-error": RuntimeError("a bug"),
    "file-not-found": FileNotFoundError(2, "No such file or directory"),
    "permission-denied": PermissionError(13, "Permission denied"),
}


def wrapped_by_sqlalchemy(error: Exception) -> DBAPIError:
    """The error as SQLAlchemy's asyncpg dialect raises it: translated into the adapter's DBAPI error, then
    wrapped in the matching `sqlalchemy.exc` class (a plain DBAPIError for most PostgresErrors)."""
    dbapi = AsyncAdapt_asyncpg_dbapi(asyncpg)  # type: ignore[no-untyped-call]
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, error)
    except dbapi.Error as translated:
        wrapped = DBAPIError.instance("SELECT 1", {}, translated, dbapi.Error)
        assert isinstance(wrapped, DBAPIError)
        return wrapped
    raise AssertionError(f"the dialect does not translate {error!r}")


@pytest.mark.parametrize("error", OUTAGE_ERRORS.values(), ids=OUTAGE_ERRORS.keys())
def test_outage_errors_mean_unavailable(error: Exception) -> None:
    assert database_unavailable(error)


@pytest.mark.parametrize("error", BUG_ERRORS.values(), ids=BUG_ERRORS.keys())
def test_bugs_do_not_mean_unavailable(error: Exception) -> None:
    assert not database_unavailable(error)


DRIVER_ERRORS = {name: error for name, error in OUTAGE_ERRORS.items() if not isinstance(error, OSError)}
DRIVER_BUGS = {name: error for name, error in BUG_ERRORS.items() if isinstance(error, asyncpg.PostgresError)}


@pytest.mark.parametrize("error", DRIVER_ERRORS.values(), ids=DRIVER_ERRORS.keys())
def test_outage_errors_wrapped_by_sqlalchemy_mean_unavailable(error: Exception) -> None:
    assert database_unavailable(wrapped_by_sqlalchemy(error))


@pytest.mark.parametrize("error", DRIVER_BUGS.values(), ids=DRIVER_BUGS.keys())
def test_bugs_wrapped_by_sqlalchemy_do_not_mean_unavailable(error: Exception) -> None:
    assert not database_unavailable(wrapped_by_sqlalchemy(error))


@pytest.mark.parametrize(
    "wrapper",
    [InternalError, ProgrammingError, DBAPIError],
    ids=["InternalError", "ProgrammingError", "DBAPIError"],
)
def test_a_shutdown_is_unavailable_whichever_class_wraps_it(wrapper: type[DBAPIError]) -> None:
    # Read by its SQLSTATE (57P01), not by the class SQLAlchemy happened to choose.
    adapted = AsyncAdapt_asyncpg_dbapi.Error(  # type: ignore[no-untyped-call]
        "terminating connection", OUTAGE_ERRORS["admin-shutdown"]
    )
    assert database_unavailable(wrapper("SELECT 1", {}, adapted))


def test_a_disconnect_seen_by_sqlalchemy_is_unavailable() -> None:
    lost = InternalError(
        "SELECT 1", {}, RuntimeError("whatever the driver said"), connection_invalidated=True
    )
    assert database_unavailable(lost)


def test_no_pooled_connection_in_time_is_unavailable() -> None:
    assert database_unavailable(PoolTimeout("QueuePool limit of size 10 overflow 0 reached"))


def _raise_as_if_in(module: str, error: OSError) -> OSError:
    """`error`, raised by a function of `module` (its traceback names the module, as a real one would)."""
    namespace: dict[str, object] = {"__name__": module, "error": error}
    exec("def fail():\n    raise error\n", namespace)  # noqa: S102 (a function of a chosen module name)
    fail = namespace["fail"]
    assert callable(fail)
    try:
        fail()
    except OSError as raised:
        return raised
    raise AssertionError("did not raise")


def test_an_oserror_raised_by_the_driver_is_unavailable() -> None:
    # A Unix socket that is gone while the server is down: FileNotFoundError, from asyncpg's connect.
    assert database_unavailable(
        _raise_as_if_in("asyncpg.connect_utils", FileNotFoundError(2, "No such file"))
    )
    assert not database_unavailable(
        _raise_as_if_in("postboard.docs_pages", FileNotFoundError(2, "No such file"))
    )


# --- through the app: each error raised by a route, as the engine's and the read path's would be ------


def _route_raising(app: FastAPI, error: Exception) -> str:
    async def broken() -> None:
        raise error

    path = f"/broken/{id(error)}"
    app.add_api_route(path, broken)
    return path


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: OUTAGE_ERRORS["admin-shutdown"],
        lambda: wrapped_by_sqlalchemy(OUTAGE_ERRORS["starting-up"]),
        lambda: wrapped_by_sqlalchemy(OUTAGE_ERRORS["closed-mid-operation"]),
        lambda: OUTAGE_ERRORS["reset"],
        lambda: OUTAGE_ERRORS["timed-out"],
    ],
    ids=["raw-admin-shutdown", "wrapped-starting-up", "wrapped-closed-mid-operation", "reset", "timed-out"],
)
async def test_outage_errors_are_answered_503_with_retry_after(
    app: FastAPI, make_error: Callable[[], Exception]
) -> None:
    path = _route_raising(app, make_error())
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.get(path)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == DATABASE_UNAVAILABLE


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: BUG_ERRORS["syntax-error"],
        lambda: wrapped_by_sqlalchemy(BUG_ERRORS["undefined-table"]),
        lambda: BUG_ERRORS["operation-in-progress"],
        lambda: BUG_ERRORS["file-not-found"],
    ],
    ids=["raw-syntax-error", "wrapped-undefined-table", "operation-in-progress", "file-not-found"],
)
async def test_bugs_of_the_same_types_stay_500(app: FastAPI, make_error: Callable[[], Exception]) -> None:
    path = _route_raising(app, make_error())
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.get(path)
    assert response.status_code == 500
    assert response.json() == {
        "detail": "Internal Server Error",
        "request_id": response.headers["x-request-id"],
    }


# --- on a real PostgreSQL -------------------------------------------------------------------------------


@asynccontextmanager
async def _posts_locked(postgresql_url: str) -> AsyncIterator[None]:
    """The posts table locked by another session: every statement on it waits until the lock goes."""
    connection = await asyncpg.connect(postgresql_url.replace("+asyncpg", ""))
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("LOCK TABLE posts IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def test_a_statement_past_the_statement_timeout_is_503_on_both_paths(postgresql_url: str) -> None:
    async with running_app(postgresql_url, database_statement_timeout=0.5) as (_, client):
        registered = await client.post(
            "/users/", json={"email": "slow@example.com", "password": "long enough"}
        )
        assert registered.status_code == 201
        login = await client.post("/login", data={"username": "slow@example.com", "password": "long enough"})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # Without a statement timeout the statements would wait for the lock for ever: end that hang.
        async with _posts_locked(postgresql_url), asyncio.timeout(30):
            read = await client.get("/posts/", headers=headers)  # the read path: asyncpg's own pool
            written = await client.post("/posts/", json={"title": "t", "content": "c"}, headers=headers)
        after = await client.get("/posts/", headers=headers)  # the cancelled statements' connections work
    for response in (read, written):
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert response.json() == DATABASE_UNAVAILABLE
    assert after.status_code == 200, after.text


async def test_a_unix_socket_that_is_gone_is_503_on_both_paths(tmp_path: Path) -> None:
    # The server's socket file is removed while it is down: connecting raises FileNotFoundError.
    app = create_app(make_settings(f"postgresql://postgres@/postboard?host={tmp_path / 'no-server'}"))
    async with in_process_client(app, raise_app_exceptions=False) as client:
        registered = await client.post("/users/", json={"email": "a@example.com", "password": "long enough"})
    database = app.state.database
    await database.open()  # the read path's pool connects at its first read, not here
    with pytest.raises(DatabaseUnavailable):
        await database.fetch(select(literal(1, Integer).label("one")))
    await database.dispose()
    assert registered.status_code == 503, registered.text  # the engine's path
    assert registered.headers["retry-after"] == "5"


@contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a database host that is gone or hung."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen(64)
        yield listener.getsockname()[1]


async def test_a_database_that_never_answers_is_503_after_the_connect_timeout() -> None:
    with _silent_server() as port:
        settings = make_settings(
            f"postgresql://postgres@127.0.0.1:{port}/postboard", database_connect_timeout=0.5
        )
        app = create_app(settings)
        async with in_process_client(app, raise_app_exceptions=False) as client:
            # The client's own timeout would end a hang; the connect timeout must end the wait first.
            async with asyncio.timeout(30):
                registered = await client.post(
                    "/users/", json={"email": "a@example.com", "password": "long enough"}
                )
        await app.state.database.dispose()
    assert registered.status_code == 503
    assert registered.headers["retry-after"] == "5"


async def test_statement_timeout_is_set_on_both_paths(postgresql_url: str) -> None:
    async with running_app(postgresql_url, database_statement_timeout=2.5) as (app, _):
        async with app.state.database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            engine_setting = await raw.driver_connection.fetchval("SHOW statement_timeout")
        # The read path's pool: a fresh connection of its own.
        reads_pool = app.state.database._reads._pool
        read_setting = await reads_pool.fetchval("SHOW statement_timeout")
    assert engine_setting == read_setting == "2500ms"


@pytest.mark.parametrize(
    ("url", "pool", "expected"),
    [
        (
            "postgresql+asyncpg://db/postboard",
            PoolSettings(statement_timeout_seconds=2.5),
            {"statement_timeout": "2500ms"},
        ),
        # Migrations and commands: an index build may take minutes.
        ("postgresql+asyncpg://db/postboard", PoolSettings(), {}),
        # A session's setting would stay on a server connection that PgBouncer then gives other clients.
        (
            "postgresql+asyncpg://db/postboard?pgbouncer=transaction",
            PoolSettings(statement_timeout_seconds=2.5),
            {},
        ),
        ("sqlite+aiosqlite:///postboard.db", PoolSettings(statement_timeout_seconds=2.5), {}),
    ],
    ids=["app", "migrations-and-commands", "behind-pgbouncer", "sqlite"],
)
def test_which_connections_get_a_statement_timeout(
    url: str, pool: PoolSettings, expected: dict[str, str]
) -> None:
    assert session_settings(make_url(url), pool) == expected


# --- the outage's log: one line per interval, not one per request --------------------------------------


async def test_an_outage_is_logged_once_per_interval_not_per_request(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    path = _route_raising(app, OUTAGE_ERRORS["reset"])
    with caplog.at_level(logging.ERROR, logger="postboard.error_handlers"):
        async with in_process_client(app, raise_app_exceptions=False) as client:
            answers = [await client.get(path) for _ in range(5)]
    assert [answer.status_code for answer in answers] == [503] * 5
    lines = [record.getMessage() for record in caplog.records if record.name == "postboard.error_handlers"]
    assert len(lines) == 1
    assert lines[0].startswith(f"database unavailable during GET {path}: ")


def test_log_pacing_counts_what_it_held_back(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    pacing = LogPacing(interval_seconds=10)
    assert pacing.take("reset") == 0  # the first of its kind is let through
    now[0] += 4
    assert [pacing.take("reset"), pacing.take("reset")] == [None, None]
    assert pacing.take("timed out") == 0  # another kind is not held back by the first
    now[0] += 6  # the interval has passed
    assert pacing.take("reset") == 2
    assert pacing.take("reset") is None
