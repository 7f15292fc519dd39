"""posts.vote_count, kept by the database in the same transaction as every vote: reads never count votes."""

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from postboard.posts.models import PostRow
from postboard.votes.models import Vote
from tests.helpers import DEFAULT_PASSWORD, Account, MakeAccount, MakePost, cast_vote, count_rows


async def stored_and_real_counts(app: FastAPI, post_id: object) -> tuple[int, int]:
    async with app.state.database.engine.connect() as connection:
        stored = await connection.scalar(select(PostRow.vote_count).where(PostRow.id == post_id))
        real = await connection.scalar(select(func.count()).select_from(Vote).where(Vote.post_id == post_id))
    assert isinstance(stored, int)
    assert isinstance(real, int)
    return stored, real


async def vote_status(client: httpx.AsyncClient, voter: Account, post_id: object, direction: int) -> int:
    """The status of the vote's answer."""
    return (await cast_vote(client, voter, post_id, direction)).status_code


async def test_racing_votes_and_unvotes_leave_the_count_equal_to_the_votes(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_account: MakeAccount, make_post: MakePost
) -> None:
    post = await make_post(alice)
    voters = [await make_account() for _ in range(12)]
    stayers, leavers = voters[:6], voters[6:]
    assert all(
        status == 201
        for status in await asyncio.gather(*(vote_status(client, v, post["id"], 1) for v in leavers))
    )

    # Half take their vote back while the other half vote, all at once, each request twice.
    statuses = await asyncio.gather(
        *(vote_status(client, voter, post["id"], 0) for voter in leavers for _ in range(2)),
        *(vote_status(client, voter, post["id"], 1) for voter in stayers for _ in range(2)),
    )

    assert sorted(statuses) == sorted([201] * 6 + [404] * 6 + [201] * 6 + [409] * 6)
    assert await stored_and_real_counts(app, post["id"]) == (6, 6)
    shown = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert shown.json()["votes"] == 6


async def test_a_deleted_account_takes_its_votes_off_the_counts(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    first = await make_post(alice, title="first")
    second = await make_post(alice, title="second")
    for post_id in (first["id"], second["id"]):
        assert await vote_status(client, bob, post_id, 1) == 201
    assert await vote_status(client, alice, first["id"], 1) == 201

    deleted = await client.request(
        "DELETE", "/users/me", json={"password": DEFAULT_PASSWORD}, headers=bob.headers
    )

    assert deleted.status_code == 204, deleted.text
    assert await stored_and_real_counts(app, first["id"]) == (1, 1)
    assert await stored_and_real_counts(app, second["id"]) == (0, 0)


async def test_a_deleted_post_takes_its_votes_with_it_and_leaves_other_counts_alone(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    doomed = await make_post(alice, title="doomed")
    kept = await make_post(alice, title="kept")
    for voter in (alice, bob):
        assert await vote_status(client, voter, doomed["id"], 1) == 201
    assert await vote_status(client, bob, kept["id"], 1) == 201

    assert (await client.delete(f"/posts/{doomed['id']}", headers=alice.headers)).status_code == 204

    assert await count_rows(app, Vote, Vote.post_id == doomed["id"]) == 0
    assert await stored_and_real_counts(app, kept["id"]) == (1, 1)
