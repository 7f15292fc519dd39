"""The Posts section of CONTRACT.md, line by line, on SQLite and on PostgreSQL."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from postboard.db import recorded_statements
from postboard.posts.models import TITLE_MAX_LENGTH, PostRow
from postboard.votes.models import Vote
from tests.helpers import NOT_AUTHENTICATED, Account, MakeAccount, MakePost, count_rows, vote
from tests.path_ids import LOOSE_SPELLINGS, assert_refused_as_loose_id

POST_KEYS = {"title", "content", "published", "id", "created_at", "owner_id", "owner"}
USER_OUT_KEYS = {"id", "email", "created_at"}
NOT_AUTHORIZED = "Not authorized to perform requested action"
VALID_BODY = {"title": "A title", "content": "Some content"}
# Ids no row can have: past the 32-bit and 64-bit integer ranges, far past any range, and zero.
UNSTORABLE_IDS = [2**31, 2**63, 10**30, 0]


def engine_of(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.database.engine
    return engine


async def list_posts(client: httpx.AsyncClient, viewer: Account, **params: str | int) -> list[Any]:
    response = await client.get("/posts/", params=params, headers=viewer.headers)
    assert response.status_code == 200, response.text
    page: list[Any] = response.json()
    return page


def listed_ids(page: list[Any]) -> list[int]:
    return [item["Post"]["id"] for item in page]


def listed_titles(page: list[Any]) -> list[str]:
    return [item["Post"]["title"] for item in page]


def assert_validation_error(response: httpx.Response, location: list[str | int]) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert any(error["loc"][: len(location)] == location for error in detail), detail


# --- create ---------------------------------------------------------------------------------------


async def test_create_returns_the_post_owned_by_the_caller(client: httpx.AsyncClient, alice: Account) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        "/posts/",
        json={"title": "First post", "content": "Hello there", "published": False},
        headers=alice.headers,
    )

    assert response.status_code == 201, response.text
    post = response.json()
    assert set(post) == POST_KEYS
    assert post["title"] == "First post"
    assert post["content"] == "Hello there"
    assert post["published"] is False
    assert isinstance(post["id"], int)
    assert post["owner_id"] == alice.id
    created_at = datetime.fromisoformat(post["created_at"])
    assert created_at.utcoffset() is not None
    assert before - timedelta(minutes=1) <= created_at <= datetime.now(UTC) + timedelta(minutes=1)
    # The owner is the caller's UserOut, exactly as GET /users/{id} shows it: no password, no hash.
    assert set(post["owner"]) == USER_OUT_KEYS
    user = await client.get(f"/users/{alice.id}", headers=alice.headers)
    assert post["owner"] == user.json()
    assert datetime.fromisoformat(post["owner"]["created_at"]).utcoffset() is not None
    assert "password" not in response.text.lower()
    assert "argon2" not in response.text


async def test_create_publishes_by_default(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post("/posts/", json=VALID_BODY, headers=alice.headers)

    assert response.status_code == 201, response.text
    assert response.json()["published"] is True


async def test_create_ignores_owner_id_and_id_in_the_body(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    forced_id = 987_654_321
    response = await client.post(
        "/posts/", json={**VALID_BODY, "owner_id": bob.id, "id": forced_id}, headers=alice.headers
    )

    assert response.status_code == 201, response.text
    post = response.json()
    assert post["owner_id"] == alice.id
    assert post["owner"]["id"] == alice.id
    assert post["id"] != forced_id
    missing = await client.get(f"/posts/{forced_id}", headers=alice.headers)
    assert missing.status_code == 404
    # Bob cannot edit it: it is Alice's.
    put = await client.put(f"/posts/{post['id']}", json=VALID_BODY, headers=bob.headers)
    assert put.status_code == 403
    assert put.json() == {"detail": NOT_AUTHORIZED}


@pytest.mark.parametrize("path", ["/posts", "/posts/"])
async def test_collection_is_answered_with_and_without_trailing_slash(
    client: httpx.AsyncClient, alice: Account, path: str
) -> None:
    created = await client.post(path, json=VALID_BODY, headers=alice.headers, follow_redirects=False)
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "A title"

    listed = await client.get(path, headers=alice.headers, follow_redirects=False)
    assert listed.status_code == 200, listed.text
    assert listed.json() == [{"Post": created.json(), "votes": 0}]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"content": "no title"}, id="title-missing"),
        pytest.param({"title": "no content"}, id="content-missing"),
        pytest.param({}, id="both-missing"),
        pytest.param({"title": "", "content": "x"}, id="title-empty"),
        pytest.param({"title": " ", "content": "x"}, id="title-space"),
        pytest.param({"title": " \t\n\r ", "content": "x"}, id="title-whitespace"),
        pytest.param({"title": "\u00a0\u2003\u3000", "content": "x"}, id="title-unicode-whitespace"),
        pytest.param({"title": "x" * 301, "content": "x"}, id="title-301"),
        pytest.param({"title": "é" * 301, "content": "x"}, id="title-301-non-ascii"),
        pytest.param({"title": 123, "content": "x"}, id="title-number"),
        pytest.param({"title": None, "content": "x"}, id="title-null"),
        pytest.param({"title": "x", "content": "y" * 20_001}, id="content-20001"),
        pytest.param({"title": "x", "content": None}, id="content-null"),
        pytest.param({"title": "a\x00b", "content": "x"}, id="title-nul"),
        pytest.param({"title": "x", "content": "a\x00b"}, id="content-nul"),
        pytest.param({**VALID_BODY, "published": "true"}, id="published-string"),
        pytest.param({**VALID_BODY, "published": 1}, id="published-1"),
        pytest.param({**VALID_BODY, "published": 0}, id="published-0"),
        pytest.param({**VALID_BODY, "published": "false"}, id="published-string-false"),
        pytest.param({**VALID_BODY, "published": None}, id="published-null"),
    ],
)
async def test_create_rejects_invalid_bodies_and_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, object]
) -> None:
    response = await client.post("/posts/", json=body, headers=alice.headers)

    assert_validation_error(response, ["body"])
    assert await count_rows(app, PostRow) == 0


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(b"", {}, id="no-body"),
        pytest.param(b"{not json", {"Content-Type": "application/json"}, id="malformed-json"),
        pytest.param(b'["A title", "Some content"]', {"Content-Type": "application/json"}, id="json-list"),
    ],
)
async def test_create_rejects_a_missing_or_malformed_body(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, content: bytes, headers: dict[str, str]
) -> None:
    response = await client.post("/posts/", content=content, headers={**alice.headers, **headers})

    assert_validation_error(response, ["body"])
    assert await count_rows(app, PostRow) == 0


@pytest.mark.parametrize(
    ("title", "content"),
    [
        pytest.param("x", "", id="one-char-title-empty-content"),
        pytest.param("t" * 300, "c" * 20_000, id="longest"),
        pytest.param("é" * 300, "ü" * 20_000, id="longest-non-ascii"),
        pytest.param("  padded  ", "text", id="title-with-surrounding-space"),
    ],
)
async def test_create_accepts_boundary_lengths(
    client: httpx.AsyncClient, alice: Account, title: str, content: str
) -> None:
    response = await client.post("/posts/", json={"title": title, "content": content}, headers=alice.headers)

    assert response.status_code == 201, response.text
    read = await client.get(f"/posts/{response.json()['id']}", headers=alice.headers)
    assert read.json() == {"Post": response.json(), "votes": 0}
    assert len(read.json()["Post"]["title"]) == len(title)
    assert len(read.json()["Post"]["content"]) == len(content)


# --- list -----------------------------------------------------------------------------------------


async def test_list_is_newest_first(client: httpx.AsyncClient, alice: Account, make_post: MakePost) -> None:
    posts = [await make_post(alice, title=f"post {number}") for number in range(3)]

    page = await list_posts(client, alice)

    assert page == [{"Post": post, "votes": 0} for post in reversed(posts)]


async def test_list_orders_by_created_at_then_id(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_post: MakePost
) -> None:
    first, second, third = [await make_post(alice, title=f"post {number}") for number in range(3)]
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    async with engine_of(app).begin() as connection:
        # The oldest id gets the newest timestamp; the other two share one timestamp.
        await connection.execute(
            update(PostRow).where(PostRow.id == first["id"]).values(created_at=moment + timedelta(hours=1))
        )
        await connection.execute(
            update(PostRow).where(PostRow.id.in_([second["id"], third["id"]])).values(created_at=moment)
        )

    page = await list_posts(client, alice)

    assert listed_ids(page) == [first["id"], third["id"], second["id"]]
    assert datetime.fromisoformat(page[0]["Post"]["created_at"]) == moment + timedelta(hours=1)


async def test_list_shows_published_posts_and_only_the_callers_own_drafts(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    alice_public = await make_post(alice, title="alice public")
    alice_draft = await make_post(alice, title="alice draft", published=False)
    bob_public = await make_post(bob, title="bob public")
    bob_draft = await make_post(bob, title="bob draft", published=False)

    alice_page = await list_posts(client, alice)
    bob_page = await list_posts(client, bob)

    assert alice_page == [
        {"Post": bob_public, "votes": 0},
        {"Post": alice_draft, "votes": 0},
        {"Post": alice_public, "votes": 0},
    ]
    assert bob_page == [
        {"Post": bob_draft, "votes": 0},
        {"Post": bob_public, "votes": 0},
        {"Post": alice_public, "votes": 0},
    ]


async def test_list_pages_with_limit_and_skip(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    posts = [await make_post(alice, title=f"post {number}") for number in range(12)]
    newest_first = [post["id"] for post in reversed(posts)]

    assert listed_ids(await list_posts(client, alice)) == newest_first[:10]
    assert listed_ids(await list_posts(client, alice, skip=0)) == newest_first[:10]
    assert listed_ids(await list_posts(client, alice, skip=10)) == newest_first[10:]
    assert listed_ids(await list_posts(client, alice, limit=3, skip=2)) == newest_first[2:5]
    assert listed_ids(await list_posts(client, alice, limit=1)) == newest_first[:1]
    assert listed_ids(await list_posts(client, alice, limit=100)) == newest_first
    assert listed_ids(await list_posts(client, alice, limit=12, skip=11)) == newest_first[11:]
    assert await list_posts(client, alice, skip=12) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "-1"),
        ("limit", "abc"),
        ("limit", "1.5"),
        ("limit", ""),
        ("skip", "-1"),
        ("skip", "abc"),
        ("skip", str(2**63)),
        ("skip", str(10**30)),
    ],
)
async def test_list_rejects_limit_and_skip_out_of_range(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, name: str, value: str
) -> None:
    await make_post(alice)

    response = await client.get("/posts/", params={name: value}, headers=alice.headers)

    assert_validation_error(response, ["query", name])


@pytest.mark.parametrize("skip", [10**12, 2**63 - 1])
async def test_list_with_huge_skip_is_empty(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, skip: int
) -> None:
    await make_post(alice)

    response = await client.get("/posts/", params={"skip": skip}, headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json() == []


# --- search ---------------------------------------------------------------------------------------


async def test_search_is_a_case_insensitive_substring_of_the_title(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    await make_post(alice, title="Hello World")
    await make_post(alice, title="goodbye", content="hello in the content only")
    await make_post(bob, title="they said HELLO")
    await make_post(bob, title="hello from a draft", published=False)

    assert listed_titles(await list_posts(client, alice, search="hello")) == [
        "they said HELLO",
        "Hello World",
    ]
    assert listed_titles(await list_posts(client, alice, search="HeLLo")) == [
        "they said HELLO",
        "Hello World",
    ]
    assert listed_titles(await list_posts(client, alice, search="lo wo")) == ["Hello World"]
    assert listed_titles(await list_posts(client, alice, search="nothing like it")) == []
    assert len(await list_posts(client, alice, search="")) == 3
    # Bob's own draft matches for Bob.
    assert listed_titles(await list_posts(client, bob, search="hello")) == [
        "hello from a draft",
        "they said HELLO",
        "Hello World",
    ]


async def test_search_folds_case_beyond_ascii(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    await make_post(alice, title="Crème brûlée")
    await make_post(alice, title="ÉCOLE")

    assert listed_titles(await list_posts(client, alice, search="BRÛLÉE")) == ["Crème brûlée"]
    assert listed_titles(await list_posts(client, alice, search="école")) == ["ÉCOLE"]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("%", ["100% sure"]),
        ("0%", ["100% sure"]),
        ("%%", []),
        ("_", ["snake_case"]),
        ("e_c", ["snake_case"]),
        ("__", []),
        ("\\", ["back\\slash"]),
        ("k\\s", ["back\\slash"]),
        ("0 s", ["1000 sure"]),
    ],
)
async def test_search_matches_wildcard_characters_literally(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, search: str, expected: list[str]
) -> None:
    for title in ("100% sure", "1000 sure", "snake_case", "snakeXcase", "back\\slash", "backslash"):
        await make_post(alice, title=title)

    assert listed_titles(await list_posts(client, alice, search=search)) == expected


async def test_search_with_limit_and_skip(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    for number in range(5):
        await make_post(alice, title=f"match {number}")
        await make_post(alice, title=f"other {number}")

    page = await list_posts(client, alice, search="match", limit=2, skip=1)

    assert listed_titles(page) == ["match 3", "match 2"]


@pytest.mark.parametrize("search", ["\x00", "a\x00b"])
async def test_search_with_nul_is_rejected(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, search: str
) -> None:
    await make_post(alice)

    response = await client.get("/posts/", params={"search": search}, headers=alice.headers)

    assert_validation_error(response, ["query", "search"])


async def test_a_search_longer_than_any_title_is_refused(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    # Escaped, 25,000 underscores made a LIKE pattern past SQLite's limit: the database refused it (503)
    # when it had a title to match it against.
    await make_post(alice, title="_" * TITLE_MAX_LENGTH)

    response = await client.get("/posts/", params={"search": "_" * 25_000}, headers=alice.headers)

    assert_validation_error(response, ["query", "search"])
    assert "at most 300 characters" in response.text


@pytest.mark.parametrize("wildcards", ["_", "%", "/", "_%/"])
async def test_a_search_as_long_as_the_longest_title_matches_it_literally(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, wildcards: str
) -> None:
    # Every character is escaped, doubling the pattern: still well inside SQLite's limit.
    title = (wildcards * TITLE_MAX_LENGTH)[:TITLE_MAX_LENGTH]
    await make_post(alice, title=title)
    await make_post(alice, title="x" * TITLE_MAX_LENGTH)

    assert listed_titles(await list_posts(client, alice, search=title)) == [title]


# --- the number of statements a page costs --------------------------------------------------------


async def test_list_issues_a_fixed_number_of_statements_whatever_the_page_size(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_account: MakeAccount, make_post: MakePost
) -> None:
    async def statements_for_page(limit: int) -> tuple[list[str], list[Any]]:
        with recorded_statements(app.state.database) as statements:
            page = await list_posts(client, alice, limit=limit)
        return list(statements), page

    await make_post(alice, title="only post")
    await list_posts(client, alice)  # warm up: connections opened, dialect initialised
    small_statements, small_page = await statements_for_page(1)
    assert len(small_page) == 1

    owners = [alice, *[await make_account() for _ in range(3)]]
    posts = [await make_post(owners[number % 4], title=f"post {number}") for number in range(29)]
    expected_votes: dict[object, int] = {}
    for number, post in enumerate(posts):
        voters = owners[: number % 5]
        for voter in voters:
            await vote(client, voter, post["id"])
        expected_votes[post["id"]] = len(voters)

    large_statements, large_page = await statements_for_page(30)

    assert len(large_page) == 30
    assert {item["Post"]["id"]: item["votes"] for item in large_page[:29]} == expected_votes
    assert {item["Post"]["owner"]["id"] for item in large_page} == {owner.id for owner in owners}
    assert len(large_statements) == len(small_statements) == 1, (small_statements, large_statements)


# --- get one --------------------------------------------------------------------------------------


async def test_get_returns_the_post_with_its_vote_count(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    other = await make_post(alice, title="other")
    await vote(client, alice, post["id"])
    await vote(client, bob, post["id"])
    await vote(client, bob, other["id"])

    response = await client.get(f"/posts/{post['id']}", headers=bob.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"Post": post, "votes": 2}
    assert set(response.json()["Post"]["owner"]) == USER_OUT_KEYS


async def test_get_shows_the_callers_own_draft(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    draft = await make_post(alice, published=False)

    response = await client.get(f"/posts/{draft['id']}", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"Post": draft, "votes": 0}


async def test_get_answers_404_for_a_missing_post_and_for_another_users_draft(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    draft = await make_post(alice, published=False)
    deleted = await make_post(alice)
    assert (await client.delete(f"/posts/{deleted['id']}", headers=alice.headers)).status_code == 204

    for post_id in (draft["id"], deleted["id"], 99_999_999):
        response = await client.get(f"/posts/{post_id}", headers=bob.headers)
        assert response.status_code == 404, response.text
        assert response.json() == {"detail": f"post with id: {post_id} was not found"}


# --- replace --------------------------------------------------------------------------------------


async def test_put_replaces_the_whole_post(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    draft = await make_post(alice, title="old title", content="old content", published=False)
    await vote(client, alice, draft["id"])

    response = await client.put(
        f"/posts/{draft['id']}", json={"title": "new title", "content": "new content"}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    replaced = {**draft, "title": "new title", "content": "new content", "published": True}
    assert response.json() == replaced
    read = await client.get(f"/posts/{draft['id']}", headers=bob.headers)
    assert read.json() == {"Post": replaced, "votes": 1}

    unpublish = await client.put(
        f"/posts/{draft['id']}", json={**VALID_BODY, "published": False}, headers=alice.headers
    )
    assert unpublish.status_code == 200, unpublish.text
    assert unpublish.json() == {**draft, **VALID_BODY, "published": False}
    hidden = await client.get(f"/posts/{draft['id']}", headers=bob.headers)
    assert hidden.status_code == 404


async def test_put_ignores_owner_id_and_id_in_the_body(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)

    response = await client.put(
        f"/posts/{post['id']}",
        json={"title": "new", "content": "new", "owner_id": bob.id, "id": 987_654_321},
        headers=alice.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {**post, "title": "new", "content": "new"}


async def test_put_answers_404_for_a_missing_post_and_for_another_users_draft(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    draft = await make_post(alice, published=False)

    for post_id in (draft["id"], 99_999_999):
        response = await client.put(f"/posts/{post_id}", json=VALID_BODY, headers=bob.headers)
        assert response.status_code == 404, response.text
        assert response.json() == {"detail": f"post with id: {post_id} does not exist"}
    read = await client.get(f"/posts/{draft['id']}", headers=alice.headers)
    assert read.json() == {"Post": draft, "votes": 0}


async def test_put_by_another_user_is_forbidden_and_changes_nothing(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)

    response = await client.put(
        f"/posts/{post['id']}", json={"title": "hijacked", "content": "x"}, headers=bob.headers
    )

    assert response.status_code == 403, response.text
    assert response.json() == {"detail": NOT_AUTHORIZED}
    read = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert read.json() == {"Post": post, "votes": 0}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"content": "x"}, id="title-missing"),
        pytest.param({"title": "x"}, id="content-missing"),
        pytest.param({"title": "   ", "content": "x"}, id="title-whitespace"),
        pytest.param({"title": "x" * 301, "content": "x"}, id="title-301"),
        pytest.param({"title": "x", "content": "y" * 20_001}, id="content-20001"),
        pytest.param({"title": "a\x00", "content": "x"}, id="title-nul"),
        pytest.param({"title": "x", "content": "\x00"}, id="content-nul"),
        pytest.param({**VALID_BODY, "published": "false"}, id="published-string"),
        pytest.param({**VALID_BODY, "published": 0}, id="published-0"),
    ],
)
async def test_put_rejects_invalid_bodies_and_changes_nothing(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, body: dict[str, object]
) -> None:
    post = await make_post(alice, title="kept", content="kept", published=False)

    response = await client.put(f"/posts/{post['id']}", json=body, headers=alice.headers)

    assert_validation_error(response, ["body"])
    read = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert read.json() == {"Post": post, "votes": 0}


# --- delete ---------------------------------------------------------------------------------------


async def test_delete_removes_the_post_and_its_votes(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    kept = await make_post(alice, title="kept")
    for voter in (alice, bob):
        await vote(client, voter, post["id"])
    await vote(client, bob, kept["id"])
    assert await count_rows(app, Vote, Vote.post_id == post["id"]) == 2

    response = await client.delete(f"/posts/{post['id']}", headers=alice.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert await count_rows(app, Vote, Vote.post_id == post["id"]) == 0
    assert await count_rows(app, Vote) == 1
    read = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert read.status_code == 404
    assert await list_posts(client, alice) == [{"Post": kept, "votes": 1}]
    again = await client.delete(f"/posts/{post['id']}", headers=alice.headers)
    assert again.status_code == 404
    assert again.json() == {"detail": f"post with id: {post['id']} does not exist"}
    revote = await client.post("/vote/", json={"post_id": post["id"], "dir": 1}, headers=bob.headers)
    assert revote.status_code == 404
    assert revote.json() == {"detail": f"Post with id: {post['id']} does not exist"}


async def test_delete_answers_404_for_a_missing_post_and_for_another_users_draft(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    draft = await make_post(alice, published=False)

    for post_id in (draft["id"], 99_999_999):
        response = await client.delete(f"/posts/{post_id}", headers=bob.headers)
        assert response.status_code == 404, response.text
        assert response.json() == {"detail": f"post with id: {post_id} does not exist"}
    read = await client.get(f"/posts/{draft['id']}", headers=alice.headers)
    assert read.json() == {"Post": draft, "votes": 0}


async def test_delete_by_another_user_is_forbidden_and_deletes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice)
    await vote(client, bob, post["id"])

    response = await client.delete(f"/posts/{post['id']}", headers=bob.headers)

    assert response.status_code == 403, response.text
    assert response.json() == {"detail": NOT_AUTHORIZED}
    read = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert read.json() == {"Post": post, "votes": 1}
    assert await count_rows(app, Vote) == 1


# --- ids that no post can have --------------------------------------------------------------------


@pytest.mark.parametrize("post_id", UNSTORABLE_IDS)
async def test_unstorable_ids_are_missing_posts(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, post_id: int
) -> None:
    await make_post(alice)

    read = await client.get(f"/posts/{post_id}", headers=alice.headers)
    replace = await client.put(f"/posts/{post_id}", json=VALID_BODY, headers=alice.headers)
    delete = await client.delete(f"/posts/{post_id}", headers=alice.headers)

    assert read.status_code == 404, read.text
    assert read.json() == {"detail": f"post with id: {post_id} was not found"}
    for response in (replace, delete):
        assert response.status_code == 404, response.text
        assert response.json() == {"detail": f"post with id: {post_id} does not exist"}


@pytest.mark.parametrize("post_id", ["abc", "1.5", "1e3", "0x10", "%00", "-1"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_non_integer_ids_are_rejected(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, method: str, post_id: str
) -> None:
    post = await make_post(alice)

    response = await client.request(
        method,
        f"/posts/{post_id}",
        json=VALID_BODY if method == "PUT" else None,
        headers=alice.headers,
    )

    assert_validation_error(response, ["path", "id"])
    read = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert read.json() == {"Post": post, "votes": 0}


@pytest.mark.parametrize("spelling", LOOSE_SPELLINGS.values(), ids=LOOSE_SPELLINGS.keys())
async def test_another_spelling_of_an_existing_id_reaches_no_post(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, spelling: Callable[[str], str]
) -> None:
    """A proxy rule written for /posts/<id> must cover every path that reads, changes or deletes that post."""
    post = await make_post(alice)
    path = f"/posts/{spelling(str(post['id']))}"

    read = await client.get(path, headers=alice.headers)
    replace = await client.put(path, json={"title": "changed", "content": "changed"}, headers=alice.headers)
    delete = await client.delete(path, headers=alice.headers)

    for response in (read, replace, delete):
        assert_refused_as_loose_id(response)
    unchanged = await client.get(f"/posts/{post['id']}", headers=alice.headers)
    assert unchanged.json() == {"Post": post, "votes": 0}


# --- failures write nothing -----------------------------------------------------------------------


async def test_failed_requests_leave_nothing_written(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post = await make_post(alice, title="original", content="original")
    draft = await make_post(alice, title="draft", published=False)
    await vote(client, alice, post["id"])
    before = await list_posts(client, alice)

    failures = [
        await client.post("/posts/", json={"title": " ", "content": "x"}, headers=bob.headers),
        await client.post("/posts/", json={"title": "x", "content": "y" * 20_001}, headers=bob.headers),
        await client.put(f"/posts/{post['id']}", json={"title": "x"}, headers=alice.headers),
        await client.put(f"/posts/{post['id']}", json=VALID_BODY, headers=bob.headers),
        await client.put(f"/posts/{draft['id']}", json=VALID_BODY, headers=bob.headers),
        await client.delete(f"/posts/{post['id']}", headers=bob.headers),
        await client.delete(f"/posts/{draft['id']}", headers=bob.headers),
        await client.post("/vote/", json={"post_id": draft["id"], "dir": 1}, headers=bob.headers),
        await client.post("/vote/", json={"post_id": post["id"], "dir": 1}, headers=alice.headers),
        await client.post("/vote/", json={"post_id": post["id"], "dir": 0}, headers=bob.headers),
        await client.post("/posts/", json=VALID_BODY),
    ]

    assert [response.status_code for response in failures] == [
        422,
        422,
        422,
        403,
        404,
        403,
        404,
        404,
        409,
        404,
        401,
    ]
    assert await list_posts(client, alice) == before
    assert await list_posts(client, bob) == [item for item in before if item["Post"]["id"] != draft["id"]]
    assert await count_rows(app, PostRow) == 2
    assert await count_rows(app, Vote) == 1


# --- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/posts/"),
        ("GET", "/posts"),
        ("POST", "/posts/"),
        ("POST", "/posts"),
        ("GET", "/posts/1"),
        ("PUT", "/posts/1"),
        ("DELETE", "/posts/1"),
    ],
)
async def test_routes_need_a_bearer_token(
    client: httpx.AsyncClient, app: FastAPI, method: str, path: str
) -> None:
    response = await client.request(
        method, path, json=VALID_BODY if method in ("POST", "PUT") else None, follow_redirects=False
    )

    assert response.status_code == 401, response.text
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await count_rows(app, PostRow) == 0
