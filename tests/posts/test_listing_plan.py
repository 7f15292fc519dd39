"""The listing's plan on PostgreSQL: asyncpg prepares every statement, and after a few runs PostgreSQL may
keep a generic plan, made without the parameters' values. That plan must still read the page off the
index and the page's posts by their ids, never the whole table."""

import asyncpg
from sqlalchemy import delete, insert, make_url

from postboard.db import Database
from postboard.posts.models import PostRow
from postboard.posts.service import listing_read
from postboard.users.models import User


async def generic_plan(database_url: str, sql: str, *arguments: object) -> str:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute("ANALYZE posts; ANALYZE users")
        rows = await connection.fetch(f"EXPLAIN {sql}", *arguments)
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


async def test_the_listings_generic_plan_never_scans_the_posts_table(postgresql_url: str) -> None:
    database = Database(postgresql_url)
    try:
        async with database.engine.begin() as connection:
            owner = await connection.scalar(
                insert(User).values(email="o@example.com", password_hash="x").returning(User.id)
            )
            await connection.execute(
                insert(PostRow),
                [{"title": f"post {n}", "content": "c", "owner_id": owner} for n in range(2000)],
            )
        # The third: the web app's feed, which also asks whether the caller voted on each post.
        for searching, after_cursor, with_caller_vote in [
            (False, False, False),
            (False, True, False),
            (False, False, True),
        ]:
            statement = listing_read(searching, after_cursor, with_caller_vote).statement
            compiled = statement.compile(dialect=database.engine.dialect)
            values = {"user_id": owner, "limit": 10, "skip": 0, "login_session_id": "s", "now": None}
            values |= {"cursor_created_at": None, "cursor_id": 1}
            arguments = {**compiled.params, **values}  # the statement's own literals, and the parameters
            plan = await generic_plan(
                postgresql_url, compiled.string, *(arguments[name] for name in compiled.positiontup or ())
            )

            assert "Seq Scan on posts" not in plan, plan
            assert "Seq Scan on votes" not in plan, plan
            assert "ix_posts_created_at_id" in plan, plan
            assert "pk_posts" in plan, plan
    finally:
        async with database.engine.begin() as connection:  # the database is shared by the session's tests
            await connection.execute(delete(PostRow))
            await connection.execute(delete(User))
        await database.dispose()
