"""Contract "Account": reading it (GET /users/me), changing its email (PATCH /users/me) and its password
(PUT /users/me/password), and deleting it (DELETE /users/me)."""

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from postboard.auth import passwords
from postboard.auth.models import RefreshFamily
from postboard.posts.models import Post
from postboard.users.models import User
from postboard.votes.models import Vote
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NEW_PASSWORD,
    NOT_AUTHENTICATED,
    TOO_MANY_LOGIN_FAILURES,
    WRONG_PASSWORD,
    Account,
    MakeAccount,
    MakePost,
    assert_throttled,
    bearer,
    count_rows,
    fresh_email,
    log_in,
    post_login,
    refresh,
    register_and_log_in,
    running_app,
    stored_user,
    vote,
    votes_on,
)


async def get_me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get("/users/me", headers=headers)


async def patch_me(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.patch("/users/me", json=body, headers=headers)


async def put_password(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.put("/users/me/password", json=body, headers=headers)


async def change_password(
    client: httpx.AsyncClient, headers: dict[str, str], current: str, new: str
) -> httpx.Response:
    return await put_password(client, headers, {"current_password": current, "new_password": new})


async def delete_me(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.request("DELETE", "/users/me", json=body, headers=headers)


def assert_not_a_server_error(responses: Sequence[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code < 500, response.text


# --- GET /users/me --------------------------------------------------------------------------------------


async def test_me_answers_the_callers_user_out(client: httpx.AsyncClient, bob: Account) -> None:
    email = fresh_email()
    registered = await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
    assert registered.status_code == 201, registered.text
    tokens = await log_in(client, email, DEFAULT_PASSWORD)

    response = await get_me(client, tokens.headers)

    assert response.status_code == 200, response.text
    # id, email and created_at exactly as registration answered them, and nothing else.
    assert response.json() == registered.json()
    assert set(response.json()) == {"id", "email", "created_at"}
    assert DEFAULT_PASSWORD not in response.text
    assert "hash" not in response.text.lower()
    assert "argon2" not in response.text.lower()
    # The token decides whose account it is.
    assert (await get_me(client, bob.headers)).json()["id"] == bob.id


async def test_me_is_not_read_as_a_user_id(client: httpx.AsyncClient, alice: Account) -> None:
    response = await get_me(client, alice.headers)

    # Were "me" taken for /users/{id}, the answer would be 422 (not an integer).
    assert response.status_code == 200, response.text
    assert response.json() == (await client.get(f"/users/{alice.id}", headers=alice.headers)).json()


async def test_me_without_token_answers_401(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get("/users/me")

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert alice.email not in response.text


async def test_me_with_a_bad_token_answers_401(client: httpx.AsyncClient, alice: Account) -> None:
    response = await get_me(client, bearer(alice.token + "x"))

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


# --- PATCH /users/me ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Alice.New@Example.COM", "alice.new@example.com"),
        ("  spaced-out@example.com  ", "spaced-out@example.com"),
        ("Jose\u0301@Example.com", "jos\u00e9@example.com"),  # composed to NFC, then lower-cased
        (
            "someone@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",
            "someone@example.com",
        ),  # fullwidth domain letters
    ],
)
async def test_patch_me_changes_the_email_to_its_normalized_form(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, typed: str, stored: str
) -> None:
    before = (await get_me(client, alice.headers)).json()

    response = await patch_me(client, alice.headers, {"email": typed, "current_password": alice.password})

    assert response.status_code == 200, response.text
    assert response.json() == {**before, "email": stored}
    assert (await get_me(client, alice.headers)).json() == response.json()
    row = await stored_user(app, alice.id)
    assert row is not None
    assert row.email == stored


async def test_new_email_logs_in_and_the_old_one_no_longer_does(
    client: httpx.AsyncClient, alice: Account
) -> None:
    new_email = fresh_email("alice")
    changed = await patch_me(client, alice.headers, {"email": new_email, "current_password": alice.password})
    assert changed.status_code == 200, changed.text

    new_login = await post_login(client, new_email, alice.password)
    old_login = await post_login(client, alice.email, alice.password)

    assert new_login.status_code == 200, new_login.text
    assert old_login.status_code == 403
    assert old_login.json() == INVALID_CREDENTIALS
    # The old address is free for anyone to register now.
    assert (await client.post("/users/", json={"email": alice.email, "password": "x" * 8})).status_code == 201


async def test_tokens_keep_working_after_an_email_change(client: httpx.AsyncClient, alice: Account) -> None:
    other_login = await log_in(client, alice.email, alice.password)
    new_email = fresh_email("alice")

    changed = await patch_me(client, alice.headers, {"email": new_email, "current_password": alice.password})

    assert changed.status_code == 200, changed.text
    for headers in (alice.headers, other_login.headers):
        me = await get_me(client, headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == new_email
    assert (await refresh(client, other_login.refresh)).status_code == 200


@pytest.mark.parametrize("body", [{}, {"email": None}])
async def test_patch_me_without_an_email_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, Any]
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, alice.headers, {**body, "current_password": alice.password})

    assert response.status_code == 200, response.text
    assert response.json()["email"] == alice.email
    assert await stored_user(app, alice.id) == before


async def test_patch_me_to_its_own_email_in_another_case_is_no_conflict(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(
        client, alice.headers, {"email": alice.email.upper(), "current_password": alice.password}
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == alice.email
    assert await stored_user(app, alice.id) == before


async def test_patch_me_with_a_wrong_current_password_answers_403_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)
    new_email = fresh_email("alice")

    response = await patch_me(
        client, alice.headers, {"email": new_email, "current_password": alice.password + "x"}
    )

    assert response.status_code == 403
    assert response.json() == WRONG_PASSWORD
    assert await stored_user(app, alice.id) == before
    assert (await post_login(client, new_email, alice.password)).status_code == 403
    assert (await get_me(client, alice.headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": "missing-password@example.com"},
        {},
        {"email": "empty-password@example.com", "current_password": ""},
        {"email": "null-password@example.com", "current_password": None},
        {"email": "int-password@example.com", "current_password": 12345678},
    ],
    ids=["missing", "empty-body", "empty", "null", "integer"],
)
async def test_patch_me_without_a_current_password_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, Any]
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await stored_user(app, alice.id) == before


@pytest.mark.parametrize("taken", ["bob@example.com", "BOB@example.com", "Bob@Example.COM"])
async def test_patch_me_to_a_taken_email_answers_409_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, taken: str
) -> None:
    alice_before, bob_before = await stored_user(app, alice.id), await stored_user(app, bob.id)

    response = await patch_me(client, alice.headers, {"email": taken, "current_password": alice.password})

    assert response.status_code == 409, response.text
    assert response.json()["detail"] in {
        f"User with email: {taken} already exists",
        f"User with email: {taken.lower()} already exists",
    }
    assert await stored_user(app, alice.id) == alice_before
    assert await stored_user(app, bob.id) == bob_before
    assert (await post_login(client, alice.email, alice.password)).status_code == 200


@pytest.mark.parametrize(
    "email", ["not-an-email", "missing-domain@", "@example.com", "two@@example.com", "", "a b@example.com"]
)
async def test_patch_me_with_an_invalid_email_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, email: str
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, alice.headers, {"email": email, "current_password": alice.password})

    assert response.status_code == 422, response.text
    assert alice.password not in response.text
    assert await stored_user(app, alice.id) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 999_999),
        ("password_hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
        ("created_at", "2000-01-01T00:00:00+00:00"),
        ("password", "an attacker's new password"),
        ("is_admin", True),
    ],
)
async def test_patch_me_refuses_fields_other_than_the_email(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, field: str, value: object
) -> None:
    before = await stored_user(app, alice.id)
    new_email = fresh_email("alice")
    # A valid change rides along: a route that ignored the extra field would apply it.
    body = {"email": new_email, "current_password": alice.password, field: value}

    response = await patch_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert await stored_user(app, alice.id) == before
    assert alice.password not in response.text
    assert (await post_login(client, alice.email, alice.password)).status_code == 200
    if field == "password":
        assert str(value) not in response.text
        assert (await post_login(client, alice.email, str(value))).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "current_password": "Secret-Current-1"},
        {"email": "fine@example.com", "current_password": "Secret-Current-2", "id": 1},
        {"email": "fine@example.com", "current_password": "Secret-Current-3" * 20},
        {"email": ["list@example.com"], "current_password": "Secret-Current-4"},
        {"email": "fine@example.com", "current_password": ["Secret-Current-5"]},
        {"email": "fine@example.com", "current_password": {"value": "Secret-Current-6"}},
        {"email": 42, "current_password": "Secret-Current-7"},
        ["Secret-Current-8"],
    ],
)
async def test_patch_me_validation_errors_never_echo_the_current_password(
    client: httpx.AsyncClient, alice: Account, body: Any
) -> None:
    response = await patch_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert "Secret-Current" not in response.text


async def test_patch_me_form_encoded_answers_422_without_echoing_the_password(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.patch(
        "/users/me",
        content=b"email=x%40example.com&current_password=Secret-Form-Password",
        headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 422, response.text
    assert "Secret-Form-Password" not in response.text


async def test_patch_me_without_token_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, {}, {"email": fresh_email(), "current_password": alice.password})

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert await stored_user(app, alice.id) == before


# --- PUT /users/me/password -----------------------------------------------------------------------------


async def test_change_password_answers_204_and_the_new_password_logs_in(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await change_password(client, alice.headers, alice.password, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await post_login(client, alice.email, NEW_PASSWORD)).status_code == 200
    old_login = await post_login(client, alice.email, alice.password)
    assert old_login.status_code == 403
    assert old_login.json() == INVALID_CREDENTIALS


async def test_change_password_ends_every_session_of_the_user(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account
) -> None:
    first, second = (
        await log_in(client, alice.email, DEFAULT_PASSWORD),
        await log_in(client, alice.email, DEFAULT_PASSWORD),
    )
    bob_tokens = await log_in(client, bob.email, DEFAULT_PASSWORD)
    bob_sessions = await count_rows(app, RefreshFamily, RefreshFamily.user_id == bob.id)

    response = await change_password(client, first.headers, alice.password, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    # The token that made the change, another login's, and the fixture's: all of them end.
    for token in (first.access, second.access, alice.token):
        me = await get_me(client, bearer(token))
        assert me.status_code == 401
        assert me.json() == INVALID_TOKEN
    for refresh_token in (first.refresh, second.refresh):
        refreshed = await refresh(client, refresh_token)
        assert refreshed.status_code == 401
        assert refreshed.json() == INVALID_REFRESH_TOKEN
    assert await count_rows(app, RefreshFamily, RefreshFamily.user_id == alice.id) == 0
    # Bob's sessions are his own business.
    assert await count_rows(app, RefreshFamily, RefreshFamily.user_id == bob.id) == bob_sessions
    assert (await get_me(client, bob.headers)).status_code == 200
    assert (await get_me(client, bob_tokens.headers)).status_code == 200
    assert (await refresh(client, bob_tokens.refresh)).status_code == 200


async def test_change_password_with_a_wrong_current_password_answers_403_and_keeps_the_password(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await change_password(client, alice.headers, alice.password + "x", NEW_PASSWORD)

    assert response.status_code == 403
    assert response.json() == WRONG_PASSWORD
    assert await stored_user(app, alice.id) == before
    assert (await post_login(client, alice.email, alice.password)).status_code == 200
    assert (await post_login(client, alice.email, NEW_PASSWORD)).status_code == 403
    assert (await get_me(client, alice.headers)).status_code == 200


@pytest.mark.parametrize(
    ("length", "expected_status"), [(0, 422), (1, 422), (7, 422), (8, 204), (256, 204), (257, 422)]
)
async def test_new_password_length_bounds(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, length: int, expected_status: int
) -> None:
    new_password = ("Qx7%" * 100)[:length]
    before = await stored_user(app, alice.id)

    response = await change_password(client, alice.headers, alice.password, new_password)

    assert response.status_code == expected_status, response.text
    if expected_status == 422:
        if length:
            assert new_password not in response.text
        assert alice.password not in response.text
        assert await stored_user(app, alice.id) == before
        assert (await post_login(client, alice.email, alice.password)).status_code == 200
    else:
        assert (await post_login(client, alice.email, new_password)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "takeover@example.com"),
        ("id", 1),
        ("password_hash", "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"),
        ("password", "yet another password"),
        ("is_admin", True),
    ],
)
async def test_change_password_refuses_extra_fields(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, field: str, value: object
) -> None:
    before = await stored_user(app, alice.id)
    body = {"current_password": alice.password, "new_password": NEW_PASSWORD, field: value}

    response = await put_password(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert alice.password not in response.text
    assert NEW_PASSWORD not in response.text
    assert await stored_user(app, alice.id) == before
    assert (await get_me(client, alice.headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"new_password": NEW_PASSWORD}, {"current_password": DEFAULT_PASSWORD}, {}, None],
    ids=["no-current", "no-new", "empty", "no-body"],
)
async def test_change_password_with_missing_fields_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, str] | None
) -> None:
    before = await stored_user(app, alice.id)

    response = await put_password(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert NEW_PASSWORD not in response.text
    assert await stored_user(app, alice.id) == before


async def test_change_password_without_token_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await change_password(client, {}, alice.password, NEW_PASSWORD)

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert await stored_user(app, alice.id) == before


# --- DELETE /users/me -----------------------------------------------------------------------------------


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
        "posts": await count_rows(app, Post, Post.owner_id.in_(ids)),
        "votes": await count_rows(app, Vote, Vote.user_id.in_(ids)),
        "sessions": await count_rows(app, RefreshFamily, RefreshFamily.user_id.in_(ids)),
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
    assert await count_rows(app, Post, Post.owner_id == alice.id) == 0
    assert await count_rows(app, Vote, Vote.user_id == alice.id) == 0
    # Others' votes on Alice's posts went with the posts: 3 of Bob's and Carol's 5 votes were on them.
    assert await count_rows(app, Vote, Vote.post_id.in_(board.alice_posts)) == 0
    assert await count_rows(app, RefreshFamily, RefreshFamily.user_id == alice.id) == 0
    assert await others_rows(app, [bob, carol]) == {**others_before, "votes": others_before["votes"] - 3}
    assert await count_rows(app, Vote) == 2
    assert await count_rows(app, Post) == 2


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


# --- wrong current passwords: a budget per login session ------------------------------------------------


TOO_MANY_PASSWORD_FAILURES = {"detail": "Too many wrong passwords on this login session, try again later"}


@asynccontextmanager
async def throttled_client(
    database_url: str, **settings: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app that throttles failed logins at 3 a minute per account and wrong current passwords at 3 a
    minute per login session, and a client for it."""
    budgets = {"login_limit_per_account": "3/minute", "password_check_limit_per_session": "3/minute"}
    async with running_app(database_url, rate_limits=True, **budgets, **settings) as served:
        yield served


async def wrong_attempt(client: httpx.AsyncClient, headers: dict[str, str], route: str) -> httpx.Response:
    wrong = "not the password"
    if route == "PATCH /users/me":
        return await patch_me(client, headers, {"email": fresh_email(), "current_password": wrong})
    if route == "PUT /users/me/password":
        return await change_password(client, headers, wrong, NEW_PASSWORD)
    return await delete_me(client, headers, {"password": wrong})


async def assert_wrong_passwords_spend_the_sessions_budget(
    application: FastAPI, client: httpx.AsyncClient, route: str
) -> None:
    email = fresh_email("victim")
    tokens = await register_and_log_in(client, email)
    other_session = await log_in(client, email, DEFAULT_PASSWORD)
    user_id = (await get_me(client, tokens.headers)).json()["id"]
    bystander = fresh_email("bystander")
    await register_and_log_in(client, bystander)
    before = await stored_user(application, user_id)

    for _ in range(3):
        response = await wrong_attempt(client, tokens.headers, route)
        assert response.status_code == 403, response.text
        assert response.json() == WRONG_PASSWORD
    # The session's budget is spent: even the right password is refused there, without being checked.
    assert_throttled(
        await change_password(client, tokens.headers, DEFAULT_PASSWORD, NEW_PASSWORD),
        TOO_MANY_PASSWORD_FAILURES,
    )
    assert await stored_user(application, user_id) == before
    # The failures counted against the account's login budget too: a stolen token buys no extra guesses.
    assert_throttled(await post_login(client, email, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)
    # Another account from the same address still logs in.
    assert (await post_login(client, bystander, DEFAULT_PASSWORD)).status_code == 200
    # The owner's other login session has a budget of its own.
    changed = await change_password(client, other_session.headers, DEFAULT_PASSWORD, NEW_PASSWORD)
    assert changed.status_code == 204, changed.text


@pytest.mark.parametrize("route", ["PUT /users/me/password", "PATCH /users/me", "DELETE /users/me"])
async def test_wrong_current_passwords_spend_the_sessions_budget(database_url: str, route: str) -> None:
    async with throttled_client(database_url) as (application, client):
        await assert_wrong_passwords_spend_the_sessions_budget(application, client, route)


async def test_wrong_current_passwords_spend_the_budget_kept_in_redis(
    database_url: str, redis_url: str
) -> None:
    async with throttled_client(database_url, redis_url=redis_url) as (application, client):
        await assert_wrong_passwords_spend_the_sessions_budget(application, client, "PUT /users/me/password")


@pytest.mark.parametrize("route", ["PUT /users/me/password", "PATCH /users/me", "DELETE /users/me"])
async def test_a_strangers_failed_logins_leave_the_owners_password_checks_alone(
    database_url: str, route: str
) -> None:
    async with throttled_client(database_url) as (application, client):
        email = fresh_email("owner")
        owner = await register_and_log_in(client, email)
        for _ in range(3):
            assert (await post_login(client, email, "a stranger's guess")).status_code == 403
        assert_throttled(await post_login(client, email, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)

        if route == "PATCH /users/me":
            new_email = fresh_email("moved")
            response = await patch_me(
                client, owner.headers, {"email": new_email, "current_password": DEFAULT_PASSWORD}
            )
            assert response.status_code == 200, response.text
            assert response.json()["email"] == new_email
        elif route == "PUT /users/me/password":
            response = await change_password(client, owner.headers, DEFAULT_PASSWORD, NEW_PASSWORD)
            assert response.status_code == 204, response.text
        else:
            response = await delete_me(client, owner.headers, {"password": DEFAULT_PASSWORD})
            assert response.status_code == 204, response.text
            assert await count_rows(application, User, User.email == email) == 0


# --- password checks hold no database lock or connection while they hash ------------------------------


PASSWORD_CHECKED_REQUESTS = {
    "PATCH /users/me": (
        "PATCH",
        "/users/me",
        {"email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
    ),
    "PUT /users/me/password": (
        "PUT",
        "/users/me/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    ),
    "DELETE /users/me": ("DELETE", "/users/me", {"password": DEFAULT_PASSWORD}),
}


@pytest.mark.parametrize("route", list(PASSWORD_CHECKED_REQUESTS))
async def test_another_users_write_goes_ahead_while_a_password_is_being_checked(
    database_url: str, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """With one database connection per pool, a check that held it (or SQLite's write lock) while hashing
    would keep Bob's post waiting until the hash was done."""
    hashing, may_finish = threading.Event(), threading.Event()
    verify = passwords._verify_and_update

    def slow_verify(password: str, password_hash: str) -> passwords.Verdict:
        hashing.set()
        may_finish.wait(10)
        return verify(password, password_hash)

    async with running_app(database_url, database_pool_size=1, database_pool_timeout=5) as (_, client):
        try:
            alice = await register_and_log_in(client, fresh_email("alice"))
            bob = await register_and_log_in(client, fresh_email("bob"))
            monkeypatch.setattr(passwords, "_verify_and_update", slow_verify)
            method, path, body = PASSWORD_CHECKED_REQUESTS[route]
            check = asyncio.create_task(client.request(method, path, json=body, headers=alice.headers))
            assert await asyncio.to_thread(hashing.wait, 10)

            post = await asyncio.wait_for(
                client.post("/posts/", json={"title": "t", "content": "c"}, headers=bob.headers), 4
            )

            assert post.status_code == 201, post.text
            assert not check.done()
            may_finish.set()
            checked = await check
            assert checked.status_code in (200, 204), checked.text
        finally:
            may_finish.set()


async def test_a_password_changed_during_the_check_is_not_taken_for_the_old_one(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash is compared again under the row lock: a check that started before another session changed
    the password cannot then act on the old one."""
    other_session = await log_in(client, alice.email, DEFAULT_PASSWORD)
    hashing, may_finish = threading.Event(), threading.Event()
    verify = passwords._verify_and_update

    def slow_verify(password: str, password_hash: str) -> passwords.Verdict:
        if not hashing.is_set():
            hashing.set()
            may_finish.wait(10)
        return verify(password, password_hash)

    monkeypatch.setattr(passwords, "_verify_and_update", slow_verify)
    email_change = asyncio.create_task(
        patch_me(client, alice.headers, {"email": fresh_email("late"), "current_password": alice.password})
    )
    assert await asyncio.to_thread(hashing.wait, 10)
    # Meanwhile, Alice's own hash is replaced past the API (as a password change would, minus the
    # sessions it ends, so that only the hash comparison can stop the email change).
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(User).where(User.id == alice.id).values(password_hash="$argon2id$other")
        )
    may_finish.set()

    response = await email_change

    assert response.status_code == 403, response.text
    assert response.json() == WRONG_PASSWORD
    assert (await get_me(client, other_session.headers)).json()["email"] == alice.email


# --- races ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_email_changes_to_one_address_let_exactly_one_win(
    client: httpx.AsyncClient, app: FastAPI, make_account: MakeAccount, round_: int
) -> None:
    first, second = await make_account(), await make_account()
    target = fresh_email("wanted")

    responses = await asyncio.gather(
        patch_me(client, first.headers, {"email": target, "current_password": first.password}),
        patch_me(client, second.headers, {"email": target.upper(), "current_password": second.password}),
    )

    assert_not_a_server_error(responses)
    assert sorted(response.status_code for response in responses) == [200, 409], [r.text for r in responses]
    winner, loser = (first, second) if responses[0].status_code == 200 else (second, first)
    assert (await get_me(client, winner.headers)).json()["email"] == target
    assert (await get_me(client, loser.headers)).json()["email"] == loser.email
    assert await count_rows(app, User, User.email == target) == 1
    login = await post_login(client, target, DEFAULT_PASSWORD)
    assert login.status_code == 200
    assert (await get_me(client, bearer(login.json()["access_token"]))).json()["id"] == winner.id


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_password_changes_leave_exactly_one_new_password(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, round_: int
) -> None:
    second_login = await log_in(client, alice.email, DEFAULT_PASSWORD)
    candidates = ["first new password", "second new password"]

    responses = await asyncio.gather(
        change_password(client, alice.headers, alice.password, candidates[0]),
        change_password(client, second_login.headers, alice.password, candidates[1]),
    )

    assert_not_a_server_error(responses)
    statuses = [response.status_code for response in responses]
    assert statuses.count(204) <= 1, statuses
    # The loser either found its session ended (401) or its current password no longer current (403).
    assert set(statuses) <= {204, 401, 403}, [r.text for r in responses]
    assert await count_rows(app, RefreshFamily, RefreshFamily.user_id == alice.id) == 0
    logins = [(await post_login(client, alice.email, password)).status_code for password in candidates]
    assert sorted(logins) == [200, 403], logins
    assert statuses[logins.index(200)] == 204
    assert (await post_login(client, alice.email, alice.password)).status_code == 403


async def test_concurrent_account_deletions_delete_once(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account
) -> None:
    second_login = await log_in(client, alice.email, DEFAULT_PASSWORD)

    responses = await asyncio.gather(
        delete_me(client, alice.headers, {"password": alice.password}),
        delete_me(client, second_login.headers, {"password": alice.password}),
    )

    assert_not_a_server_error(responses)
    assert sorted(response.status_code for response in responses) == [204, 401], [r.text for r in responses]
    assert await stored_user(app, alice.id) is None
    assert await stored_user(app, bob.id) is not None
