"""Settings from the environment and an optional `.env`, and the checks that guard them at start."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.utils import formataddr, parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

import limits
from pydantic import AfterValidator, AnyHttpUrl, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./postboard.db"
MIN_SECRET_KEY_BYTES = 32
# Keys published in the course, the FastAPI docs and popular templates: anyone can forge tokens with them.
WELL_KNOWN_SECRET_KEYS = frozenset(
    {
        "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7",
        "changethis",
        "changeme",
        "secret",
        "your-secret-key",
        "your_secret_key",
        "supersecretkey",
    }
)
DEFAULT_POOL_SIZE = 10
DEFAULT_POOL_TIMEOUT_SECONDS = 30.0
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 30.0
DEFAULT_CONNECT_TIMEOUT_SECONDS = 5.0
# Where a development key lives when the database is not a SQLite file.
FALLBACK_SECRET_KEY_FILE = Path(".postboard-secret-key")
# DATABASE_URL's own query option, which the driver never sees: `?pgbouncer=transaction` says that the URL
# names a PgBouncer in transaction pooling mode (README: Behind PgBouncer).
PGBOUNCER_OPTION = "pgbouncer"


def available_cpus() -> int:
    """The CPUs this process may run on (taskset and cgroup cpusets included), where the OS says."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _split_commas(value: object) -> object:
    """`A,B` in the environment; a list when given in code."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _check_rate_limits(value: str) -> str:
    limits.parse_many(value)  # raises ValueError, naming what it could not read
    return value


def _empty_is_unset(value: object) -> object:
    """`SMTP_PORT=` (as compose writes `${SMTP_PORT:-}`) means unset, not a port named ''."""
    return None if value == "" else value


def _check_mail_address(value: str | None) -> str | None:
    """`name@example.com` or `Postboard <name@example.com>`; one address, on one line."""
    if value is None:
        return None
    name, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    # A line break would let the setting write headers of its own.
    if not local or not domain or " " in address or "\r" in value or "\n" in value:
        raise ValueError(
            f"MAIL_FROM must be one email address, such as Postboard <no-reply@example.com>, not {value!r}"
        )
    return formataddr((name, address))


# A comma-separated list in the environment (pydantic-settings would otherwise expect JSON).
CommaSeparated = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
# Budgets in the `limits` notation: "5/minute;100/hour".
RateLimits = Annotated[str, AfterValidator(_check_rate_limits)]
Unset = BeforeValidator(_empty_is_unset)
Port = Annotated[int, Field(gt=0, le=65535)]
MailAddress = Annotated[str | None, Unset, AfterValidator(_check_mail_address)]


class ConfigError(Exception):
    """A setting that makes starting unsafe or impossible; its message is shown to the operator as is."""


SmtpTls = Literal["none", "starttls", "tls"]
# The port each way of securing SMTP is served on (submission with STARTTLS, submissions, plain SMTP).
SMTP_DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
MAIL_SENDER_NAME = "Postboard"
Environment = Literal["development", "production"]
ENVIRONMENTS = get_args(Environment)
# The course's five variables, which name a PostgreSQL database together or not at all.
COURSE_VARIABLES = ("hostname", "port", "username", "password", "name")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    postboard_env: Environment = "development"
    database_url: str = ""
    # The course's way of naming the database, used when DATABASE_URL is unset and all five are set.
    database_hostname: str | None = None
    database_port: int | None = None
    database_username: str | None = None
    database_password: SecretStr | None = None
    database_name: str | None = None
    # Connections each worker process keeps open per pool (see README: Settings).
    database_pool_size: int = Field(default=DEFAULT_POOL_SIZE, gt=0, le=1000)
    database_max_overflow: int = Field(default=0, ge=0, le=1000)
    database_pool_timeout: float = Field(default=DEFAULT_POOL_TIMEOUT_SECONDS, gt=0, le=3600)
    # PostgreSQL only: the server cancels a statement that runs longer (a 503 for the request), and a
    # connection attempt that gets no answer is given up, so that a slow or gone database never hangs one.
    database_statement_timeout: float = Field(default=DEFAULT_STATEMENT_TIMEOUT_SECONDS, gt=0, le=3600)
    database_connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT_SECONDS, gt=0, le=600)
    # A streaming replica of DATABASE_URL (PostgreSQL only) that serves the reads of GET requests.
    database_replica_url: str | None = None
    secret_key: SecretStr | None = None
    access_token_expire_minutes: int = Field(default=30, gt=0, le=60 * 24 * 365)
    password_hashing_threads: int = Field(default_factory=available_cpus, gt=0, le=64)
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    refresh_token_expire_days: int = Field(default=14, gt=0, le=365)
    # A login session ends this long after the login, however often it is refreshed.
    session_max_days: int = Field(default=90, gt=0, le=3650)
    rate_limits: bool = True  # RATE_LIMITS=off turns throttling off, for trusted test environments
    login_limit_per_account: RateLimits = "5/minute;100/hour"
    login_limit_per_address: RateLimits = "50/minute"
    register_limit_per_address: RateLimits = "10/minute;100/hour"
    # Wrong passwords given by a signed-in caller (changing the email or password, deleting the account).
    password_check_limit_per_session: RateLimits = "5/minute;100/hour"
    email_change_limit_per_account: RateLimits = "5/hour;20/day"
    refresh_limit_per_address: RateLimits = "30/minute;300/hour"
    # Password reset links asked for (POST /password/forgot), per client address and per email (known or not).
    password_reset_limit_per_address: RateLimits = "10/minute;50/hour"
    password_reset_limit_per_account: RateLimits = "3/hour;10/day"
    # New verification links asked for by a signed-in account.
    verification_resend_limit_per_account: RateLimits = "3/hour;10/day"
    # How long a mailed link works: a reset link is a key to the account, so it lives briefly.
    password_reset_expire_minutes: int = Field(default=30, gt=0, le=24 * 60)
    email_verification_expire_hours: int = Field(default=48, gt=0, le=24 * 30)
    # Writing posts and voting need a verified email; an email change waits until the new one is verified.
    require_verified_email: bool = False
    # Live login sessions an account may hold; a login past it ends the oldest.
    max_sessions_per_account: int = Field(default=100, gt=0, le=100_000)
    redis_url: str | None = None
    # The address people open Postboard at, such as https://postboard.example; the web app's cookies are
    # sent over HTTPS only (Secure) when it is https. Unset: a development server on plain HTTP.
    public_url: AnyHttpUrl | None = None
    # Mail goes out through this SMTP relay (README: Email); unset, each mail is written to the log instead.
    smtp_host: Annotated[str | None, Unset] = None
    # Unset: SMTP_DEFAULT_PORTS[SMTP_TLS].
    smtp_port: Annotated[Port | None, Unset] = None
    smtp_username: Annotated[str | None, Unset] = None
    smtp_password: Annotated[SecretStr | None, Unset] = None
    smtp_tls: SmtpTls = "starttls"
    # CA certificates to trust for the relay's (a private relay's own CA); unset, the system's trust store.
    smtp_ca_file: Annotated[Path | None, Unset] = None
    # Unset: Postboard <no-reply@the host of PUBLIC_URL>.
    mail_from: MailAddress = None
    trusted_proxies: CommaSeparated = []
    cors_origins: CommaSeparated = []
    max_request_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # A client sends a request's head in one packet, within milliseconds; 10 s leaves room for a poor
    # mobile link's retransmits, and bounds how long one byte a second can hold a connection.
    request_head_timeout_seconds: float = Field(default=10, gt=0, le=3600)
    # The whole body, from the end of the head: a post is at most a few dozen KiB, and even a body at the
    # 1 MiB cap arrives in 30 s at 35 KB/s.
    request_body_timeout_seconds: float = Field(default=30, gt=0, le=3600)
    # uvicorn's own default; behind a proxy that keeps connections to Postboard open, make it longer than
    # the proxy's idle timeout, so that the proxy never sends a request on a connection being closed.
    keep_alive_timeout_seconds: int = Field(default=5, gt=0, le=3600)
    # After SIGTERM: how long requests already accepted may take to finish before the process exits anyway.
    graceful_shutdown_seconds: int = Field(default=10, gt=0, le=3600)
    # `postboard serve`'s log lines: readable text, or one JSON object per line for a log pipeline.
    log_format: Literal["text", "json"] = "text"
    # METRICS=prometheus serves Postboard's metrics as Prometheus text at /metrics on a port of its own
    # (README: Metrics and traces); OTEL_EXPORTER_OTLP_ENDPOINT, read from the environment, exports them.
    metrics: Literal["off", "prometheus"] = "off"
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # 0: any free port (tests)

    @model_validator(mode="before")
    @classmethod
    def _check_environment_name(cls, data: Any) -> Any:
        """Refused by the variable's name: pydantic would name the field and leave the reader to map it."""
        name = data.get("postboard_env") if isinstance(data, dict) else None
        if name is not None and name not in ENVIRONMENTS:
            allowed = " or ".join(ENVIRONMENTS)
            raise ValueError(f"POSTBOARD_ENV must be {allowed}, not {name!r}")
        return data

    @model_validator(mode="after")
    def _check_smtp_login(self) -> Self:
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError(
                "SMTP_USERNAME and SMTP_PASSWORD log in to the relay together: set both or neither"
            )
        return self

    @model_validator(mode="after")
    def _resolve_database_url(self) -> Self:
        self.database_url = normalize_database_url(self.database_url or self._course_database_url())
        if self.database_replica_url:
            self.database_replica_url = normalize_replica_url(self.database_url, self.database_replica_url)
        else:
            self.database_replica_url = None  # set but empty in the environment
        return self

    def _course_database_url(self) -> str:
        """All five course variables, or none: a partial set is a typo that must not fall back to SQLite.
        `DATABASE_PASSWORD=` (set, empty) says that the server needs no password (trust or peer auth)."""
        missing = [name for name in COURSE_VARIABLES if getattr(self, f"database_{name}") is None]
        if len(missing) == len(COURSE_VARIABLES):
            return DEFAULT_DATABASE_URL
        if missing:
            names = ", ".join(f"DATABASE_{name.upper()}" for name in missing)
            raise ValueError(
                f"the course's DATABASE_* variables name a database only all together: {names} missing "
                "(set DATABASE_PASSWORD= empty for a server that asks none, or set DATABASE_URL instead)"
            )
        assert self.database_password is not None  # for mypy: checked above
        return URL.create(
            "postgresql+asyncpg",
            username=self.database_username,
            password=self.database_password.get_secret_value() or None,
            host=self.database_hostname,
            port=self.database_port,
            database=self.database_name,
        ).render_as_string(hide_password=False)

    @property
    def access_token_lifetime(self) -> timedelta:
        return timedelta(minutes=self.access_token_expire_minutes)

    @property
    def refresh_token_lifetime(self) -> timedelta:
        return timedelta(days=self.refresh_token_expire_days)

    @property
    def login_session_lifetime(self) -> timedelta:
        return timedelta(days=self.session_max_days)

    @property
    def password_reset_lifetime(self) -> timedelta:
        return timedelta(minutes=self.password_reset_expire_minutes)

    @property
    def email_verification_lifetime(self) -> timedelta:
        return timedelta(hours=self.email_verification_expire_hours)

    @property
    def is_production(self) -> bool:
        return self.postboard_env == "production"

    @property
    def smtp_port_for_tls(self) -> int:
        return self.smtp_port or SMTP_DEFAULT_PORTS[self.smtp_tls]

    @property
    def mail_sender(self) -> str:
        if self.mail_from is not None:
            return self.mail_from
        host = self.public_url.host if self.public_url is not None else None
        return formataddr((MAIL_SENDER_NAME, f"no-reply@{host or 'localhost'}"))


def normalize_database_url(raw_url: str) -> str:
    """Maps the URLs people paste (`postgresql://`, `postgres://`) to the async drivers Postboard runs on."""
    url, backend = _parse_database_url("DATABASE_URL", raw_url)
    if backend not in _ASYNC_DRIVERS:
        raise ValueError(f"DATABASE_URL must be a PostgreSQL or SQLite URL, not {backend!r}")
    return _with_async_driver(url, backend)


def normalize_replica_url(database_url: str, raw_url: str) -> str:
    """The replica's URL for asyncpg. Replicas are PostgreSQL's: SQLite is one file on one machine."""
    url, backend = _parse_database_url("DATABASE_REPLICA_URL", raw_url)
    if backend != "postgresql":
        raise ValueError(f"DATABASE_REPLICA_URL must be a PostgreSQL URL, not {backend!r}")
    if make_url(database_url).get_backend_name() != "postgresql":
        raise ValueError("DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL: SQLite has no read replicas")
    return _with_async_driver(url, backend)


_ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


def _parse_database_url(setting: str, raw_url: str) -> tuple[URL, str]:
    """The URL and its backend's name (`postgres` read as `postgresql`)."""
    try:
        url = make_url(raw_url)
    except ArgumentError as error:
        raise ValueError(f"{setting} is not a database URL: {error}") from None
    backend = url.get_backend_name()
    return url, "postgresql" if backend == "postgres" else backend


def _with_async_driver(url: URL, backend: str) -> str:
    url = url.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}")
    behind_pgbouncer(url)  # a misspelt option is refused at start, not met at the first query
    return url.render_as_string(hide_password=False)


def behind_pgbouncer(url: URL) -> bool:
    """Whether `url` names a PgBouncer in transaction pooling mode (`?pgbouncer=transaction`)."""
    mode = url.query.get(PGBOUNCER_OPTION)
    if mode is None:
        return False
    if mode != "transaction":
        raise ValueError(
            f"DATABASE_URL: {PGBOUNCER_OPTION}={mode!r} is not a mode Postboard knows; "
            f"{PGBOUNCER_OPTION}=transaction is the one that needs saying (session mode needs nothing)"
        )
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"DATABASE_URL: {PGBOUNCER_OPTION}=transaction is for PostgreSQL URLs only")
    return True


def startup_warnings(settings: Settings) -> list[str]:
    """Settings that start but should not run like this, one line each, for the operator to see at start."""
    warnings = []
    if settings.is_production and make_url(settings.database_url).get_backend_name() == "sqlite":
        warnings.append(
            "POSTBOARD_ENV=production on SQLite: one file on one host, written by one process at a time; "
            "set DATABASE_URL to PostgreSQL (README: Running on PostgreSQL)"
        )
    if settings.smtp_host and settings.smtp_password is not None and settings.smtp_tls == "none":
        warnings.append(
            "SMTP_TLS=none with SMTP_PASSWORD: the relay's password and every mail cross the network "
            "unencrypted; use starttls or tls unless the relay is on this host (README: Email)"
        )
    return warnings


def sqlite_file(database_url: str) -> Path | None:
    """The file a SQLite database URL names; None for an in-memory database or another engine's."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def check_database_folder(database_url: str) -> None:
    """A SQLite file's folder must exist: SQLite makes the file, never the folder, and says only that it
    cannot open the database."""
    database_file = sqlite_file(database_url)
    if database_file is None:
        return
    folder = database_file.parent
    if not folder.is_dir():
        raise ConfigError(f"DATABASE_URL: the SQLite database's folder {folder} does not exist; create it")


def load_secret_key(settings: Settings) -> str:
    """The key that signs tokens; in development one is made once and kept, so tokens survive restarts."""
    check_database_folder(settings.database_url)
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        if settings.is_production:
            check_production_secret_key(key)
        return key
    if settings.is_production:
        raise ConfigError("SECRET_KEY must be set when POSTBOARD_ENV=production")
    return _read_or_create_key_file(development_key_file(settings.database_url))


@contextmanager
def secret_key_for_start(settings: Settings) -> Iterator[str]:
    """`load_secret_key`, for a start that goes on inside the `with`: a development key file made here is
    removed again when the start fails (any exception, `sys.exit` included), so that a failed first start
    leaves nothing behind. A key file that was there before is kept either way."""
    key_file = None if settings.secret_key is not None else development_key_file(settings.database_url)
    existed = key_file is None or key_file.exists()
    key = load_secret_key(settings)
    try:
        yield key
    except BaseException:
        if not existed and key_file is not None:
            key_file.unlink(missing_ok=True)
        raise


def check_production_mail(settings: Settings) -> None:
    """Production mails people links they must be able to open safely: a relay that delivers them, and
    links to the public site over https."""
    if not settings.is_production:
        return
    if not settings.smtp_host:
        raise ConfigError(
            "SMTP_HOST must be set when POSTBOARD_ENV=production: without it mails are only logged "
            "(set SMTP_HOST, and SMTP_PORT, SMTP_TLS, SMTP_USERNAME, SMTP_PASSWORD as the relay needs)"
        )
    if settings.public_url is None or settings.public_url.scheme != "https":
        raise ConfigError(
            "PUBLIC_URL must be set to the site's https address (such as https://postboard.example) when "
            "POSTBOARD_ENV=production: it is the base of the links in mails"
        )


def check_production_secret_key(key: str) -> None:
    if key in WELL_KNOWN_SECRET_KEYS:
        raise ConfigError("SECRET_KEY is a well-known example value; generate one: openssl rand -hex 32")
    if len(key.encode()) < MIN_SECRET_KEY_BYTES:
        raise ConfigError(f"SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes in production")


def development_key_file(database_url: str) -> Path:
    """Beside the SQLite database file, so each database keeps its own key; else the working directory."""
    database_file = sqlite_file(database_url)
    if database_file is None:
        return FALLBACK_SECRET_KEY_FILE
    return database_file.with_name(database_file.name + ".secret-key")


def _read_or_create_key_file(path: Path) -> str:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another process may have created it a moment ago and still be writing.
        key = path.read_text().strip()
        if len(key) < MIN_SECRET_KEY_BYTES:
            raise ConfigError(f"the secret key file {path} is damaged; delete it to make a new one") from None
        return key
    except OSError as error:
        raise ConfigError(f"cannot create the secret key file {path}: {error.strerror}") from None
    key = secrets.token_hex(32)
    with os.fdopen(descriptor, "w") as key_file:
        key_file.write(key + "\n")
    return key
