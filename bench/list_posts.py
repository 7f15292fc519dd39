"""How fast a page of `GET /posts/` is read: Postboard's query against the course's, in the same run.

The course counts votes with an outer join and GROUP BY over every visible post before it takes the page,
then loads each post's owner lazily, one query per owner. Postboard reads the page off the
(created_at, id) index with the vote counts stored on the posts, owners joined in and the caller's login
session checked in the same statement: one statement. Both return the same page (the baseline gets
Postboard's ordering and visibility so the work compared is the same), checked before timing.

    .venv/bin/python bench/list_posts.py                       # PostgreSQL on 127.0.0.1, 20,000 posts
    .venv/bin/python bench/list_posts.py --database sqlite --posts 5000
"""

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import harness
from sqlalchemy import func, insert, outerjoin, select

from postboard.auth.models import LoginSession
from postboard.auth.reads import CallerReads
from postboard.auth.tokens import Caller, hash_refresh_secret, new_refresh_secret
from postboard.config import normalize_database_url
from postboard.db import Database, recorded_statements
from postboard.migrations import upgrade_to_head
from postboard.orm import utc_now
from postboard.posts.models import PostRow
from postboard.posts.service import list_posts, visible_to
from postboard.users.models import User
from postboard.votes.models import Vote

Page = list[tuple[int, int, str]]  # (post id, votes, owner email) for each row of a page


async def course_list_posts(database: Database, viewer: Caller, limit: int, skip: int) -> Page:
    """The course's listing: GROUP BY over the join, then each owner fetched on first access."""
    query = (
        select(PostRow, func.count(Vote.post_id).label("votes"))
        .select_from(outerjoin(PostRow, Vote, Vote.post_id == PostRow.id))
        .where(visible_to(viewer.user_id))
        .group_by(PostRow.id)
        .order_by(PostRow.created_at.desc(), PostRow.id.desc())
        .limit(limit)
        .offset(skip)
    )
    page = []
    async with database.orm_session(writes=False) as db:
        for post, votes in (await db.execute(query)).all():
            owner = await db.get(User, post.owner_id)  # what lazy="select" does, one owner at a time
            assert owner is not None
            page.append((post.id, votes, owner.email))
    return page


async def postboard_list_posts(database: Database, viewer: Caller, limit: int, skip: int) -> Page:
    page = await list_posts(CallerReads(viewer, database), limit=limit, skip=skip, search="", before=None)
    return [(post["Post"]["id"], post["votes"], post["Post"]["owner"]["email"]) for post in page.posts]


async def seed(database: Database, users: int, posts: int, votes: int) -> None:
    rng = random.Random(2026)
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(User), [{"email": f"user{n}@example.com", "password_hash": "x"} for n in range(users)]
        )
        user_ids = list((await connection.scalars(select(User.id))).all())
        post_rows = [
            {
                "title": f"Post {n}",
                "content": "x" * 200,
                "published": rng.random() < 0.9,
                "owner_id": rng.choice(user_ids),
            }
            for n in range(posts)
        ]
        await connection.execute(insert(PostRow), post_rows)
        post_ids = list((await connection.scalars(select(PostRow.id))).all())
        pairs = {(rng.choice(post_ids), rng.choice(user_ids)) for _ in range(votes)}
        await connection.execute(insert(Vote), [{"post_id": p, "user_id": u} for p, u in pairs])


async def log_in_viewer(database: Database, user_id: int) -> Caller:
    """A login session for the viewer, as POST /login would start: Postboard's reads check it."""
    now = utc_now()
    login_session_id = "bench-viewer-session"
    async with database.engine.begin() as connection:
        await connection.execute(
            insert(LoginSession).values(
                id=login_session_id,
                user_id=user_id,
                created_at=now,
                expires_at=now + timedelta(days=1),
                refresh_token_hash=hash_refresh_secret(new_refresh_secret()),
                refresh_token_expires_at=now + timedelta(days=1),
            )
        )
    return Caller(user_id, login_session_id)


Lister = Callable[[Database, Caller, int, int], Awaitable[Page]]


async def time_page(
    database: Database, viewer: Caller, lister: Lister, limit: int, skip: int
) -> tuple[float, Page]:
    started = time.perf_counter()
    page = await lister(database, viewer, limit, skip)
    return time.perf_counter() - started, page


async def compare(database: Database, viewer: Caller, limit: int, skip: int, rounds: int) -> dict[str, Any]:
    listers: dict[str, Lister] = {"course": course_list_posts, "postboard": postboard_list_posts}
    pages = {
        name: (await time_page(database, viewer, lister, limit, skip))[1] for name, lister in listers.items()
    }
    assert pages["course"] == pages["postboard"], "the two queries must return the same page"
    statements = {}
    for name, lister in listers.items():
        with recorded_statements(database) as sent:
            await time_page(database, viewer, lister, limit, skip)
        statements[name] = len(sent)
    timings: dict[str, list[float]] = {name: [] for name in listers}
    for _ in range(rounds):  # interleaved, so that noise on this shared machine hits both alike
        for name, lister in listers.items():
            timings[name].append((await time_page(database, viewer, lister, limit, skip))[0])
    medians = {name: statistics.median(samples) * 1000 for name, samples in timings.items()}
    return {
        "medians_ms": medians,
        "statements": statements,
        "ratio": medians["course"] / medians["postboard"],
    }


def _report_line(page: str, result: dict[str, Any]) -> str:
    medians, statements = result["medians_ms"], result["statements"]
    timings = f"{medians['course']:>10.2f} {medians['postboard']:>13.2f} {result['ratio']:>5.1f}x"
    return f"{page:>20} {timings}   {statements['course']} vs {statements['postboard']}"


async def bench(url: str, args: argparse.Namespace) -> None:
    await asyncio.to_thread(upgrade_to_head, url)
    database = Database(url)
    try:
        await database.open()
        await seed(database, args.users, args.posts, args.votes)
        viewer = await log_in_viewer(database, user_id=1)
        print(f"{args.database}: {args.posts} posts, up to {args.votes} votes, {args.users} users")
        print(f"{'page':>20} {'course ms':>10} {'postboard ms':>13} {'ratio':>6}   statements")
        for limit, skip in [(10, 0), (100, 0), (100, args.posts // 2)]:
            result = await compare(database, viewer, limit, skip, args.rounds)
            print(_report_line(f"limit={limit} skip={skip}", result))
    finally:
        await database.dispose()


def main(args: argparse.Namespace) -> None:
    with harness.scratch_database(args.database) as url:
        asyncio.run(bench(normalize_database_url(url), args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="timed reads of each page by each query")
    main(parser.parse_args())
