"""The `postboard` command, run as a user runs it: a real process, a real port."""

from pathlib import Path

import pytest

from tests.helpers import bearer
from tests.live_server import free_port, register_and_log_in, run_postboard, serving
from tests.services import new_postgres_database


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
    assert "<ada@example.com>" in created.stdout

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
