"""`postboard check`: exit 0 when the database is reachable and migrated to the latest revision, else 1 with
one line that says why and shows no password. It changes nothing."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from postboard.migrations import alembic_config, head_revisions, upgrade_to_head
from tests.live_server import free_port, run_postboard
from tests.services import new_postgres_database

HEAD = ", ".join(sorted(head_revisions("sqlite://")))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A database that exists and was never migrated, and how `check` names it."""
    if request.param == "sqlite":
        path = tmp_path / "empty.db"
        sqlite3.connect(path).close()
        yield f"sqlite+aiosqlite:///{path}", f"the SQLite database {path}"
        return
    with new_postgres_database() as url:
        yield url, "the database 'postboard_test_"


def check(tmp_path: Path, database_url: str) -> tuple[int, str, str]:
    result = run_postboard(["check"], tmp_path, DATABASE_URL=database_url)
    return result.returncode, result.stdout, result.stderr


def one_line(text: str) -> str:
    [line] = text.strip().splitlines()
    return line


def test_a_migrated_database_passes(tmp_path: Path, empty_database: tuple[str, str]) -> None:
    database_url, named = empty_database
    upgrade_to_head(database_url)

    status, stdout, stderr = check(tmp_path, database_url)

    assert status == 0, stderr
    assert one_line(stdout).startswith(f"postboard: {named}")
    assert stdout.endswith(f" is reachable and up to date ({HEAD})\n")
    assert stderr == ""


def test_a_database_never_migrated_fails_and_is_left_alone(
    tmp_path: Path, empty_database: tuple[str, str]
) -> None:
    database_url, named = empty_database

    status, stdout, stderr = check(tmp_path, database_url)
    again, _, _ = check(tmp_path, database_url)

    assert (status, again) == (1, 1)
    assert stdout == ""
    line = one_line(stderr)
    assert line.startswith(f"postboard: error: {named}")
    assert (
        f"is at no revision, not at the latest revision {HEAD}; `postboard migrate` brings it up to date"
        in line
    )


def test_a_database_behind_the_latest_migration_fails(tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    command.upgrade(alembic_config(database_url), "0001")

    status, _, stderr = check(tmp_path, database_url)

    assert status == 1
    assert f"is at 0001, not at the latest revision {HEAD}" in one_line(stderr)


def test_a_missing_sqlite_file_fails_and_is_not_made(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"

    status, _, stderr = check(tmp_path, f"sqlite:///{path}")

    assert status == 1
    assert one_line(stderr) == (
        f"postboard: error: the SQLite database {path} does not exist; `postboard migrate` makes it"
    )
    assert not path.exists()


def test_an_unreachable_database_fails_in_one_line_without_its_password(tmp_path: Path) -> None:
    port = free_port()

    status, _, stderr = check(tmp_path, f"postgresql://postboard:s3cret-pw@127.0.0.1:{port}/postboard")

    assert status == 1
    line = one_line(stderr)
    assert line.startswith(f"postboard: error: cannot use the database 'postboard' at 127.0.0.1:{port}: ")
    assert "s3cret-pw" not in stderr
    assert "Traceback" not in stderr
