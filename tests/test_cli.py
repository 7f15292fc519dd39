"""The `postboard` command, run as a user runs it: a real process, a real port."""

import socket
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.helpers import bearer
from tests.live_server import (
    free_port,
    register_and_log_in,
    run_postboard,
    run_postboard_at_terminal,
    serving,
)
from tests.services import new_postgres_database
from tests.smtp_server import SmtpServer, production_mail

SETTINGS_IN_HELP = [
    "DATABASE_URL",
    "SECRET_KEY",
    "POSTBOARD_ENV",
    "REDIS_URL",
    "TRUSTED_PROXIES",
    "SMTP_HOST",
]


def test_serve_on_sqlite_by_default_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    with serving(tmp_path) as (client, log_path):
        token = register_and_log_in(client, "first@example.com")
        headers = bearer(token)
        assert client.post("/posts/", json={"title": "t", "content": "c"}, headers=headers).status_code == 201
    assert "Database connection was successful!" in log_path.read_text()
    key_file = tmp_path / "postboard.db.secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    # The development key was kept beside the database, so the token still verifies after a restart.
    with serving(tmp_path) as (client, _):
        listing = client.get("/posts/", headers=headers)
        assert listing.status_code == 200
        assert [item["Post"]["title"] for item in listing.json()] == ["t"]


def test_serve_migrates_postgresql_and_runs_two_workers(tmp_path: Path) -> None:
    with (
        new_postgres_database() as database_url,
        serving(tmp_path, "--workers", "2", DATABASE_URL=database_url) as (client, log_path),
    ):
        token = register_and_log_in(client, "workers@example.com")
        # Whichever worker answers must accept the token, since all share the key made before they started.
        for _ in range(10):
            assert client.get("/posts/", headers=bearer(token)).status_code == 200
    assert log_path.read_text().count("Database connection was successful!") == 2


def test_serve_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    result = run_postboard(
        ["serve"], tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/postboard"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("postboard: error: cannot use the database 'postboard'")
    assert f"127.0.0.1:{port}" in line
    # The development key made for this first start went with it: nothing is left behind.
    assert list(tmp_path.iterdir()) == []


def test_serve_warns_that_production_on_sqlite_is_one_file_on_one_host(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    production = {"POSTBOARD_ENV": "production", "SECRET_KEY": "k" * 40, **production_mail(smtp_server)}
    with serving(tmp_path, **production) as (client, log_path):
        assert client.get("/").status_code == 200
    assert "warning: POSTBOARD_ENV=production on SQLite" in log_path.read_text()


@pytest.mark.parametrize(
    ("secret_key", "complaint"),
    [
        (None, "SECRET_KEY must be set"),
        ("too-short", "at least 32 bytes"),
        ("09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7", "well-known example"),
    ],
)
def test_serve_refuses_an_unsafe_secret_key_in_production(
    tmp_path: Path, secret_key: str | None, complaint: str
) -> None:
    settings = {"POSTBOARD_ENV": "production"} | ({"SECRET_KEY": secret_key} if secret_key else {})
    result = run_postboard(["serve"], tmp_path, **settings)
    assert result.returncode == 1
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "postboard.db").exists(), "nothing may be touched before the key is checked"


def test_migrate_then_create_user(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'accounts.db'}"
    migrated = run_postboard(["migrate"], tmp_path, DATABASE_URL=database_url)
    assert migrated.returncode == 0, migrated.stderr

    created = run_postboard(
        ["create-user", "Ada@Example.com"], tmp_path, stdin="a long password\n", DATABASE_URL=database_url
    )
    assert created.returncode == 0, created.stderr
    assert "<ada@example.com> in the SQLite database" in created.stdout
    assert "a long password" not in created.stdout + created.stderr

    again = run_postboard(
        ["create-user", "ada@example.com"], tmp_path, stdin="another password\n", DATABASE_URL=database_url
    )
    assert again.returncode == 1
    assert "User with email: ada@example.com already exists" in again.stderr

    with serving(tmp_path, DATABASE_URL=database_url) as (client, _):
        login = client.post("/login", data={"username": "ada@example.com", "password": "a long password"})
        assert login.status_code == 200


def test_create_user_refuses_a_short_password(tmp_path: Path) -> None:
    result = run_postboard(["create-user", "ada@example.com"], tmp_path, stdin="short\n")
    assert result.returncode == 1
    assert "password: String should have at least 8 characters" in result.stderr


def test_create_user_refuses_an_address_mixing_scripts(tmp_path: Path) -> None:
    # U+0430 is the Cyrillic letter that looks like a Latin "a": the same rule as registration.
    result = run_postboard(["create-user", "ad\u0430@example.com"], tmp_path, stdin="a long password\n")
    assert result.returncode == 1
    assert "email: The email address is not written in one script" in result.stderr


def test_version_names_the_package_version() -> None:
    result = run_postboard(["--version"], Path.cwd())
    assert result.returncode == 0
    assert result.stdout.strip() == f"postboard {version('postboard')}"


@pytest.mark.parametrize("command", [[], ["serve"]])
def test_help_lists_the_settings_that_matter_database_url_first(command: list[str]) -> None:
    result = run_postboard([*command, "--help"], Path.cwd())
    assert result.returncode == 0
    places = [result.stdout.find(name) for name in SETTINGS_IN_HELP]
    assert -1 not in places, result.stdout
    assert places == sorted(places)


def test_serve_help_gives_each_option_and_its_default() -> None:
    result = run_postboard(["serve", "--help"], Path.cwd())
    shown = " ".join(result.stdout.split())  # as read, whatever the wrapping
    assert "--host HOST address to listen on; 0.0.0.0 for every one (default 127.0.0.1)" in shown
    assert "--port PORT port to listen on (default 8000)" in shown
    assert "--workers WORKERS worker processes (default 1)" in shown


def test_migrate_names_the_database_and_what_it_applied(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = run_postboard(["migrate"], tmp_path, DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        f"postboard: migrated the SQLite database {tmp_path / 'fresh.db'}: applied 0001, "
    )

    second = run_postboard(["migrate"], tmp_path, DATABASE_URL=database_url)
    assert second.stdout == f"postboard: the SQLite database {tmp_path / 'fresh.db'} is already up to date\n"


def test_migrate_names_a_postgresql_database_without_its_password(tmp_path: Path) -> None:
    with new_postgres_database() as database_url:
        password = make_url(database_url).password
        result = run_postboard(["migrate"], tmp_path, DATABASE_URL=database_url)
    assert result.returncode == 0, result.stderr
    url = make_url(database_url)
    assert f"the database {url.database!r} at {url.host}:{url.port or 5432}" in result.stdout
    assert not password or password not in result.stdout + result.stderr


def test_create_user_at_a_terminal_asks_twice_and_names_the_database(tmp_path: Path) -> None:
    status, shown = run_postboard_at_terminal(
        ["create-user", "ada@example.com"], tmp_path, ["a long password", "a long password"]
    )
    assert status == 0, shown
    assert shown.count("Password") == 2
    assert "created user 1 <ada@example.com> in the SQLite database ./postboard.db" in shown
    assert "a long password" not in shown


def test_create_user_at_a_terminal_refuses_passwords_that_differ(tmp_path: Path) -> None:
    status, shown = run_postboard_at_terminal(
        ["create-user", "ada@example.com"], tmp_path, ["a long password", "a long passwore"]
    )
    assert status == 1
    assert "postboard: error: passwords do not match" in shown
    assert "a long passw" not in shown
    assert not (tmp_path / "postboard.db").exists()


@pytest.mark.parametrize("at_a_terminal", [True, False])
def test_create_user_without_a_password_says_so(tmp_path: Path, at_a_terminal: bool) -> None:
    if at_a_terminal:
        status, shown = run_postboard_at_terminal(["create-user", "ada@example.com"], tmp_path, [""])
        assert shown.count("Password") == 1, "no second question after an empty answer"
    else:
        result = run_postboard(["create-user", "ada@example.com"], tmp_path, stdin="\n")
        status, shown = result.returncode, result.stderr
    assert status == 1
    assert "postboard: error: no password given" in shown
    assert "at least 8 characters" not in shown


def test_serve_on_a_taken_port_says_so_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_postboard(["serve", "--port", str(port)], tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"postboard: error: port {port} on 127.0.0.1 is already in use\n"
    assert "Application startup complete" not in result.stdout + result.stderr
    assert not (tmp_path / "postboard.db").exists(), "no migrations before the port is known to be free"


def test_serve_names_the_database_and_whether_it_migrated(tmp_path: Path) -> None:
    with serving(tmp_path) as (_, log_path):
        log = log_path.read_text()
    assert "postboard: migrated the SQLite database ./postboard.db: applied 0001, " in log
    assert log.index("applied 0001") < log.index("Database connection was successful!")
    with serving(tmp_path) as (_, log_path):
        assert "postboard: the SQLite database ./postboard.db is already up to date" in log_path.read_text()


def test_create_user_admin_and_set_role(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'roles.db'}"
    created = run_postboard(
        ["create-user", "--admin", "Root@Example.com"],
        tmp_path,
        stdin="a long password\n",
        DATABASE_URL=database_url,
    )
    assert created.returncode == 0, created.stderr
    assert "<root@example.com>, an admin, in the SQLite database" in created.stdout
    member = run_postboard(
        ["create-user", "mod@example.com"], tmp_path, stdin="a long password\n", DATABASE_URL=database_url
    )
    assert member.returncode == 0, member.stderr

    promoted = run_postboard(["set-role", "MOD@example.com", "admin"], tmp_path, DATABASE_URL=database_url)
    assert (promoted.returncode, promoted.stdout.strip()) == (
        0,
        "postboard: <mod@example.com> is now an admin",
    )
    again = run_postboard(["set-role", "mod@example.com", "admin"], tmp_path, DATABASE_URL=database_url)
    assert again.stdout.strip() == "postboard: <mod@example.com> was already an admin"

    with serving(tmp_path, DATABASE_URL=database_url) as (client, _):
        login = client.post("/login", data={"username": "mod@example.com", "password": "a long password"})
        headers = bearer(login.json()["access_token"])
        assert client.get("/users/me", headers=headers).json()["role"] == "admin"
        log = client.get("/admin/audit-log", headers=headers).json()
        # Two changes of role (the one that changed nothing is not one), each by the command line.
        assert [(entry["action"], entry["target"], entry["actor_id"]) for entry in log] == [
            ("set_role", "mod@example.com", None),
            ("set_role", "root@example.com", None),
        ]

        demoted = run_postboard(
            ["set-role", "mod@example.com", "member"], tmp_path, DATABASE_URL=database_url
        )
        assert demoted.returncode == 0, demoted.stderr
        # The token it held says nothing of the role: the next request sees the new one.
        refused = client.get("/admin/audit-log", headers=headers)
        assert (refused.status_code, refused.json()) == (403, {"detail": "Admins only"})


def test_set_role_of_an_unknown_email_says_so(tmp_path: Path) -> None:
    result = run_postboard(["set-role", "nobody@example.com", "admin"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "postboard: error: No account with email: nobody@example.com"


def test_set_role_takes_only_the_two_roles(tmp_path: Path) -> None:
    result = run_postboard(["set-role", "ada@example.com", "owner"], tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'owner' (choose from 'member', 'admin')" in result.stderr
