"""`postboard seed`: demo data that looks real, on SQLite and PostgreSQL, with every vote counted."""

import io
import re
import statistics
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Executable, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from postboard import seed
from postboard.app import create_app
from postboard.cli import main
from postboard.db import Database
from postboard.models import PostRow, User, Vote
from postboard.seed import Progress, SeedCounts, seed_database
from tests.helpers import bearer, in_process_client, make_settings
from tests.live_server import run_postboard
from tests.schema import schema_differences
from tests.services import new_postgres_database

USERS, POSTS, VOTES = 40, 300, 1500
SEED = ["seed", "--users", str(USERS), "--posts", str(POSTS), "--votes", str(VOTES)]
LOGIN_LINE = re.compile(r"log in as (\S+) with the password '([^']+)'")


@dataclass(frozen=True)
class Seeded:
    url: str
    stdout: str
    stderr: str


def _seed_new_database(url: str, cwd: Path) -> Seeded:
    result = run_postboard(SEED, cwd, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    return Seeded(url, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    directory = tmp_path_factory.mktemp("seeded")
    return _seed_new_database(f"sqlite+aiosqlite:///{directory / 'seeded.db'}", directory)


@pytest.fixture(scope="module")
def seeded_postgresql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with new_postgres_database() as url:
        yield _seed_new_database(url, tmp_path_factory.mktemp("seeded"))


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest) -> Seeded:
    """A database seeded once per engine by the real command; tests must leave its rows as they are."""
    database: Seeded = request.getfixturevalue(f"seeded_{request.param}")
    return database


@asynccontextmanager
async def transaction(url: str) -> AsyncIterator[AsyncConnection]:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            yield connection
    finally:
        await database.dispose()


async def fetch(url: str, statement: Executable) -> list[Any]:
    async with transaction(url) as connection:
        return list((await connection.execute(statement)).all())


async def count(url: str, model: type[User | PostRow | Vote]) -> int:
    [(rows,)] = await fetch(url, select(func.count()).select_from(model))
    assert isinstance(rows, int)
    return rows


def miscounted_posts() -> Executable:
    """Posts whose stored vote count differs from their votes."""
    votes = select(func.count()).where(Vote.post_id == PostRow.id).scalar_subquery()
    return select(PostRow.id).where(PostRow.vote_count != votes)


async def snapshot(url: str) -> dict[str, list[Any]]:
    """Every seeded row, times counted from the first sign-up (seeds give the same times on any day)."""
    [(opened,)] = await fetch(url, select(func.min(User.created_at)))
    users = await fetch(url, select(User.id, User.email, User.created_at).order_by(User.id))
    posts = await fetch(url, select(PostRow).order_by(PostRow.id))
    votes = await fetch(url, select(Vote.post_id, Vote.user_id).order_by(Vote.post_id, Vote.user_id))
    return {
        "users": [(id_, email, created_at - opened) for id_, email, created_at in users],
        "posts": [
            (p.id, p.title, p.content, p.published, p.created_at - opened, p.owner_id, p.vote_count)
            for p in posts
        ],
        "votes": votes,
    }


async def test_seed_loads_the_rows_asked_for_with_every_vote_counted(seeded: Seeded) -> None:
    assert [await count(seeded.url, model) for model in (User, PostRow, Vote)] == [USERS, POSTS, VOTES]
    assert await fetch(seeded.url, miscounted_posts()) == []
    assert f"seeded {USERS} users, {POSTS} posts and 1,500 votes in" in seeded.stdout
    # Not a terminal: one plain line per phase, the rows of each table in it.
    assert "\r" not in seeded.stderr
    for table, rows in (("users", "40"), ("posts", "300"), ("votes", "1,500")):
        assert re.search(
            rf"^postboard: {table}: {rows} rows in [\d.]+ s \([\d,]+ rows/s\)$", seeded.stderr, re.M
        )


async def test_seeded_users_share_one_password_and_log_in_with_it(seeded: Seeded) -> None:
    match = LOGIN_LINE.search(seeded.stdout)
    assert match, seeded.stdout
    email, password = match.groups()
    assert email == "demo1@example.com"
    emails = await fetch(seeded.url, select(User.email).order_by(User.id))
    assert [email for (email,) in emails] == [f"demo{n}@example.com" for n in range(1, USERS + 1)]
    assert len(await fetch(seeded.url, select(User.password_hash).distinct())) == 1

    app = create_app(make_settings(seeded.url))
    async with (
        app.router.lifespan_context(app),
        in_process_client(app) as client,
    ):
        for user in (email, f"demo{USERS}@example.com"):
            login = await client.post("/login", data={"username": user, "password": password})
            assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        page = await client.get("/posts/?limit=100", headers=bearer(token))
    assert page.status_code == 200
    assert len(page.json()) == 100
    stored = dict(await fetch(seeded.url, select(PostRow.id, PostRow.vote_count)))
    assert all(item["votes"] == stored[item["Post"]["id"]] for item in page.json())


async def test_seeded_posts_look_real(seeded: Seeded) -> None:
    posts = await fetch(seeded.url, select(PostRow).order_by(PostRow.id))
    drafts = sum(not post.published for post in posts)
    assert 0.05 * POSTS < drafts < 0.2 * POSTS
    # Votes are skewed: a few posts are popular, most have few.
    votes = [post.vote_count for post in posts]
    assert max(votes) >= 5 * statistics.median(votes) >= 5
    # So are posts: some users write a lot, most little.
    per_owner = Counter(post.owner_id for post in posts)
    assert max(per_owner.values()) >= 3 * statistics.median(per_owner.values())

    titles = [post.title for post in posts]
    assert all(1 <= len(title) <= 300 and title.strip() for title in titles)
    assert len(set(titles)) > POSTS / 2
    title_lengths = [len(title) for title in titles]
    assert min(title_lengths) < 15
    assert max(title_lengths) > 60
    words = Counter(word for title in titles for word in set(re.findall(r"[a-z]+", title.lower())))
    assert words.most_common(1)[0][1] > POSTS / 10, "some words are in many titles"
    assert sum(seen == 1 for seen in words.values()) >= 10, "and some in a single one"
    content_lengths = [len(post.content) for post in posts]
    assert min(content_lengths) < 200
    assert 2000 < max(content_lengths) <= 20_000


async def test_seeded_times_spread_over_the_past_year(seeded: Seeded) -> None:
    rows = await fetch(
        seeded.url,
        select(PostRow.id, PostRow.created_at, User.created_at)
        .join(User, User.id == PostRow.owner_id)
        .order_by(PostRow.id),
    )
    [(first_signup, last_signup)] = await fetch(
        seeded.url, select(func.min(User.created_at), func.max(User.created_at))
    )
    now = datetime.now(UTC)
    assert now - timedelta(days=366) < first_signup < last_signup < now
    posted = [created_at for _, created_at, _ in rows]
    assert all(created_at >= signed_up for _, created_at, signed_up in rows), "no post before its owner"
    assert posted == sorted(posted), "ids grow with created_at"
    assert posted[-1] - posted[0] > timedelta(days=120)
    half_a_year_ago = now - timedelta(days=365 / 2)
    assert sum(created_at > half_a_year_ago for created_at in posted) > 0.6 * POSTS, "the board grows"
    assert posted[-1] < now


async def test_seed_restores_the_indexes_foreign_keys_and_vote_counting(seeded: Seeded) -> None:
    database = Database(seeded.url)
    try:
        async with database.engine.connect() as connection:
            assert await connection.run_sync(schema_differences) == []
            await connection.rollback()
            # The trigger counts again: a vote added by hand is counted (then rolled back).
            async with connection.begin() as changes:
                least_voted = select(PostRow.id, PostRow.vote_count).order_by(PostRow.vote_count).limit(1)
                post_id, before = (await connection.execute(least_voted)).one()
                voters = select(Vote.user_id).where(Vote.post_id == post_id)
                user_id = await connection.scalar(select(func.min(User.id)).where(User.id.not_in(voters)))
                await connection.execute(insert(Vote).values(post_id=post_id, user_id=user_id))
                after = await connection.scalar(select(PostRow.vote_count).where(PostRow.id == post_id))
                assert after == before + 1
                await changes.rollback()
    finally:
        await database.dispose()


async def test_the_same_seed_gives_the_same_rows_on_either_engine(
    seeded_sqlite: Seeded, seeded_postgresql: Seeded
) -> None:
    assert await snapshot(seeded_sqlite.url) == await snapshot(seeded_postgresql.url)


async def test_another_seed_gives_other_rows(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    result = run_postboard([*SEED, "--seed", "7"], tmp_path, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    ours, theirs = await snapshot(url), await snapshot(seeded_sqlite.url)
    assert {post[1] for post in ours["posts"]} != {post[1] for post in theirs["posts"]}
    assert ours["votes"] != theirs["votes"]


async def test_seed_refuses_a_database_that_holds_data_and_leaves_it_alone(
    migrated_url: str, tmp_path: Path
) -> None:
    async with transaction(migrated_url) as connection:
        await connection.execute(insert(User).values(email="ada@example.com", password_hash="x"))
    result = run_postboard(SEED, tmp_path, DATABASE_URL=migrated_url)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "postboard: error: the database already holds data (users: 1, posts: 0); --append adds to it"
    ]
    assert await fetch(migrated_url, select(User.email)) == [("ada@example.com",)]
    assert (await count(migrated_url, PostRow), await count(migrated_url, Vote)) == (0, 0)


async def test_append_adds_rows_after_the_existing_ones_and_counts_their_new_votes(
    migrated_url: str, tmp_path: Path
) -> None:
    async with transaction(migrated_url) as connection:
        users = await connection.scalars(
            insert(User).returning(User.id),
            [
                {"email": email, "password_hash": "x"}
                for email in ("demo3@example.com", "ada@example.com", "demo12@example.com")
            ],
        )
        first, second, third = users.all()
        posts = await connection.scalars(
            insert(PostRow).returning(PostRow.id),
            [
                {"title": "Old", "content": "c", "owner_id": first},
                {"title": "Gone", "content": "c", "owner_id": second},
                {"title": "Old draft", "content": "c", "owner_id": second, "published": False},
            ],
        )
        kept, gone, draft = posts.all()
        await connection.execute(delete(PostRow).where(PostRow.id == gone))
        await connection.execute(
            insert(Vote),
            [
                {"post_id": kept, "user_id": second},
                {"post_id": draft, "user_id": first},
                {"post_id": draft, "user_id": third},
            ],
        )

    result = run_postboard(
        ["seed", "--append", "--users", "30", "--posts", "100", "--votes", "2000"],
        tmp_path,
        DATABASE_URL=migrated_url,
    )
    assert result.returncode == 0, result.stderr
    assert "log in as demo13@example.com" in result.stdout

    emails = [email for (email,) in await fetch(migrated_url, select(User.email).order_by(User.id))]
    assert emails == ["demo3@example.com", "ada@example.com", "demo12@example.com"] + [
        f"demo{n}@example.com" for n in range(13, 43)
    ]
    assert (await count(migrated_url, PostRow), await count(migrated_url, Vote)) == (102, 2003)
    assert await fetch(migrated_url, miscounted_posts()) == []
    old_posts = await fetch(
        migrated_url,
        select(PostRow.title, PostRow.vote_count).where(PostRow.id <= draft).order_by(PostRow.id),
    )
    assert [title for title, _ in old_posts] == ["Old", "Old draft"]
    assert old_posts[0][1] > 1 or old_posts[1][1] > 2, "the new users voted on old posts too"

    # New rows made afterwards, their ids drawn by the database, do not collide with the seeded ones.
    async with transaction(migrated_url) as connection:
        user = await connection.scalar(
            insert(User).values(email="late@example.com", password_hash="x").returning(User.id)
        )
        await connection.execute(insert(PostRow).values(title="Late", content="c", owner_id=user))


async def test_a_failed_load_leaves_the_database_as_it_was(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_votes(plan: Any) -> Iterator[tuple[int, int]]:
        yield plan.first_post_id, plan.first_user_id
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(seed, "_vote_rows", failing_votes)
    with pytest.raises(RuntimeError, match="the disk is full"):
        await seed_database(
            migrated_url, SeedCounts(5, 20, 30), seed=1, append=False, progress=Progress(io.StringIO())
        )

    assert [await count(migrated_url, model) for model in (User, PostRow, Vote)] == [0, 0, 0]
    database = Database(migrated_url)
    try:
        async with database.engine.begin() as connection:
            assert await connection.run_sync(schema_differences) == []
            user = await connection.scalar(
                insert(User).values(email="a@example.com", password_hash="x").returning(User.id)
            )
            post = await connection.scalar(
                insert(PostRow).values(title="t", content="c", owner_id=user).returning(PostRow.id)
            )
            await connection.execute(insert(Vote).values(post_id=post, user_id=user))
            assert await connection.scalar(select(PostRow.vote_count)) == 1, "the trigger counts again"
    finally:
        await database.dispose()


async def test_every_user_can_vote_on_every_post(migrated_url: str) -> None:
    await seed_database(
        migrated_url, SeedCounts(3, 4, 12), seed=1, append=False, progress=Progress(io.StringIO())
    )
    assert await fetch(migrated_url, select(PostRow.vote_count).distinct()) == [(3,)]
    assert await count(migrated_url, Vote) == 12


@pytest.mark.parametrize(
    ("counts", "complaint"),
    [
        (
            ["--users", "-1", "--posts", "0", "--votes", "0"],
            "argument --users: must be a whole number, 0 or more, not '-1'",
        ),
        (
            ["--users", "2", "--posts", "x", "--votes", "0"],
            "argument --posts: must be a whole number, 0 or more, not 'x'",
        ),
        (["--users", "0", "--posts", "5", "--votes", "0"], "--posts needs --users to own them"),
        (
            ["--users", "2", "--posts", "3", "--votes", "7"],
            "--votes 7 is more than --users times --posts (6)",
        ),
        (["--users", "2", "--posts", "3"], "the following arguments are required: --votes"),
    ],
)
def test_seed_refuses_impossible_counts_before_touching_the_database(
    counts: list[str],
    complaint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'untouched.db'}")
    with pytest.raises(SystemExit) as exit_info:
        main(["seed", *counts])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f"postboard seed: error: {complaint}" in error
    assert "Traceback" not in error
    assert not (tmp_path / "untouched.db").exists()


def test_seed_refuses_a_production_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'production.db'}")
    monkeypatch.setenv("POSTBOARD_ENV", "production")
    with pytest.raises(SystemExit) as exit_info:
        main([*SEED])
    assert exit_info.value.code == 1
    assert "refuses POSTBOARD_ENV=production" in capsys.readouterr().err
    assert not (tmp_path / "production.db").exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_updates_one_line_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed._Phase, "_REDRAW_SECONDS", 0)
    terminal = Terminal()
    progress = Progress(terminal)
    with progress.phase("votes", 20_000) as phase:
        for _ in phase.counted([[(1, 1)] * 5_000] * 4):
            pass
    with progress.phase("building indexes"):
        pass
    output = terminal.getvalue()
    assert "\rpostboard: votes:  25.0% of 20,000 rows, " in output
    assert "\rpostboard: votes: 100.0% of 20,000 rows, " in output
    finished = [line.rsplit("\r", 1)[-1] for line in output.split("\n")]
    assert re.fullmatch(r"postboard: votes: 20,000 rows in [\d.]+ s \([\d,]+ rows/s\)\x1b\[K", finished[0])
    assert re.fullmatch(r"postboard: building indexes: [\d.]+ s\x1b\[K", finished[1])
    assert finished[2] == ""
