"""Postboard behind PgBouncer in transaction pooling mode: Debian's pgbouncer, started here in front of the
test PostgreSQL with two server connections per database, so that the statements of many concurrent
requests interleave on the same server connections."""

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from postboard.app import create_app
from postboard.migrations import upgrade_to_head
from tests.helpers import (
    DEFAULT_PASSWORD,
    TEST_SECRET_KEY,
    VOTE_ADDED,
    bearer,
    fresh_email,
    in_process_client,
    make_settings,
)
from tests.live_server import free_port, serving
from tests.services import POSTGRES_ADMIN_URL, new_postgres_database, skip_without_service

PGBOUNCER = Path("/usr/sbin/pgbouncer")
SERVER_CONNECTIONS = 2  # per database: far fewer than the app's pools hold, so clients share them
START_TIMEOUT_SECONDS = 10
VISITS = 50  # concurrent users, each making ten requests in turn


def _pgbouncer_ini(folder: Path, port: int) -> Path:
    """Every database of the test server, pooled per transaction; the client's user and password (from the
    auth file) log in to PostgreSQL."""
    server = make_url(POSTGRES_ADMIN_URL)
    (folder / "users.txt").write_text(f'"{server.username}" "{server.password or ""}"\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        f"""[databases]
* = host={server.host or "127.0.0.1"} port={server.port or 5432}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / "users.txt"}
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 500
"""
    )
    return ini


def _command(ini: Path) -> list[str]:
    """pgbouncer refuses to run as root: as root, it runs as the `postgres` user."""
    if os.geteuid() != 0:
        return [str(PGBOUNCER), str(ini)]
    for path in (ini.parent, *ini.parent.iterdir()):
        shutil.chown(path, user="postgres")
    return ["runuser", "-u", "postgres", "--", str(PGBOUNCER), str(ini)]


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[int]:
    """A pgbouncer of the tests' own, on a free port; yields the port."""
    if not PGBOUNCER.exists():
        skip_without_service(f"{PGBOUNCER} is not installed (Debian: apt-get install pgbouncer)")
    with tempfile.TemporaryDirectory(prefix="postboard-pgbouncer-") as name:
        folder = Path(name)
        port = free_port()
        command = _command(_pgbouncer_ini(folder, port))
        log_path = folder / "pgbouncer.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            _wait_until_listening(port, process, log_path)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    pytest.fail(f"pgbouncer did not listen within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def through_pgbouncer(database_url: str, port: int) -> str:
    """The URL of the same database through pgbouncer, saying so: `?pgbouncer=transaction`."""
    url = make_url(database_url).set(host="127.0.0.1", port=port, query={"pgbouncer": "transaction"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def bounced_database(pgbouncer: int) -> Iterator[str]:
    """A fresh database, migrated through pgbouncer; yields its URL through pgbouncer, with the option."""
    with new_postgres_database() as direct_url:
        url = through_pgbouncer(direct_url, pgbouncer)
        upgrade_to_head(url)
        yield url


async def visit(client: httpx.AsyncClient) -> None:
    """One user's visit, every answer checked: register, log in, post, read it, vote, read it again, find
    it in the listing, read the account, log out, and be refused."""
    email = fresh_email("visitor")
    registered = await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
    assert registered.status_code == 201, registered.text
    user_id = registered.json()["id"]
    login = await client.post("/login", data={"username": email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200, login.text
    auth = bearer(login.json()["access_token"])

    title = f"Title {uuid.uuid4().hex}"
    created = await client.post("/posts/", json={"title": title, "content": email}, headers=auth)
    assert created.status_code == 201, created.text
    assert (created.json()["title"], created.json()["owner_id"]) == (title, user_id), created.text
    post_id = created.json()["id"]

    await _expect_post(client, auth, post_id, title, votes=0)
    voted = await client.post("/vote/", json={"post_id": post_id, "dir": 1}, headers=auth)
    assert (voted.status_code, voted.json()) == (201, VOTE_ADDED), voted.text
    await _expect_post(client, auth, post_id, title, votes=1)
    listed = await client.get("/posts/", params={"search": title, "limit": 100}, headers=auth)
    assert listed.status_code == 200, listed.text
    assert [(item["Post"]["id"], item["votes"]) for item in listed.json()] == [(post_id, 1)], listed.text

    me = await client.get("/users/me", headers=auth)
    assert (me.status_code, me.json()["id"], me.json()["email"]) == (200, user_id, email), me.text
    logout = await client.post("/logout", headers=auth)
    assert logout.status_code == 204, logout.text
    refused = await client.get("/users/me", headers=auth)
    assert refused.status_code == 401, refused.text


async def _expect_post(
    client: httpx.AsyncClient, auth: dict[str, str], post_id: int, title: str, votes: int
) -> None:
    read = await client.get(f"/posts/{post_id}", headers=auth)
    assert read.status_code == 200, read.text
    assert (read.json()["Post"]["id"], read.json()["Post"]["title"], read.json()["votes"]) == (
        post_id,
        title,
        votes,
    ), read.text


async def failed_visits(client: httpx.AsyncClient) -> list[BaseException]:
    """VISITS visits at once; answers how each one that went wrong failed."""
    outcomes = await asyncio.gather(*(visit(client) for _ in range(VISITS)), return_exceptions=True)
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


async def failed_visits_in_process(database_url: str) -> list[BaseException]:
    app = create_app(make_settings(database_url))
    async with (
        app.router.lifespan_context(app),
        in_process_client(app, raise_app_exceptions=False) as client,
    ):
        return await failed_visits(client)


async def test_every_answer_is_right_behind_pgbouncer(bounced_database: str) -> None:
    assert await failed_visits_in_process(bounced_database) == []


async def test_without_the_option_the_same_visits_fail(bounced_database: str) -> None:
    """The proof that the visits above share server connections: asyncpg's named statements, met by other
    clients, fail requests (`prepared statement "__asyncpg_stmt_1__" already exists`, `… does not
    exist`, `bind message supplies 2 parameters, but prepared statement … requires 1`)."""
    failures = await failed_visits_in_process(bounced_database.replace("?pgbouncer=transaction", ""))

    assert failures, "every visit succeeded through pgbouncer without ?pgbouncer=transaction"


def test_serve_migrates_and_answers_right_behind_pgbouncer(pgbouncer: int, tmp_path: Path) -> None:
    """A real `postboard serve`: its migrations at start go through pgbouncer too, on a fresh database."""
    with (
        new_postgres_database() as direct_url,
        serving(
            tmp_path,
            DATABASE_URL=through_pgbouncer(direct_url, pgbouncer),
            SECRET_KEY=TEST_SECRET_KEY,
            RATE_LIMITS="off",  # fifty registrations from one address
        ) as (client, _),
    ):
        assert asyncio.run(_failed_visits_over_http(str(client.base_url))) == []


async def _failed_visits_over_http(base_url: str) -> list[BaseException]:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        return await failed_visits(client)
