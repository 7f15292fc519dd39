"""Contract "Account": deleting it, DELETE /users/me."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from postboard.auth.models import LoginSession
from postboard.posts.models import PostRow
from postboard.users.models import User
from postboard.votes.models import Vote
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NEW_PASSWORD,
    NOT_AUTHENTICATED,
    WRONG_PASSWORD,
    Account,
    MakeAccount,
    MakePost,
    count_rows,
    delete_me,
    get_me,
    log_in,
    post_login,
    refresh,
    stored_user,
    vote,
    votes_on,
)


@dataclass(frozen=True)
class Board:
    """Alice, Bob and Carol, their posts, and votes crossing between them."""

    alice_posts: list[int]
    bob_post: int
    carol_post: int


def post_id(post: dict[str, object]) -> int:
    assert isinstance(post["id"], int)
    return post["id"]


@pytest.fixture
async def board(
    client: httpx.AsyncClient, alice: Account, bob: Account, carol: Account, make_post: MakePost
) -> Board:
    alice_posts = [post_id(await make_post(alice, title=f"Alice {n}")) for n in range(2)]
    bob_post = post_id(await make_post(bob, title="Bob's"))
    carol_post = post_id(await make_post(carol, title="Carol's"))
    for voter, target in [
        (alice, bob_post),
        (alice, carol_post),
        (bob, alice_posts[0]),
        (carol, alice_posts[0]),
        (carol, alice_posts[1]),
        (carol, bob_post),
        (bob, carol_post),
    ]:
        await vote(client, voter, target)
    return Board(alice_posts, bob_post, carol_post)


@pytest.fixture
async def carol(make_account: MakeAccount) -> Account:
    return await make_account("carol@example.com")


async def others_rows(app: FastAPI, others: list[Account]) -> dict[str, int]:
    """What other users own: their account rows, posts, votes and sessions."""
    ids = [account.id for account in others]
    return {
        "users": await count_rows(app, User, User.id.in_(ids)),
        "posts": await count_rows(app, PostRow, PostRow.owner_id.in_(ids)),
        "votes": await count_rows(app, Vote, Vote.user_id.in_(ids)),
        "sessions": await count_rows(app, LoginSession, LoginSession.user_id.in_(ids)),
    }


async def test_delete_me_removes_the_account_with_its_posts_and_votes(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, carol: Account, board: Board
) -> None:
    assert await votes_on(client, bob, board.bob_post) == 2
    assert await votes_on(client, bob, board.carol_post) == 2
    others_before = await others_rows(app, [bob, carol])

    response = await delete_me(client, alice.headers, {"password": alice.password})

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert await stored_user(app, alice.id) is None
    for post_id in board.alice_posts:
        assert (await client.get(f"/posts/{post_id}", headers=bob.headers)).status_code == 404
    # Alice's votes on others' posts are gone from their counts.
    assert await votes_on(client, bob, board.bob_post) == 1
    assert await votes_on(client, bob, board.carol_post) == 1
    assert await count_rows(app, PostRow, PostRow.owner_id == alice.id) == 0
    assert await count_rows(app, Vote, Vote.user_id == alice.id) == 0
    # Others' votes on Alice's posts went with the posts: 3 of Bob's and Carol's 5 votes were on them.
    assert await count_rows(app, Vote, Vote.post_id.in_(board.alice_posts)) == 0
    assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 0
    assert await others_rows(app, [bob, carol]) == {**others_before, "votes": others_before["votes"] - 3}
    assert await count_rows(app, Vote) == 2
    assert await count_rows(app, PostRow) == 2


async def test_delete_me_ends_every_token(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    other_login = await log_in(client, alice.email, DEFAULT_PASSWORD)
    bob_tokens = await log_in(client, bob.email, DEFAULT_PASSWORD)

    response = await delete_me(client, alice.headers, {"password": alice.password})

    assert response.status_code == 204, response.text
    for headers in (alice.headers, other_login.headers):
        me = await get_me(client, headers)
        assert me.status_code == 401
        assert me.json() == INVALID_TOKEN
    refreshed = await refresh(client, other_login.refresh)
    assert refreshed.status_code == 401
    assert refreshed.json() == INVALID_REFRESH_TOKEN
    assert (await post_login(client, alice.email, alice.password)).json() == INVALID_CREDENTIALS
    assert (await get_me(client, bob.headers)).status_code == 200
    assert (await refresh(client, bob_tokens.refresh)).status_code == 200


async def test_deleted_user_is_not_found(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    assert (await delete_me(client, alice.headers, {"password": alice.password})).status_code == 204

    response = await client.get(f"/users/{alice.id}", headers=bob.headers)

    assert response.status_code == 404
    assert response.json() == {"detail": f"User with id: {alice.id} does not exist"}


async def test_deleted_email_can_register_again(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await delete_me(client, alice.headers, {"password": alice.password})).status_code == 204

    registered = await client.post("/users/", json={"email": alice.email, "password": NEW_PASSWORD})

    assert registered.status_code == 201, registered.text
    assert (await post_login(client, alice.email, NEW_PASSWORD)).status_code == 200
    assert (await post_login(client, alice.email, alice.password)).status_code == 403
    # SQLite may hand the new account the same id; the old token still opens nothing.
    assert (await get_me(client, alice.headers)).status_code == 401


async def test_delete_me_with_a_wrong_password_answers_403_and_deletes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, carol: Account, board: Board
) -> None:
    everyone_before = await others_rows(app, [alice, bob, carol])

    response = await delete_me(client, alice.headers, {"password": alice.password + "x"})

    assert response.status_code == 403
    assert response.json() == WRONG_PASSWORD
    assert await others_rows(app, [alice, bob, carol]) == everyone_before
    assert (await get_me(client, alice.headers)).status_code == 200
    assert await votes_on(client, alice, board.alice_posts[0]) == 2


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {"password": ""},
        {"password": None},
        {"current_password": DEFAULT_PASSWORD},
        [DEFAULT_PASSWORD],
    ],
    ids=["no-body", "empty", "empty-password", "null", "wrong-name", "array"],
)
async def test_delete_me_without_a_password_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: Any
) -> None:
    response = await delete_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert DEFAULT_PASSWORD not in response.text
    assert await stored_user(app, alice.id) is not None
    assert (await get_me(client, alice.headers)).status_code == 200


async def test_delete_me_with_extra_fields_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    response = await delete_me(client, alice.headers, {"password": alice.password, "confirm": True})

    assert response.status_code == 422, response.text
    assert alice.password not in response.text
    assert await stored_user(app, alice.id) is not None


async def test_delete_me_without_token_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    response = await delete_me(client, {}, {"password": alice.password})

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert await stored_user(app, alice.id) is not None
