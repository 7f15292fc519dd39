"""The `postboard` command: serve, migrate, check, send-test-mail, create-user, set-role, seed."""

import argparse
import asyncio
import errno
import getpass
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from functools import partial
from importlib.metadata import version
from typing import TypeAlias

import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from postboard.accounts.service import create_user
from postboard.auth.passwords import PasswordHasher
from postboard.config import ConfigError, Settings, secret_key_for_start, sqlite_file, startup_warnings
from postboard.db import Database, describe_database
from postboard.errors import DomainError
from postboard.logs import log_config
from postboard.mail.delivery import DEFAULT_ATTEMPT_TIMEOUT_SECONDS
from postboard.mail.message import compose_mail, mime_message
from postboard.mail.transports import DeliveryFailed, Transport, transport_for
from postboard.moderation.service import set_role
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
from postboard.users.emails import login_email
from postboard.users.models import Role
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


HELP_WIDTH = 79
# The settings a newcomer needs, most needed first; the README lists every other one.
SETTINGS_THAT_MATTER = {
    "DATABASE_URL": "the database (default sqlite+aiosqlite:///./postboard.db, a file in the working "
    "directory); postgresql://USER:PASSWORD@HOST:5432/NAME for PostgreSQL",
    "SECRET_KEY": "the key that signs tokens; in development one is made and kept beside the database, "
    "in production it must be set",
    "POSTBOARD_ENV": "development (default) or production",
    "REDIS_URL": "shares login and registration throttling between workers and servers (default: none)",
    "TRUSTED_PROXIES": "comma-separated addresses of the proxies whose X-Forwarded-For is believed "
    "(default: none)",
    "SMTP_HOST": "the SMTP relay that mails go out through (default: none, mails are written to the log); "
    "production needs it, and an https PUBLIC_URL",
}


def _settings_epilog(*names: str) -> str:
    lines = ["settings, from the environment or a .env file in the working directory:"]
    lines += [
        textwrap.fill(
            SETTINGS_THAT_MATTER[name],
            HELP_WIDTH,
            initial_indent=f"  {name:<16} ",
            subsequent_indent=" " * 19,
        )
        for name in names
    ]
    lines.append("Every other setting is described in the README, under Settings.")
    return "\n".join(lines)


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postboard",
        description="Postboard, a social posting API. Start it with `postboard serve`.",
        epilog=_settings_epilog(*SETTINGS_THAT_MATTER),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"postboard {version('postboard')}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_serve(commands)
    _add_migrate(commands)
    _add_check(commands)
    _add_send_test_mail(commands)
    _add_create_user(commands)
    _add_set_role(commands)
    _add_seed(commands)
    return parser


def _add_command(
    commands: Commands, name: str, summary: str, description: str, *settings: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, HELP_WIDTH),
        epilog=_settings_epilog(*settings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_serve(commands: Commands) -> None:
    serve = _add_command(
        commands,
        "serve",
        "apply pending migrations, then serve the API",
        "Checks that the port is free, applies pending migrations to the database (and says which database "
        "and what it applied), then serves the API with uvicorn until stopped with Ctrl+C.",
        *SETTINGS_THAT_MATTER,
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 for every one (default %(default)s)",
    )
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default %(default)s)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default %(default)s)")
    serve.set_defaults(command=_serve)


def _add_migrate(commands: Commands) -> None:
    migrate = _add_command(
        commands,
        "migrate",
        "apply pending migrations to the database",
        "Brings the database's tables up to date, and says which database it migrated and which "
        "migrations it applied. `serve`, `create-user` and `seed` do this themselves.",
        "DATABASE_URL",
    )
    migrate.set_defaults(command=_migrate)


def _add_check(commands: Commands) -> None:
    check = _add_command(
        commands,
        "check",
        "exit 0 if the database is reachable and migrated to the latest revision",
        "For container health checks and deploy scripts: connects to the database and compares its "
        "revision with the latest migration, changing nothing; in production, checks the mail settings too "
        "(without calling the relay). Exits 0 when all hold, else 1 with one line saying why.",
        "DATABASE_URL",
        "SMTP_HOST",
    )
    check.set_defaults(command=_check)


def _add_send_test_mail(commands: Commands) -> None:
    send = _add_command(
        commands,
        "send-test-mail",
        "send a mail through the SMTP relay, to see that the mail settings work",
        "Sends one mail to ADDRESS through SMTP_HOST, as Postboard sends its own, once, and says whether "
        "the relay accepted it or why not.",
        "SMTP_HOST",
    )
    send.add_argument("address", metavar="ADDRESS", help="where to send the test mail")
    send.set_defaults(command=_send_test_mail)


def _add_create_user(commands: Commands) -> None:
    add_user = _add_command(
        commands,
        "create-user",
        "create an account; the password is asked for, or read from stdin",
        "Creates an account. At a terminal the password is asked for twice, without showing it; otherwise "
        "the first line of stdin is the password. Says which database the account was written to.",
        "DATABASE_URL",
    )
    add_user.add_argument("email", help="the account's email address, with which it logs in")
    add_user.add_argument(
        "--admin", action="store_true", help="make the account an admin (the audit log records it)"
    )
    add_user.set_defaults(command=_create_user)


def _add_set_role(commands: Commands) -> None:
    set_role = _add_command(
        commands,
        "set-role",
        "make an account an admin or a member",
        "Gives the account with this email the role: admins moderate the board (the /admin routes and the "
        "web app's Admin page). No HTTP route makes an admin. The change takes effect at the account's next "
        "request, and the audit log records it with the command line as the actor.",
        "DATABASE_URL",
    )
    set_role.add_argument("email", help="the account's email address")
    set_role.add_argument("role", choices=[role.value for role in Role], help="the account's new role")
    set_role.set_defaults(command=_set_role)


def _add_seed(commands: Commands) -> None:
    seed = _add_command(
        commands,
        "seed",
        "apply pending migrations, then fill the database with demo users, posts and votes",
        "Fills an empty database with demo data: users demo1@example.com... sharing one public password "
        "(printed at the end), their posts and votes. Refused when POSTBOARD_ENV=production.",
        "DATABASE_URL",
        "POSTBOARD_ENV",
    )
    for table in ("users", "posts", "votes"):
        seed.add_argument(
            f"--{table}", type=_count, required=True, metavar="N", help=f"how many {table} to make"
        )
    seed.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="the same seed gives the same data (default %(default)s)",
    )
    seed.add_argument("--append", action="store_true", help="add to a database that holds users or posts")
    seed.set_defaults(command=partial(_seed, seed))


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


def _migrate_database(settings: Settings) -> list[str]:
    """Applies pending migrations; returns the revisions applied."""
    # Imported here: the serving process never migrates (see _migrate_in_another_process), so Alembic is
    # not loaded there.
    from postboard.migrations import upgrade_to_head

    try:
        return upgrade_to_head(settings.database_url)
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
    cause = error.orig if isinstance(error, DBAPIError) else error
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return f"cannot use {describe_database(database_url)}: {reason}"


def _migration_report(database_url: str, applied: list[str]) -> str:
    if applied:
        return f"postboard: migrated {describe_database(database_url)}: applied {', '.join(applied)}"
    return f"postboard: {describe_database(database_url)} is already up to date"


def _migrate(_args: argparse.Namespace) -> None:
    settings = _settings()
    print(_migration_report(settings.database_url, _migrate_database(settings)))


# Long enough for a database across a network; a health check that waits longer has hung.
CHECK_TIMEOUT_SECONDS = 10


def _check(_args: argparse.Namespace) -> None:
    settings = _settings()
    _mail_transport(settings)
    database = describe_database(settings.database_url)
    print(f"postboard: {database} is reachable and up to date ({_checked_revision(settings.database_url)})")


def _checked_revision(database_url: str) -> str:
    """The database's revision, if it is reachable and at the latest one; else a CommandError saying why."""
    from postboard.migrations import database_revisions, head_revisions  # see _migrate_database

    database = describe_database(database_url)
    database_file = sqlite_file(database_url)
    if database_file is not None and not database_file.is_file():
        raise CommandError(f"{database} does not exist; `postboard migrate` makes it")
    try:
        current = asyncio.run(asyncio.wait_for(database_revisions(database_url), CHECK_TIMEOUT_SECONDS))
    except TimeoutError:
        raise CommandError(f"{database} did not answer within {CHECK_TIMEOUT_SECONDS} s") from None
    except (DBAPIError, OSError) as error:
        raise CommandError(_describe_connection_error(database_url, error)) from None
    heads = head_revisions(database_url)
    if current != heads:
        found = ", ".join(sorted(current)) or "no revision"
        raise CommandError(
            f"{database} is at {found}, not at the latest revision {', '.join(sorted(heads))}; "
            "`postboard migrate` brings it up to date"
        )
    return ", ".join(sorted(current))


def _mail_transport(settings: Settings) -> Transport:
    """Where mail goes, once the mail settings (production's included: README: Email) are checked; the
    relay is not called."""
    try:
        return transport_for(settings, timeout_seconds=DEFAULT_ATTEMPT_TIMEOUT_SECONDS)
    except ConfigError as error:
        raise CommandError(str(error)) from None


def _send_test_mail(args: argparse.Namespace) -> None:
    settings = _settings()
    if not settings.smtp_host:
        raise CommandError("SMTP_HOST is unset: Postboard writes its mails to the log (README: Email)")
    relay = _mail_transport(settings)
    site_url = str(settings.public_url or "http://localhost:8000/")
    mail = compose_mail("test_mail", args.address, "Postboard test mail", site_url=site_url)
    try:
        asyncio.run(relay.deliver(mime_message(mail, settings.mail_sender)))
    except DeliveryFailed as failure:
        raise CommandError(f"{settings.smtp_host} did not take the mail: {failure.reason}") from None
    except ValueError as error:  # an address the email package cannot put in a header
        raise CommandError(f"cannot send to {args.address!r}: {error}") from None
    print(f"postboard: {settings.smtp_host} accepted a test mail to {args.address}")


def _check_port_is_free(host: str, port: int) -> None:
    """Binds the address as uvicorn will, and lets it go: uvicorn would otherwise start the app, print
    'Application startup complete', and only then fail to listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise CommandError(f"port {port} on {host} is already in use") from None
            raise CommandError(f"cannot listen on {host} port {port}: {error.strerror or error}") from None


def _serve(args: argparse.Namespace) -> None:
    settings = _settings()
    _check_port_is_free(args.host, args.port)
    if settings.metrics == "prometheus":
        _check_one_metrics_endpoint(settings, args.workers)
    try:
        # Made here, once, so that worker processes find the development key instead of racing to make it;
        # a key made for a first start that then fails (no database) is removed again.
        with secret_key_for_start(settings):
            _mail_transport(settings)
            _migrate_in_another_process()
    except ConfigError as error:
        raise CommandError(str(error)) from None
    for warning in [*startup_warnings(settings), *_throttling_warnings(settings, args.workers)]:
        print(f"postboard: warning: {warning}", file=sys.stderr)
    config = uvicorn.Config(
        "postboard.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        # Postboard's access log (postboard/access_log.py) replaces uvicorn's.
        log_config=log_config(settings.log_format),
        access_log=False,
        # The app reads X-Forwarded-For itself, from TRUSTED_PROXIES only; uvicorn would trust 127.0.0.1.
        proxy_headers=False,
        server_header=False,
        http=protocol_with_deadlines(
            RequestDeadlines(settings.request_head_timeout_seconds, settings.request_body_timeout_seconds)
        ),
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
    )
    _run(config)


def _run(config: uvicorn.Config) -> None:
    """uvicorn.run's work, with the worker processes supervised by `_Workers`."""
    if config.workers > 1:
        _Workers(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class _Workers(Multiprocess):
    """uvicorn's supervisor of worker processes, which lets go of its own copy of the listening socket as
    soon as it is told to stop: the workers close theirs as they begin their graceful shutdown, so new
    connections are then refused, rather than queued by the kernel for workers that no longer accept them
    and reset when the last one has exited."""

    def terminate_all(self) -> None:
        for listening in self.sockets:
            listening.close()
        super().terminate_all()


def _check_one_metrics_endpoint(settings: Settings, workers: int) -> None:
    """Each worker process counts on its own and would serve its own /metrics, but only one can have the
    port; OTLP exports every process's metrics, each labelled by its own resource."""
    if workers > 1:
        raise CommandError(
            f"METRICS=prometheus serves one process's metrics, not those of {workers} workers: "
            "export them with OTEL_EXPORTER_OTLP_ENDPOINT instead"
        )
    try:
        _check_port_is_free(settings.metrics_host, settings.metrics_port)
    except CommandError as error:
        raise CommandError(f"METRICS_PORT: {error}") from None


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


def _create_user(args: argparse.Namespace) -> None:
    settings = _settings()
    password = _ask_for_password() if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        raise CommandError("no password given")
    try:
        new_user = UserCreate(email=args.email, password=password)
    except ValidationError as error:
        raise CommandError(_describe(error)) from None
    if applied := _migrate_database(settings):
        print(_migration_report(settings.database_url, applied))
    role = Role.ADMIN if args.admin else Role.MEMBER
    try:
        user_id = asyncio.run(_insert_user(settings, new_user, role))
    except DomainError as error:
        raise CommandError(error.detail) from None
    where = describe_database(settings.database_url)
    as_admin = ", an admin," if role == Role.ADMIN else ""
    print(f"postboard: created user {user_id} <{new_user.email}>{as_admin} in {where}")


def _ask_for_password() -> str:
    """Asks twice, without echoing; an empty first answer is returned as is, without asking again."""
    password = getpass.getpass("Password: ")
    if password and getpass.getpass("Password (again): ") != password:
        raise CommandError("passwords do not match")
    return password


async def _insert_user(settings: Settings, new_user: UserCreate, role: Role) -> int:
    database = Database(settings.database_url)
    try:
        async with database.orm_session(writes=True) as db, db.begin():
            user = await create_user(db, PasswordHasher(max_threads=1), new_user)
            if role != Role.MEMBER:
                await set_role(db, user.email, role)
            return user.id
    finally:
        await database.dispose()


def _set_role(args: argparse.Namespace) -> None:
    settings = _settings()
    email = login_email(args.email)
    role = Role(args.role)
    if applied := _migrate_database(settings):
        print(_migration_report(settings.database_url, applied))
    try:
        changed = asyncio.run(_change_role(settings, email, role))
    except DomainError as error:
        raise CommandError(error.detail) from None
    outcome = "is now" if changed else "was already"
    print(f"postboard: <{email}> {outcome} {'an' if role == Role.ADMIN else 'a'} {role.value}")


async def _change_role(settings: Settings, email: str, role: Role) -> bool:
    database = Database(settings.database_url)
    try:
        async with database.orm_session(writes=True) as db, db.begin():
            return await set_role(db, email, role)
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
