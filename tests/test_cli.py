"""The `postboard` command, run as a user runs it: a real process, a real port."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import new_postgres_database

POSTBOARD = [sys.executable, "-m", "postboard"]
START_TIMEOUT_SECONDS = 30
# Settings a developer may have exported; each test states its own.
_SETTING_NAMES = ("DATABASE_URL", "SECRET_KEY", "POSTBOARD_ENV", "ACCESS_TOKEN_EXPIRE_MINUTES")


def _environment(**settings: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name not in _SETTING_NAMES}
    return {**environment, **settings}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(args: list[str], cwd: Path, stdin: str = "", **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own command)
        [*POSTBOARD, *args],
        cwd=cwd,
        env=_environment(**settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def _serving(cwd: Path, *args: str, **settings: str) -> Iterator[tuple[httpx.Client, Path]]:
    """`postboard serve` in the background; yields a client for it and the file its output goes to."""
    port = _free_port()
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(  # noqa: S603 (our own command)
            [*POSTBOARD, "serve", "--port", str(port), *args],
            cwd=cwd,
            env=_environment(**settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            _wait_until_up(client, server, log_path)
            yield client, log_path
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"serve exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            if client.get("/").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"serve did not answer within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def _register_and_log_in(client: httpx.Client, email: str) -> str:
    credentials = {"email": email, "password": "a long password"}
    assert client.post("/users/", json=credentials).status_code == 201
    login = client.post("/login", data={"username": email, "password": "a long password"})
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def test_serve_on_sqlite_by_default_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    with _serving(tmp_path) as (client, log_path):
        token = _register_and_log_in(client, "first@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/posts/", json={"title": "t", "content": "c"}, headers=headers).status_code == 201
    assert "Database connection was successful!" in log_path.read_text()
    key_file = tmp_path / "postboard.db.secret-key"
    assert key_file.stat().st_mode & 0o777 == 0o600

    # The development key was kept beside the database, so the token still verifies after a restart.
    with _serving(tmp_path) as (client, _):
        listing = client.get("/posts/", headers=headers)
        assert listing.status_code == 200
        assert [item["Post"]["title"] for item in listing.json()] == ["t"]


def test_serve_migrates_postgresql_and_runs_two_workers(tmp_path: Path) -> None:
    with (
        new_postgres_database() as database_url,
        _serving(tmp_path, "--workers", "2", DATABASE_URL=database_url) as (client, log_path),
    ):
        token = _register_and_log_in(client, "workers@example.com")
        # Whichever worker answers must accept the token, since all share the key made before they started.
        for _ in range(10):
            assert client.get("/posts/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert log_path.read_text().count("Database connection was successful!") == 2


def test_serve_reports_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    port = _free_port()
    result = _run(["serve"], tmp_path, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/postboard")
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
    result = _run(["serve"], tmp_path, **settings)
    assert result.returncode == 1
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "postboard.db").exists(), "nothing may be touched before the key is checked"


def test_migrate_then_create_user(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'accounts.db'}"
    migrated = _run(["migrate"], tmp_path, DATABASE_URL=database_url)
    assert migrated.returncode == 0, migrated.stderr

    created = _run(
        ["create-user", "Ada@Example.com"], tmp_path, stdin="a long password\n", DATABASE_URL=database_url
    )
    assert created.returncode == 0, created.stderr
    assert "<ada@example.com>" in created.stdout

    again = _run(
        ["create-user", "ada@example.com"], tmp_path, stdin="another password\n", DATABASE_URL=database_url
    )
    assert again.returncode == 1
    assert "User with email: ada@example.com already exists" in again.stderr

    with _serving(tmp_path, DATABASE_URL=database_url) as (client, _):
        login = client.post("/login", data={"username": "ada@example.com", "password": "a long password"})
        assert login.status_code == 200


def test_create_user_refuses_a_short_password(tmp_path: Path) -> None:
    result = _run(["create-user", "ada@example.com"], tmp_path, stdin="short\n")
    assert result.returncode == 1
    assert "password: String should have at least 8 characters" in result.stderr
