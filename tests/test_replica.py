"""Reads on a streaming replica (DATABASE_REPLICA_URL), over HTTP against a real primary and replica.

The machine's PostgreSQL allows no replication connections, so the module builds its own pair
(bench/streaming_replica.py) and makes the replica lag at will by pausing its replay. While it is paused,
what a read shows tells where it ran: a post written meanwhile is on the primary only.
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from streaming_replica import ClusterUnavailable, PrimaryAndReplica, primary_and_replica

from postboard.app import create_app
from postboard.auth.models import LoginSession
from postboard.config import normalize_database_url
from postboard.migrations import upgrade_to_head
from tests.helpers import Account, MakeAccount, MakePost, count_rows, make_settings, started
from tests.services import skip_without_service


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrimaryAndReplica]:
    try:
        with primary_and_replica() as built:
            upgrade_to_head(normalize_database_url(built.primary_url))
            yield built
    except ClusterUnavailable as error:
        skip_without_service(f"cannot build a PostgreSQL primary and replica: {error}")


@pytest.fixture
async def app(cluster: PrimaryAndReplica) -> AsyncIterator[FastAPI]:
    """Postboard on the primary, reading from the replica (the `client` and account fixtures use it)."""
    settings = make_settings(cluster.primary_url, database_replica_url=cluster.replica_url)
    async with started(create_app(settings)) as application:
        yield application


@asynccontextmanager
async def replay_paused(cluster: PrimaryAndReplica) -> AsyncIterator[None]:
    """The replica holds what the primary held on entry, until the block ends; then it catches up."""
    await cluster.wait_for_replay()
    await cluster.pause_replay()
    try:
        yield
    finally:
        await cluster.resume_replay()
        await cluster.wait_for_replay()


async def listed_titles(client: httpx.AsyncClient, reader: Account) -> list[str]:
    response = await client.get("/posts/", headers=reader.headers)
    assert response.status_code == 200, response.text
    return [item["Post"]["title"] for item in response.json()]


async def test_others_read_from_the_replica_and_see_a_new_post_once_it_is_replayed(
    cluster: PrimaryAndReplica, client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    await make_post(alice, title="before the pause")

    async with replay_paused(cluster):
        await make_post(alice, title="during the pause")
        assert await listed_titles(client, bob) == ["before the pause"]

    assert await listed_titles(client, bob) == ["during the pause", "before the pause"]


async def test_a_read_the_replica_finds_nothing_for_is_answered_by_the_primary(
    cluster: PrimaryAndReplica, client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    async with replay_paused(cluster):
        new = await make_post(alice, title="linked at once")
        by_link = await client.get(f"/posts/{new['id']}", headers=bob.headers)
        searched = await client.get("/posts/", params={"search": "linked"}, headers=bob.headers)

    assert by_link.status_code == 200, by_link.text
    assert by_link.json()["Post"]["title"] == "linked at once"
    assert [item["Post"]["title"] for item in searched.json()] == ["linked at once"]


async def test_the_writer_reads_its_writes_on_the_primary_until_the_replica_has_replayed_them(
    cluster: PrimaryAndReplica, client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    await make_post(bob, title="older")  # the replica has a page to answer with

    async with replay_paused(cluster):
        await make_post(alice, title="alice's")
        assert await listed_titles(client, alice) == ["alice's", "older"]
        assert await listed_titles(client, bob) == ["older"]

    # Alice's post replayed, her reads are the replica's again: they miss what bob writes while it lags,
    # which bob himself sees.
    async with replay_paused(cluster):
        await make_post(bob, title="bob's")
        assert await listed_titles(client, alice) == ["alice's", "older"]
        assert await listed_titles(client, bob) == ["bob's", "alice's", "older"]


async def test_an_account_made_while_the_replica_lags_reads_at_once(
    cluster: PrimaryAndReplica, client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    async with replay_paused(cluster):
        carol = await make_account()
        me = await client.get("/users/me", headers=carol.headers)
        found = await client.get(f"/users/{carol.id}", headers=carol.headers)

    assert me.status_code == 200, me.text
    assert me.json()["id"] == carol.id
    assert found.status_code == 200, found.text


async def test_a_revoked_token_is_refused_at_once_though_the_replica_still_holds_its_session(
    cluster: PrimaryAndReplica, client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    reads = ("/posts/", f"/posts/{post['id']}", "/users/me", f"/users/{alice.id}")

    async with replay_paused(cluster):
        assert (await client.post("/logout", headers=alice.headers)).status_code == 204
        assert await _replica_session_count(cluster, alice.id) == 1
        during = [(await client.get(path, headers=alice.headers)).status_code for path in reads]

    after = [(await client.get(path, headers=alice.headers)).status_code for path in reads]
    assert during == after == [401] * len(reads)


async def test_each_write_is_counted_on_the_session_it_is_made_through(
    app: FastAPI, client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    replaced = await client.put(
        f"/posts/{post['id']}", json={"title": "new", "content": "new"}, headers=alice.headers
    )

    assert replaced.status_code == 200, replaced.text
    counted = (LoginSession.user_id == alice.id, LoginSession.write_count == 2)
    assert await count_rows(app, LoginSession, *counted) == 1


async def test_an_admins_deletion_is_in_their_next_read_and_their_reads_count_nothing(
    app: FastAPI, cluster: PrimaryAndReplica, client: httpx.AsyncClient, admin: Account, make_post: MakePost
) -> None:
    await make_post(admin, title="kept")
    doomed = await make_post(admin, title="doomed")
    for path in ("/admin/users", "/admin/reports", "/admin/audit-log"):
        assert (await client.get(path, headers=admin.headers)).status_code == 200, path
    uncounted = (LoginSession.user_id == admin.id, LoginSession.write_count == 2)  # the two posts
    assert await count_rows(app, LoginSession, *uncounted) == 1

    async with replay_paused(cluster):
        deleted = await client.request(
            "DELETE", f"/admin/posts/{doomed['id']}", json={"reason": "spam"}, headers=admin.headers
        )
        assert deleted.status_code == 204, deleted.text
        assert await listed_titles(client, admin) == ["kept"]


async def _replica_session_count(cluster: PrimaryAndReplica, user_id: int) -> int:
    connection = await asyncpg.connect(cluster.replica_url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM login_sessions WHERE user_id = $1", user_id
        )
        return count
    finally:
        await connection.close()
