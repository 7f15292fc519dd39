"""Unit tests of the settings (no database): the database URL and the secret key."""

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import make_url

from postboard.config import (
    ConfigError,
    Settings,
    check_database_folder,
    load_secret_key,
    secret_key_for_start,
    startup_warnings,
)

COURSE_EXAMPLE_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
GOOD_KEY = "k" * 32
ENVIRONMENT = [
    "POSTBOARD_ENV",
    "DATABASE_URL",
    "DATABASE_HOSTNAME",
    "DATABASE_PORT",
    "DATABASE_USERNAME",
    "DATABASE_PASSWORD",
    "DATABASE_NAME",
    "DATABASE_REPLICA_URL",
    "SECRET_KEY",
    "ACCESS_TOKEN_EXPIRE_MINUTES",
    "PASSWORD_HASHING_THREADS",
]
COURSE_VARIABLES = {
    "DATABASE_HOSTNAME": "db.example.com",
    "DATABASE_PORT": "5433",
    "DATABASE_USERNAME": "postboard",
    "DATABASE_PASSWORD": "p@ss/word",
    "DATABASE_NAME": "fastapi",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting from the developer's environment, and a working directory without a `.env`."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


# --- DATABASE_URL ---------------------------------------------------------------------------------------


def test_default_database_url_is_a_local_sqlite_file() -> None:
    assert Settings().database_url == "sqlite+aiosqlite:///./postboard.db"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgresql://user:pw@host:5432/db", "postgresql+asyncpg://user:pw@host:5432/db"),
        ("postgres://user:pw@host:5432/db", "postgresql+asyncpg://user:pw@host:5432/db"),
        ("postgresql+asyncpg://user:pw@host/db", "postgresql+asyncpg://user:pw@host/db"),
        ("postgresql+psycopg2://user:pw@host/db", "postgresql+asyncpg://user:pw@host/db"),
        ("sqlite:///./other.db", "sqlite+aiosqlite:///./other.db"),
        ("sqlite+aiosqlite:////var/lib/postboard.db", "sqlite+aiosqlite:////var/lib/postboard.db"),
    ],
)
def test_database_url_is_mapped_to_the_async_driver(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", raw)

    assert Settings().database_url == expected


def test_database_url_keeps_an_escaped_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://user:p%40ss%2Fword@host:5432/db")

    url = make_url(Settings().database_url)
    assert url.drivername == "postgresql+asyncpg"
    assert url.password == "p@ss/word"
    assert (url.host, url.port, url.database) == ("host", 5432, "db")


@pytest.mark.parametrize(
    "raw",
    [
        "mysql://user:pw@host/db",
        "mysql+aiomysql://user:pw@host/db",
        "oracle://user:pw@host/db",
        "mssql://user:pw@host/db",
        "not a url",
        "://nothing",
    ],
)
def test_other_databases_are_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("DATABASE_URL", raw)

    with pytest.raises(ValueError, match="DATABASE_URL"):
        Settings()


def test_database_url_argument_is_normalized_too() -> None:
    settings = Settings(_env_file=None, database_url="postgres://u:p@h/d")

    assert settings.database_url == "postgresql+asyncpg://u:p@h/d"


def test_database_url_from_dotenv(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("DATABASE_URL=postgresql://dot:env@dotenv-host/dotdb\n")

    assert Settings().database_url == "postgresql+asyncpg://dot:env@dotenv-host/dotdb"
    assert Settings(_env_file=None).database_url == "sqlite+aiosqlite:///./postboard.db"


# --- DATABASE_REPLICA_URL -------------------------------------------------------------------------------


def test_replica_url_is_mapped_to_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@primary/db")
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgres://u:p@replica/db")

    assert Settings().database_replica_url == "postgresql+asyncpg://u:p@replica/db"


@pytest.mark.parametrize("replica_url", [None, ""])
def test_no_replica_by_default_or_when_empty(
    monkeypatch: pytest.MonkeyPatch, replica_url: str | None
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@primary/db")
    if replica_url is not None:
        monkeypatch.setenv("DATABASE_REPLICA_URL", replica_url)

    assert Settings().database_replica_url is None


def test_replica_is_refused_beside_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_REPLICA_URL", "postgresql://u:p@replica/db")

    with pytest.raises(ValueError, match="DATABASE_REPLICA_URL needs DATABASE_URL on PostgreSQL"):
        Settings()


@pytest.mark.parametrize(
    ("replica_url", "refusal"),
    [
        ("sqlite:///./copy.db", "must be a PostgreSQL URL, not 'sqlite'"),
        ("mysql://u:p@replica/db", "must be a PostgreSQL URL, not 'mysql'"),
        ("not a url", "is not a database URL"),
    ],
)
def test_replica_url_other_than_postgresql_is_refused(
    monkeypatch: pytest.MonkeyPatch, replica_url: str, refusal: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@primary/db")
    monkeypatch.setenv("DATABASE_REPLICA_URL", replica_url)

    with pytest.raises(ValueError, match=f"DATABASE_REPLICA_URL {refusal}"):
        Settings()


# --- the course's DATABASE_HOSTNAME, _PORT, _USERNAME, _PASSWORD, _NAME --------------------------------


def test_course_variables_make_a_postgresql_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in COURSE_VARIABLES.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    url = make_url(settings.database_url)
    assert url.drivername == "postgresql+asyncpg"
    assert url.username == "postboard"
    assert url.password == "p@ss/word"
    assert url.host == "db.example.com"
    assert url.port == 5433
    assert url.database == "fastapi"
    # The special characters are escaped, not pasted raw into the URL.
    assert "p@ss/word" not in settings.database_url


@pytest.mark.parametrize(
    "password", ["p@ss/word", "with:colon", "per%cent", "h#sh?q=1&x", "sp ace", "ü-nicode"]
)
def test_course_password_with_special_characters_survives(
    monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    for name, value in {**COURSE_VARIABLES, "DATABASE_PASSWORD": password}.items():
        monkeypatch.setenv(name, value)

    url = make_url(Settings().database_url)

    assert url.password == password
    assert (url.username, url.host, url.port, url.database) == (
        "postboard",
        "db.example.com",
        5433,
        "fastapi",
    )


@pytest.mark.parametrize("missing", list(COURSE_VARIABLES))
def test_a_partial_set_of_course_variables_is_refused_naming_the_missing_one(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name, value in COURSE_VARIABLES.items():
        if name != missing:
            monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError) as refused:
        Settings()

    [problem] = refused.value.errors()
    assert problem["loc"] == ()  # so the one line shown names the variables, not a field
    assert f"{missing} missing" in problem["msg"]


def test_every_missing_course_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_HOSTNAME", "db.example.com")
    monkeypatch.setenv("DATABASE_NAME", "fastapi")

    with pytest.raises(ValidationError, match="DATABASE_PORT, DATABASE_USERNAME, DATABASE_PASSWORD missing"):
        Settings()


def test_an_empty_course_password_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**COURSE_VARIABLES, "DATABASE_PASSWORD": ""}.items():
        monkeypatch.setenv(name, value)

    url = make_url(Settings().database_url)

    assert url.password is None
    assert (url.username, url.host, url.database) == ("postboard", "db.example.com", "fastapi")


def test_database_url_wins_over_the_course_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in COURSE_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgresql://chosen:pw@chosen-host/chosen")

    assert Settings().database_url == "postgresql+asyncpg://chosen:pw@chosen-host/chosen"


def test_pgbouncer_transaction_mode_is_kept_in_the_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:pw@bouncer:6432/db?pgbouncer=transaction")

    assert Settings().database_url == "postgresql+asyncpg://u:pw@bouncer:6432/db?pgbouncer=transaction"


@pytest.mark.parametrize(
    ("raw", "refusal"),
    [
        ("postgresql://u@bouncer:6432/db?pgbouncer=true", "'true' is not a mode"),
        ("postgresql://u@bouncer:6432/db?pgbouncer=statement", "'statement' is not a mode"),
        ("sqlite:///./postboard.db?pgbouncer=transaction", "for PostgreSQL URLs only"),
    ],
)
def test_other_pgbouncer_options_are_refused(monkeypatch: pytest.MonkeyPatch, raw: str, refusal: str) -> None:
    monkeypatch.setenv("DATABASE_URL", raw)

    with pytest.raises(ValueError, match=refusal):
        Settings()


# --- ACCESS_TOKEN_EXPIRE_MINUTES ------------------------------------------------------------------------


def test_access_token_lifetime_defaults_to_30_minutes() -> None:
    assert Settings().access_token_lifetime == timedelta(minutes=30)


def test_access_token_expire_minutes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", "5")

    assert Settings().access_token_lifetime == timedelta(minutes=5)


@pytest.mark.parametrize("minutes", ["0", "-1", "thirty"])
def test_nonsensical_access_token_expire_minutes_is_refused(
    monkeypatch: pytest.MonkeyPatch, minutes: str
) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_EXPIRE_MINUTES", minutes)

    with pytest.raises(ValueError, match="access_token_expire_minutes"):
        Settings()


# --- load_secret_key ------------------------------------------------------------------------------------


def test_development_key_is_created_beside_the_sqlite_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_environment: Path
) -> None:
    database_dir = tmp_path / "data"
    database_dir.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database_dir / 'app.db'}")
    settings = Settings()

    key = load_secret_key(settings)

    created = list(database_dir.iterdir())
    assert len(created) == 1, created
    key_file = created[0]
    assert key_file.name.startswith("app.db")
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key.encode()) >= 32
    assert list(clean_environment.iterdir()) == []  # nothing left in the working directory
    # A restart (a new Settings, a second call) finds the same key, so issued tokens stay valid.
    assert load_secret_key(Settings()) == key
    assert load_secret_key(settings) == key


def test_development_keys_differ_per_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'one.db'}")
    first = load_secret_key(Settings())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'two.db'}")
    second = load_secret_key(Settings())

    assert first != second


def test_development_key_with_the_default_relative_database(clean_environment: Path) -> None:
    key = load_secret_key(Settings())

    key_files = list(clean_environment.iterdir())
    assert len(key_files) == 1
    assert key_files[0].read_text().strip() == key
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    assert load_secret_key(Settings()) == key


def test_development_uses_a_given_secret_key(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("SECRET_KEY", "short dev key")

    assert load_secret_key(Settings()) == "short dev key"
    assert list(clean_environment.iterdir()) == []


def test_production_without_secret_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", "production")

    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_secret_key(Settings())
    assert list(clean_environment.iterdir()) == []  # and no key file was made


@pytest.mark.parametrize("key", ["", "short", "k" * 31, "0123456789abcdef0123456789abcde"])
def test_production_with_a_short_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)

    with pytest.raises(ConfigError):
        load_secret_key(Settings())


def test_production_with_the_course_example_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", COURSE_EXAMPLE_KEY)

    with pytest.raises(ConfigError):
        load_secret_key(Settings())


@pytest.mark.parametrize("key", [GOOD_KEY, "a3f1" * 16, "x" * 200])
def test_production_with_a_good_secret_key_returns_it(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)

    assert load_secret_key(Settings()) == key


def test_production_key_given_as_an_argument() -> None:
    settings = Settings(_env_file=None, postboard_env="production", secret_key=GOOD_KEY)

    assert load_secret_key(settings) == GOOD_KEY


def test_unknown_environment_name_is_refused_by_the_variable_s_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", "staging")

    with pytest.raises(ValidationError) as refused:
        Settings()

    [problem] = refused.value.errors()
    assert problem["loc"] == ()
    assert "POSTBOARD_ENV must be development or production, not 'staging'" in problem["msg"]


# --- startup_warnings -----------------------------------------------------------------------------------


def test_production_on_sqlite_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", "production")

    [warning] = startup_warnings(Settings())

    assert "production on SQLite" in warning


@pytest.mark.parametrize(
    ("environment", "database_url"),
    [("development", "sqlite:///./postboard.db"), ("production", "postgresql://u@db/postboard")],
)
def test_no_warning_for_development_or_postgresql(
    monkeypatch: pytest.MonkeyPatch, environment: str, database_url: str
) -> None:
    monkeypatch.setenv("POSTBOARD_ENV", environment)
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert startup_warnings(Settings()) == []


# --- a SQLite database in a missing folder, and failed starts -------------------------------------------


def test_a_sqlite_database_in_a_missing_folder_is_refused_before_any_key_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'app.db'}")

    with pytest.raises(ConfigError, match=f"folder {tmp_path / 'nowhere'} does not exist"):
        load_secret_key(Settings())
    assert list(tmp_path.iterdir()) == [tmp_path / "work"]


@pytest.mark.parametrize("database", ["sqlite:///:memory:", "sqlite://", "postgresql://u@nowhere/db"])
def test_databases_without_a_folder_pass_the_folder_check(database: str) -> None:
    check_database_folder(database)  # raises if it looked for a folder


def _start_failing(key_file: Path) -> None:
    """What `serve` does when the migrations fail, once the key file is there."""
    assert key_file.exists()
    raise SystemExit(1)


def test_a_failed_start_removes_the_key_file_it_made(clean_environment: Path) -> None:
    with pytest.raises(SystemExit), secret_key_for_start(Settings()):
        _start_failing(clean_environment / "postboard.db.secret-key")

    assert list(clean_environment.iterdir()) == []


def test_a_failed_start_keeps_a_key_file_that_was_there(clean_environment: Path) -> None:
    key = load_secret_key(Settings())

    with pytest.raises(SystemExit), secret_key_for_start(Settings()) as started_with:
        raise SystemExit(1)

    assert started_with == key
    assert load_secret_key(Settings()) == key


def test_a_successful_start_keeps_the_key_file_it_made(clean_environment: Path) -> None:
    with secret_key_for_start(Settings()) as key:
        pass

    assert (clean_environment / "postboard.db.secret-key").read_text().strip() == key
