"""Reads check the token's login session at every request, whatever they find: an ended session is a 401
even where the read itself would come back empty or missing, and a refused token costs no statement."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import jwt
import pytest
from fastapi import FastAPI

from postboard.db import recorded_statements
from tests.forged_tokens import OTHER_KEY
from tests.helpers import (
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    TEST_SECRET_KEY,
    Account,
    MakeAccount,
    MakePost,
    bearer,
)


@dataclass(frozen=True)
class Read:
    name: str
    # The path for a reader, given a post of theirs, another user's draft and that other user's id.
    path: Callable[[int, int, int], str]
    expected_status: int

    def __str__(self) -> str:
        return self.name


READS = [
    Read("a full page", lambda _post, _draft, _other: "/posts/", 200),
    Read("a page past the end", lambda _post, _draft, _other: "/posts/?skip=1000", 200),
    Read("a search that finds nothing", lambda _post, _draft, _other: "/posts/?search=nothing-like-it", 200),
    Read("a page before every post", lambda _post, _draft, _other: "/posts/?before=0_1", 200),
    Read("an existing post", lambda post, _draft, _other: f"/posts/{post}", 200),
    Read("a missing post", lambda _post, _draft, _other: "/posts/999999", 404),
    Read("another user's draft", lambda _post, draft, _other: f"/posts/{draft}", 404),
    Read("the caller's account", lambda _post, _draft, _other: "/users/me", 200),
    Read("another user", lambda _post, _draft, other: f"/users/{other}", 200),
    Read("a missing user", lambda _post, _draft, _other: "/users/999999", 404),
]

ReadPath = Callable[[Read], Awaitable[str]]


@pytest.fixture
def read_path(alice: Account, bob: Account, make_post: MakePost) -> ReadPath:
    async def path(read: Read) -> str:
        post = await make_post(alice, title="alice's")
        draft = await make_post(bob, title="bob's draft", published=False)
        return read.path(int(str(post["id"])), int(str(draft["id"])), bob.id)

    return path


@pytest.mark.parametrize("read", READS, ids=str)
async def test_a_read_answers_while_the_session_lives_and_401_once_it_ended(
    client: httpx.AsyncClient, alice: Account, read_path: ReadPath, read: Read
) -> None:
    path = await read_path(read)
    alive = await client.get(path, headers=alice.headers)
    assert alive.status_code == read.expected_status, alive.text

    assert (await client.post("/logout", headers=alice.headers)).status_code == 204
    ended = await client.get(path, headers=alice.headers)

    assert ended.status_code == 401, ended.text
    assert ended.json() == INVALID_TOKEN
    assert ended.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("read", READS, ids=str)
async def test_a_read_with_the_token_of_a_deleted_account_is_a_401(
    client: httpx.AsyncClient, make_account: MakeAccount, read_path: ReadPath, read: Read
) -> None:
    ghost = await make_account()
    path = await read_path(read)
    deleted = await client.request(
        "DELETE", "/users/me", json={"password": ghost.password}, headers=ghost.headers
    )
    assert deleted.status_code == 204, deleted.text

    response = await client.get(path, headers=ghost.headers)

    assert response.status_code == 401, response.text
    assert response.json() == INVALID_TOKEN


def token(account: Account, key: str = TEST_SECRET_KEY, **changes: object) -> str:
    claims = {**jwt.decode(account.token, TEST_SECRET_KEY, algorithms=["HS256"]), **changes}
    return jwt.encode(claims, key, algorithm="HS256")


REFUSED_TOKENS: dict[str, Callable[[Account], str]] = {
    "garbage": lambda _account: "garbage",
    "another key": lambda account: token(account, key=OTHER_KEY),
    "tampered": lambda account: account.token[:-2] + ("AA" if not account.token.endswith("AA") else "BB"),
    "expired": lambda account: token(account, exp=1_000_000_000),
    "unstorable user id": lambda account: token(account, user_id=2**40, sub=str(2**40)),
    "alg none": lambda account: jwt.encode(
        jwt.decode(account.token, TEST_SECRET_KEY, algorithms=["HS256"]), key="", algorithm="none"
    ),
}


@pytest.mark.parametrize("kind", REFUSED_TOKENS)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/posts/"), ("GET", "/posts/1"), ("GET", "/users/me"), ("POST", "/posts/")]
)
async def test_a_refused_token_costs_no_statement(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, kind: str, method: str, path: str
) -> None:
    headers = bearer(REFUSED_TOKENS[kind](alice))

    with recorded_statements(app.state.database) as statements:
        response = await client.request(method, path, json={"title": "t", "content": "c"}, headers=headers)

    assert response.status_code == 401, response.text
    assert response.json() == INVALID_TOKEN
    assert statements == []


async def test_a_missing_token_costs_no_statement(client: httpx.AsyncClient, app: FastAPI) -> None:
    with recorded_statements(app.state.database) as statements:
        response = await client.get("/posts/")

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert statements == []


async def test_a_read_that_finds_rows_costs_one_statement(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_post: MakePost
) -> None:
    await make_post(alice)
    await client.get("/posts/", headers=alice.headers)  # warm up: connections opened, dialect initialised

    with recorded_statements(app.state.database) as statements:
        response = await client.get("/posts/", headers=alice.headers)

    assert response.status_code == 200
    assert len(statements) == 1, statements
