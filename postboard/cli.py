"""The `postboard` command: serve, migrate, create-user, seed."""

import argparse
import asyncio
import copy
import getpass
import subprocess
import sys
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import uvicorn
from pydantic import ValidationError
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError

from postboard.access_log import RedactQueryStrings
from postboard.accounts.service import create_user
from postboard.auth.passwords import PasswordHasher
from postboard.config import ConfigError, Settings, load_secret_key
from postboard.db import Database
from postboard.errors import DomainError
from postboard.request_deadlines import RequestDeadlines, protocol_with_deadlines
from postboard.seed import (
    DEFAULT_SEED,
    DEMO_PASSWORD,
    DatabaseNotEmpty,
    Progress,
    SeedCounts,
    count_problem,
    seed_database,
)
from postboard.users.schemas import UserCreate


class CommandError(Exception):
    """Ends the command with its message on one line and a non-zero exit."""


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        args.command(args)
    except CommandError as error:
        print(f"postboard: error: {error}", file=sys.stderr)
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="postboard", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply pending migrations, then serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(command=_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations to DATABASE_URL")
    migrate.set_defaults(command=_migrate)

    add_user = commands.add_parser(
        "create-user", help="create an account; the password is asked for, or read from stdin"
    )
    add_user.add_argument("email")
    add_user.set_defaults(command=_create_user)

    seed = commands.add_parser(
        "seed", help="apply pending migrations, then fill the database with demo users, posts and votes"
    )
    for table in ("users", "posts", "votes"):
        seed.add_argument(f"--{table}", type=_count, required=True, metavar="N")
    seed.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="the same seed gives the same data (default %(default)s)",
    )
    seed.add_argument("--append", action="store_true", help="add to a database that holds users or posts")
    seed.set_defaults(command=partial(_seed, seed))
    return parser


def _count(value: str) -> int:
    if not value.isdecimal():
        raise argparse.ArgumentTypeError(f"must be a whole number, 0 or more, not {value!r}")
    return int(value)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        raise CommandError(f"invalid settings: {_describe(error)}") from None


def _describe(error: ValidationError) -> str:
    """Validation problems on one line, each named by its setting or field."""
    problems = []
    for problem in error.errors():
        name = ".".join(map(str, problem["loc"]))
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)


def _migrate_database(settings: Settings) -> None:
    # Imported here: the serving process never migrates (see _migrate_in_another_process), so Alembic is
    # not loaded there.
    from postboard.migrations import upgrade_to_head

    try:
        upgrade_to_head(settings.database_url)
    except (DBAPIError, OSError) as error:
        raise CommandError(_describe_connection_error(settings.database_url, error)) from None


def _migrate_in_another_process() -> None:
    """`postboard migrate` in a process of its own, which reports on its own: the serving process then
    never holds Alembic and the migrations (about 11 MB, for its whole life)."""
    migrated = subprocess.run([sys.executable, "-m", "postboard", "migrate"], check=False)
    if migrated.returncode != 0:
        sys.exit(migrated.returncode)


def _describe_connection_error(database_url: str, error: BaseException) -> str:
    """One line naming where the database was looked for and why it could not be used."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        where = f"the SQLite database {url.database}"
    else:
        where = f"the database {url.database!r} at {url.host or 'localhost'}:{url.port or 5432}"
    cause = error.orig if isinstance(error, DBAPIError) else error
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return f"cannot use {where}: {reason}"


def _migrate(_args: argparse.Namespace) -> None:
    _migrate_database(_settings())
    print("postboard: database is up to date")


def _serve(args: argparse.Namespace) -> None:
    settings = _settings()
    try:
        # Made here, once, so that worker processes find the development key instead of racing to make it.
        load_secret_key(settings)
    except ConfigError as error:
        raise CommandError(str(error)) from None
    _migrate_in_another_process()
    for warning in _throttling_warnings(settings, args.workers):
        print(f"postboard: warning: {warning}", file=sys.stderr)
    uvicorn.run(
        "postboard.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=_log_config(),
        # The app reads X-Forwarded-For itself, from TRUSTED_PROXIES only; uvicorn would trust 127.0.0.1.
        proxy_headers=False,
        server_header=False,
        http=protocol_with_deadlines(
            RequestDeadlines(settings.request_head_timeout_seconds, settings.request_body_timeout_seconds)
        ),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
    )


def _throttling_warnings(settings: Settings, workers: int) -> list[str]:
    if not settings.rate_limits:
        if settings.is_production:
            return ["RATE_LIMITS=off in production: logins and registrations are NOT THROTTLED"]
        return ["RATE_LIMITS=off: logins and registrations are not throttled"]
    if workers > 1 and settings.redis_url is None:
        return [
            f"without REDIS_URL each of the {workers} workers counts failed logins and registrations "
            "on its own, so the budgets are per worker; revocations are shared through the database"
        ]
    return []


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with Postboard's own records shown beside it and no secrets in the access log."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["postboard"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    config["filters"] = {"redact_query_strings": {"()": RedactQueryStrings}}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_query_strings"]
    return config


def _create_user(args: argparse.Namespace) -> None:
    settings = _settings()
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        new_user = UserCreate(email=args.email, password=password)
    except ValidationError as error:
        raise CommandError(_describe(error)) from None
    _migrate_database(settings)
    try:
        user_id = asyncio.run(_insert_user(settings, new_user))
    except DomainError as error:
        raise CommandError(error.detail) from None
    print(f"postboard: created user {user_id} <{new_user.email}>")


async def _insert_user(settings: Settings, new_user: UserCreate) -> int:
    database = Database(settings.database_url)
    try:
        async with database.orm_session(writes=True) as db, db.begin():
            user = await create_user(db, PasswordHasher(max_threads=1), new_user)
            return user.id
    finally:
        await database.dispose()


def _seed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    started = time.monotonic()
    counts = SeedCounts(args.users, args.posts, args.votes)
    if problem := count_problem(counts):
        parser.error(problem)
    settings = _settings()
    if settings.is_production:
        raise CommandError("seed makes accounts with a public password; it refuses POSTBOARD_ENV=production")
    _migrate_database(settings)
    progress = Progress(sys.stderr)
    try:
        sample_email = asyncio.run(
            seed_database(
                settings.database_url, counts, seed=args.seed, append=args.append, progress=progress
            )
        )
    except DatabaseNotEmpty as error:
        raise CommandError(str(error)) from None
    except (DBAPIError, OSError) as error:
        raise CommandError(_describe_connection_error(settings.database_url, error)) from None
    print(
        f"postboard: seeded {counts.users:,} users, {counts.posts:,} posts and {counts.votes:,} votes "
        f"in {time.monotonic() - started:.1f} s"
    )
    if sample_email:
        print(
            f"postboard: log in as {sample_email} with the password {DEMO_PASSWORD!r} "
            "(every seeded user has it)"
        )
