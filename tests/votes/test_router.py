"""The Votes section of CONTRACT.md, line by line, on SQLite and on PostgreSQL."""

import asyncio
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI

from postboard.votes.models import Vote
from tests.helpers import (
    NOT_AUTHENTICATED,
    VOTE_ADDED,
    Account,
    MakeAccount,
    MakePost,
    cast_vote,
    count_rows,
    votes_on,
)

VOTE_DELETED = {"message": "successfully deleted vote"}
VOTE_NOT_FOUND = {"detail": "Vote does not exist"}
CONCURRENT_REQUESTS = 10


def post_not_found(post_id: object) -> dict[str, str]:
    return {"detail": f"Post with id: {post_id} does not exist"}


@pytest.mark.parametrize("path", ["/vote", "/vote/"])
async def test_vote_is_answered_with_and_without_trailing_slash(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost, path: str
) -> None:
    post = await make_post(alice)

    added = await client.post(
        path, json={"post_id": post["id"], "dir": 1}, headers=bob.headers, follow_redirects=False
    )
    assert added.status_code == 201, added.text
    assert added.json() == VOTE_ADDED
    assert await votes_on(client, bob, post["id"]) == 1

    deleted = await client.post(
        path, json={"post_id": post["id"], "dir": 0}, headers=bob.headers, follow_redirects=False
    )
    assert deleted.status_code == 201, deleted.text
    assert deleted.json() == VOTE_DELETED
    assert await votes_on(client, bob, post["id"]) == 0


async def test_voting_twice_is_a_conflict(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    assert (await cast_vote(client, bob, post["id"], 1)).status_code == 201

    again = await cast_vote(client, bob, post["id"], 1)

    assert again.status_code == 409, again.text
    assert again.json() == {"detail": f"user {bob.id} has already voted on post {post['id']}"}
    assert await votes_on(client, bob, post["id"]) == 1
    assert await count_rows(app, Vote) == 1


async def test_taking_back_a_vote_that_does_not_exist_is_404(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    await cast_vote(client, alice, post["id"], 1)

    never_voted = await cast_vote(client, bob, post["id"], 0)
    assert never_voted.status_code == 404, never_voted.text
    assert never_voted.json() == VOTE_NOT_FOUND

    assert (await cast_vote(client, alice, post["id"], 0)).json() == VOTE_DELETED
    taken_back_twice = await cast_vote(client, alice, post["id"], 0)
    assert taken_back_twice.status_code == 404, taken_back_twice.text
    assert taken_back_twice.json() == VOTE_NOT_FOUND
    assert await count_rows(app, Vote) == 0
    # A vote taken back can be cast again.
    assert (await cast_vote(client, alice, post["id"], 1)).json() == VOTE_ADDED


@pytest.mark.parametrize("post_id", [99_999_999, 2**31, 2**40, 2**63, 10**30, 0, -1])
@pytest.mark.parametrize("direction", [1, 0])
async def test_vote_on_an_unknown_post_is_404(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Account,
    make_post: MakePost,
    post_id: int,
    direction: int,
) -> None:
    await make_post(alice)

    response = await cast_vote(client, alice, post_id, direction)

    assert response.status_code == 404, response.text
    assert response.json() == post_not_found(post_id)
    assert await count_rows(app, Vote) == 0


@pytest.mark.parametrize("direction", [1, 0])
async def test_another_users_draft_cannot_be_voted_on(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost, direction: int
) -> None:
    draft = await make_post(alice, published=False)

    response = await cast_vote(client, bob, draft["id"], direction)

    assert response.status_code == 404, response.text
    assert response.json() == post_not_found(draft["id"])
    assert await count_rows(app, Vote) == 0


async def set_published(
    client: httpx.AsyncClient, owner: Account, post: dict[str, object], published: bool
) -> None:
    body = {"title": post["title"], "content": post["content"], "published": published}
    response = await client.put(f"/posts/{post['id']}", json=body, headers=owner.headers)
    assert response.status_code == 200, response.text


async def test_a_vote_can_be_taken_back_after_the_author_unpublishes_the_post(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Account,
    bob: Account,
    make_account: MakeAccount,
    make_post: MakePost,
) -> None:
    carol = await make_account()
    post = await make_post(alice)
    for voter in (bob, carol):
        assert (await cast_vote(client, voter, post["id"], 1)).json() == VOTE_ADDED
    await set_published(client, alice, post, False)

    taken_back = await cast_vote(client, bob, post["id"], 0)

    assert taken_back.status_code == 201, taken_back.text
    assert taken_back.json() == VOTE_DELETED
    assert await count_rows(app, Vote) == 1
    # Once the vote is gone the draft is out of Bob's reach again, for both directions.
    for direction in (0, 1):
        again = await cast_vote(client, bob, post["id"], direction)
        assert again.status_code == 404, again.text
        assert again.json() == post_not_found(post["id"])
    await set_published(client, alice, post, True)
    assert await votes_on(client, bob, post["id"]) == 1


@pytest.mark.parametrize("direction", [1, 0])
async def test_a_stranger_gets_the_same_404_for_a_draft_as_for_a_missing_post(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost, direction: int
) -> None:
    draft = await make_post(alice, published=False)
    assert isinstance(draft["id"], int)
    missing_id = draft["id"] + 1000

    on_draft = await cast_vote(client, bob, draft["id"], direction)
    on_missing = await cast_vote(client, bob, missing_id, direction)

    assert (on_draft.status_code, on_missing.status_code) == (404, 404)
    assert on_draft.json() == post_not_found(draft["id"])
    assert on_missing.json() == post_not_found(missing_id)


async def test_the_caller_may_vote_on_their_own_draft(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    draft = await make_post(alice, published=False)

    response = await cast_vote(client, alice, draft["id"], 1)

    assert response.status_code == 201, response.text
    assert response.json() == VOTE_ADDED
    assert await votes_on(client, alice, draft["id"]) == 1


@pytest.mark.parametrize(
    "direction",
    [
        pytest.param(2, id="2"),
        pytest.param(-1, id="-1"),
        pytest.param("1", id="string-1"),
        pytest.param("0", id="string-0"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(1.0, id="float-1"),
        pytest.param(0.0, id="float-0"),
        pytest.param(None, id="null"),
        pytest.param([1], id="list"),
    ],
)
async def test_dir_must_be_the_json_number_0_or_1(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_post: MakePost, direction: object
) -> None:
    post = await make_post(alice)

    response = await cast_vote(client, alice, post["id"], direction)

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert [error["loc"] for error in detail] == [["body", "dir"]]
    assert await count_rows(app, Vote) == 0


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("post-id-string", "post_id"),
        ("post-id-null", "post_id"),
        ("post-id-missing", "post_id"),
        ("dir-missing", "dir"),
        ("empty", "post_id"),
    ],
)
async def test_post_id_and_dir_are_required(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_post: MakePost, case: str, field: str
) -> None:
    post = await make_post(alice)
    bodies: dict[str, dict[str, object]] = {
        "post-id-string": {"post_id": str(post["id"]), "dir": 1},
        "post-id-null": {"post_id": None, "dir": 1},
        "post-id-missing": {"dir": 1},
        "dir-missing": {"post_id": post["id"]},
        "empty": {},
    }

    response = await client.post("/vote/", json=bodies[case], headers=alice.headers)

    assert response.status_code == 422, response.text
    assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
    assert await count_rows(app, Vote) == 0


async def test_votes_are_counted_in_get_and_list(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_account: MakeAccount, make_post: MakePost
) -> None:
    carol = await make_account()
    first = await make_post(alice, title="first")
    second = await make_post(bob, title="second")
    ignored = await make_post(bob, title="ignored")
    for voter in (alice, bob, carol):
        assert (await cast_vote(client, voter, first["id"], 1)).json() == VOTE_ADDED
    assert (await cast_vote(client, carol, second["id"], 1)).json() == VOTE_ADDED

    assert await votes_on(client, bob, first["id"]) == 3
    assert await votes_on(client, bob, second["id"]) == 1
    listed = await client.get("/posts/", headers=carol.headers)
    assert listed.json() == [
        {"Post": ignored, "votes": 0},
        {"Post": second, "votes": 1},
        {"Post": first, "votes": 3},
    ]

    assert (await cast_vote(client, bob, first["id"], 0)).json() == VOTE_DELETED

    assert await votes_on(client, alice, first["id"]) == 2
    listed = await client.get("/posts/", headers=carol.headers)
    assert listed.json() == [
        {"Post": ignored, "votes": 0},
        {"Post": second, "votes": 1},
        {"Post": first, "votes": 2},
    ]


async def test_concurrent_identical_votes_add_exactly_one(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)

    responses = await asyncio.gather(
        *(cast_vote(client, bob, post["id"], 1) for _ in range(CONCURRENT_REQUESTS))
    )

    assert Counter(response.status_code for response in responses) == {201: 1, 409: CONCURRENT_REQUESTS - 1}
    bodies = [response.json() for response in responses]
    assert bodies.count(VOTE_ADDED) == 1
    conflict = {"detail": f"user {bob.id} has already voted on post {post['id']}"}
    assert bodies.count(conflict) == CONCURRENT_REQUESTS - 1
    assert await votes_on(client, alice, post["id"]) == 1
    assert await count_rows(app, Vote) == 1


async def test_concurrent_identical_unvotes_take_back_exactly_one(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    assert (await cast_vote(client, bob, post["id"], 1)).status_code == 201

    responses = await asyncio.gather(
        *(cast_vote(client, bob, post["id"], 0) for _ in range(CONCURRENT_REQUESTS))
    )

    assert Counter(response.status_code for response in responses) == {201: 1, 404: CONCURRENT_REQUESTS - 1}
    bodies = [response.json() for response in responses]
    assert bodies.count(VOTE_DELETED) == 1
    assert bodies.count(VOTE_NOT_FOUND) == CONCURRENT_REQUESTS - 1
    assert await votes_on(client, alice, post["id"]) == 0
    assert await count_rows(app, Vote) == 0


@pytest.mark.parametrize("path", ["/vote", "/vote/"])
async def test_vote_needs_a_bearer_token(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_post: MakePost, path: str
) -> None:
    post = await make_post(alice)

    response = await client.post(path, json={"post_id": post["id"], "dir": 1}, follow_redirects=False)

    assert response.status_code == 401, response.text
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await count_rows(app, Vote) == 0
