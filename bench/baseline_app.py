"""The ceiling Postboard is measured against: the same JSON for the same rows, through the same driver,
with nothing else — no FastAPI, no pydantic, no SQLAlchemy, no authentication (one fixed viewer).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postboard \\
        .venv/bin/uvicorn --app-dir bench baseline_app:app --no-server-header --no-proxy-headers

Settings, from the environment:
- DATABASE_URL: as Postboard reads it (`postgresql://`, `postgres://`, `postgresql+asyncpg://`, `sqlite:///`,
  `sqlite+aiosqlite:///`); default Postboard's `sqlite:///./postboard.db`.
- BASELINE_VIEWER_ID: the user every request acts as (default 1).
- BASELINE_POOL_SIZE: database connections (default 10).
- BASELINE_POOL_RESET: `off` (default) skips the reset query asyncpg's pool sends each time a connection is
  released, as Postboard's read pool does (a read leaves no session state behind); `asyncpg` sends it.

Every statement is one round trip in autocommit; vote counts are read from `posts.vote_count`, which
database triggers keep.
"""

import asyncio
import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

import aiosqlite
import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

MAX_ID = 2**31 - 1
SQLITE_PRAGMAS = (  # the ones Postboard sets on each SQLite connection
    "PRAGMA foreign_keys = ON",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 5000",
)

# Parameters are `$n` (asyncpg); SQLite gets them as `?n`.
_POST_COLUMNS = """
    p.title, p.content, p.published, p.id, p.created_at, p.owner_id, u.email, u.created_at, p.vote_count
    FROM posts p JOIN users u ON u.id = p.owner_id"""
LIST_POSTS = f"""SELECT {_POST_COLUMNS}
    WHERE p.published OR p.owner_id = $1
    ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3"""
GET_POST = f"SELECT {_POST_COLUMNS} WHERE p.id = $2 AND (p.published OR p.owner_id = $1)"
CREATE_POST = """INSERT INTO posts (title, content, published, owner_id, created_at)
    VALUES ($1, $2, $3, $4, $5)
    RETURNING title, content, published, id, created_at, owner_id,
        (SELECT email FROM users WHERE id = $4), (SELECT created_at FROM users WHERE id = $4)"""
ADD_VOTE = """INSERT INTO votes (post_id, user_id)
    SELECT id, $2 FROM posts WHERE id = $1 AND (published OR owner_id = $2)
    ON CONFLICT DO NOTHING RETURNING post_id"""
REMOVE_VOTE = """DELETE FROM votes WHERE post_id = $1 AND user_id = $2
    AND EXISTS (SELECT 1 FROM posts WHERE id = $1 AND (published OR owner_id = $2)) RETURNING post_id"""
IS_VISIBLE = "SELECT 1 FROM posts WHERE id = $1 AND (published OR owner_id = $2)"

Row = Sequence[Any]


class Database(Protocol):
    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]: ...

    def now(self) -> Any:
        """The current time as this driver stores it."""

    def timestamp(self, stored: Any) -> str:
        """A stored timestamp as the API shows it: ISO 8601 in UTC, `+00:00`."""

    async def close(self) -> None: ...


class PostgresDatabase:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str, size: int, reset_on_release: bool) -> "PostgresDatabase":
        reset = None if reset_on_release else _keep_connection_state
        return cls(await asyncpg.create_pool(dsn, min_size=size, max_size=size, reset=reset))

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        rows: Sequence[Row] = await self._pool.fetch(sql, *args)
        return rows

    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self, stored: datetime) -> str:
        return stored.isoformat()  # asyncpg hands timestamptz back in UTC

    async def close(self) -> None:
        await self._pool.close()


async def _keep_connection_state(_connection: Any) -> None:
    """Replaces asyncpg's reset query on release; nothing here changes a connection's session state."""


class SqliteDatabase:
    """A few aiosqlite connections, each in autocommit; WAL lets them read at the same time."""

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self._connections = connections
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for connection in connections:
            self._idle.put_nowait(connection)

    @classmethod
    async def open(cls, path: str, size: int) -> "SqliteDatabase":
        connections = []
        for _ in range(size):
            connection = await aiosqlite.connect(path, isolation_level=None)
            for pragma in SQLITE_PRAGMAS:
                await connection.execute(pragma)
            connections.append(connection)
        return cls(connections)

    async def fetch(self, sql: str, *args: Any) -> Sequence[Row]:
        connection = await self._idle.get()
        try:
            return list(await connection.execute_fetchall(_sqlite_parameters(sql), args))
        finally:
            self._idle.put_nowait(connection)

    def now(self) -> str:
        # The text SQLAlchemy stores for Postboard's UTC timestamps on SQLite.
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def timestamp(self, stored: str) -> str:
        return datetime.fromisoformat(stored).replace(tzinfo=UTC).isoformat()

    async def close(self) -> None:
        for connection in self._connections:
            await connection.close()


@cache
def _sqlite_parameters(sql: str) -> str:
    for number in range(9, 0, -1):
        sql = sql.replace(f"${number}", f"?{number}")
    return sql


async def open_database(database_url: str, pool_size: int, reset_on_release: bool) -> Database:
    scheme, _, rest = database_url.partition("://")
    backend = scheme.split("+")[0]
    if backend in ("postgresql", "postgres"):
        return await PostgresDatabase.open(f"postgresql://{rest}", pool_size, reset_on_release)
    if backend == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy reads them.
        return await SqliteDatabase.open(rest[1:].split("?")[0], pool_size)
    raise SystemExit(f"DATABASE_URL must be a PostgreSQL or SQLite URL, not {scheme!r}")


# Responses


def post_json(database: Database, row: Row) -> dict[str, Any]:
    return {
        "title": row[0],
        "content": row[1],
        "published": bool(row[2]),
        "id": row[3],
        "created_at": database.timestamp(row[4]),
        "owner_id": row[5],
        "owner": {"id": row[5], "email": row[6], "created_at": database.timestamp(row[7])},
    }


def post_out_json(database: Database, row: Row) -> dict[str, Any]:
    return {"Post": post_json(database, row), "votes": row[8]}


def detail(message: str, status_code: int) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status_code)


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _viewer_id(request: Request) -> int:
    viewer_id: int = request.app.state.viewer_id
    return viewer_id


async def hello(_request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello World"})


async def list_posts(request: Request) -> JSONResponse:
    try:
        limit = int(request.query_params.get("limit", 10))
        skip = int(request.query_params.get("skip", 0))
    except ValueError:
        return detail("limit and skip must be integers", 422)
    if not 1 <= limit <= 100 or skip < 0:
        return detail("limit must be 1..100 and skip >= 0", 422)
    database = _database(request)
    rows = await database.fetch(LIST_POSTS, _viewer_id(request), limit, skip)
    return JSONResponse([post_out_json(database, row) for row in rows])


async def get_post(request: Request) -> JSONResponse:
    post_id: int = request.path_params["id"]
    database = _database(request)
    rows = await database.fetch(GET_POST, _viewer_id(request), post_id) if 0 < post_id <= MAX_ID else []
    if not rows:
        return detail(f"post with id: {post_id} was not found", 404)
    return JSONResponse(post_out_json(database, rows[0]))


async def create_post(request: Request) -> JSONResponse:
    try:
        body = json.loads(await request.body())
        title, content, published = body["title"], body["content"], body.get("published", True)
    except (ValueError, KeyError, TypeError, AttributeError):
        return detail("a JSON object with title, content and an optional published", 422)
    database = _database(request)
    rows = await database.fetch(CREATE_POST, title, content, published, _viewer_id(request), database.now())
    return JSONResponse(post_json(database, rows[0]), status_code=201)


async def vote(request: Request) -> JSONResponse:
    try:
        body = json.loads(await request.body())
        post_id, direction = body["post_id"], body["dir"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return detail("a JSON object with post_id and dir", 422)
    if type(post_id) is not int or type(direction) is not int or direction not in (0, 1):
        return detail("post_id must be an integer and dir 0 or 1", 422)
    if not 0 < post_id <= MAX_ID:
        return detail(f"Post with id: {post_id} does not exist", 404)
    database, viewer_id = _database(request), _viewer_id(request)
    if await database.fetch(ADD_VOTE if direction == 1 else REMOVE_VOTE, post_id, viewer_id):
        return JSONResponse({"message": f"successfully {'added' if direction else 'deleted'} vote"}, 201)
    # The rare paths pay a second statement to say why nothing changed.
    if not await database.fetch(IS_VISIBLE, post_id, viewer_id):
        return detail(f"Post with id: {post_id} does not exist", 404)
    if direction == 1:
        return detail(f"user {viewer_id} has already voted on post {post_id}", 409)
    return detail("Vote does not exist", 404)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.viewer_id = int(os.environ.get("BASELINE_VIEWER_ID", "1"))
    reset = os.environ.get("BASELINE_POOL_RESET", "off")
    if reset not in ("asyncpg", "off"):
        raise SystemExit(f"BASELINE_POOL_RESET must be asyncpg or off, not {reset!r}")
    app.state.database = await open_database(
        os.environ.get("DATABASE_URL", "sqlite:///./postboard.db"),
        pool_size=int(os.environ.get("BASELINE_POOL_SIZE", "10")),
        reset_on_release=reset == "asyncpg",
    )
    yield
    await app.state.database.close()


app = Starlette(
    routes=[
        Route("/", hello),
        Route("/posts/", list_posts),
        Route("/posts/", create_post, methods=["POST"]),
        Route("/posts/{id:int}", get_post),
        Route("/vote/", vote, methods=["POST"]),
    ],
    lifespan=lifespan,
)
