"""The README's backup recipes, run as written: the restored database serves the data that was backed up."""

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import httpx
from sqlalchemy import make_url

from tests.helpers import bearer
from tests.live_server import register_and_log_in, serving
from tests.services import POSTGRES_ADMIN_URL, new_postgres_database, postgres_admin

README = Path(__file__).parent.parent / "README.md"
EMAIL = "ada@example.com"


def backup_block(first_command: str) -> str:
    """The ```sh block of README: Backups that starts with `first_command`."""
    section = README.read_text().split("\n### Backups\n", 1)[1]
    blocks = [block.split("```", 1)[0] for block in section.split("```sh\n")[1:]]
    [block] = [block for block in blocks if block.startswith(first_command)]
    return block


def run_bash(script: str, cwd: Path, **environment: str) -> None:
    result = subprocess.run(  # noqa: S603 (our own script)
        ["/bin/bash", "-euc", script],
        cwd=cwd,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def write_post(client: httpx.Client, token: str, title: str) -> None:
    created = client.post("/posts/", headers=bearer(token), json={"title": title, "content": "kept?"})
    assert created.status_code == 201, created.text


def served_titles(client: httpx.Client, token: str) -> list[str]:
    listing = client.get("/posts/", headers=bearer(token))
    assert listing.status_code == 200, listing.text
    return [item["Post"]["title"] for item in listing.json()]


def test_the_sqlite_backup_restores_what_was_there_when_it_ran(tmp_path: Path) -> None:
    backup, restore = backup_block("sqlite3 postboard.db").split("# restore", 1)

    with serving(tmp_path) as (client, _log):  # the default ./postboard.db, as in the recipe
        token = register_and_log_in(client, EMAIL)
        write_post(client, token, "before the backup")
        run_bash(backup, tmp_path)  # while serving
        write_post(client, token, "after the backup")

    run_bash(restore.split("\n", 1)[1], tmp_path)

    with serving(tmp_path) as (client, _log):
        # The key file stayed beside the database: the token from before the backup still works.
        assert served_titles(client, token) == ["before the backup"]


def _libpq_environment() -> dict[str, str]:
    url = make_url(POSTGRES_ADMIN_URL)
    environment = {"PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432)}
    environment["PGUSER"] = url.username or "postgres"
    if url.password:
        environment["PGPASSWORD"] = url.password
    return environment


def test_the_postgresql_backup_restores_into_a_new_database(tmp_path: Path) -> None:
    recipe = backup_block("pg_dump")
    restored = f"postboard_restored_{uuid.uuid4().hex[:12]}"
    with new_postgres_database() as source:
        settings = {"DATABASE_URL": source, "SECRET_KEY": "k" * 32}
        with serving(tmp_path, **settings) as (client, _log):
            token = register_and_log_in(client, EMAIL)
            write_post(client, token, "backed up")
        source_name = make_url(source).database
        script = recipe.replace("postboard_restored", restored).replace("-d postboard ", f"-d {source_name} ")
        try:
            run_bash(script, tmp_path, **_libpq_environment())
            restored_url = make_url(source).set(database=restored).render_as_string(hide_password=False)
            with serving(tmp_path, **{**settings, "DATABASE_URL": restored_url}) as (client, _log):
                assert served_titles(client, token) == ["backed up"]
        finally:
            asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))
