"""Keyset pagination of GET /posts/: `before`, and the Link header that names each full page's next one."""

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from postboard.posts.models import PostRow
from tests.helpers import Account, MakePost

NEXT_LINK = re.compile(r'<([^>]+)>; rel="next"')


def next_page_url(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = NEXT_LINK.fullmatch(link)
    assert match is not None, link
    return match[1]


async def get_page(client: httpx.AsyncClient, viewer: Account, url: str) -> tuple[list[int], str | None]:
    response = await client.get(url, headers=viewer.headers)
    assert response.status_code == 200, response.text
    return [item["Post"]["id"] for item in response.json()], next_page_url(response)


async def follow_links(client: httpx.AsyncClient, viewer: Account, first_url: str) -> list[list[int]]:
    pages = []
    url: str | None = first_url
    while url is not None:
        ids, url = await get_page(client, viewer, url)
        pages.append(ids)
        assert len(pages) < 100, "the links never end"
    return pages


async def test_following_the_links_lists_every_visible_post_once_newest_first(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_post: MakePost
) -> None:
    posts = [await make_post(alice, title=f"post {number}") for number in range(23)]
    await make_post(bob, title="bob's draft", published=False)
    own_draft = await make_post(alice, title="alice's draft", published=False)
    newest_first = [own_draft["id"], *(post["id"] for post in reversed(posts))]

    pages = await follow_links(client, alice, "/posts/?limit=10")

    assert [len(page) for page in pages] == [10, 10, 4]
    assert [post_id for page in pages for post_id in page] == newest_first


async def test_a_page_that_is_not_full_names_no_next_page(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    for number in range(3):
        await make_post(alice, title=f"post {number}")

    ids, next_url = await get_page(client, alice, "/posts/?limit=4")

    assert len(ids) == 3
    assert next_url is None


async def test_the_next_page_starts_after_the_last_post_seen_while_posts_come_and_go(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    posts = [await make_post(alice, title=f"post {number}") for number in range(8)]
    first_page, next_url = await get_page(client, alice, "/posts/?limit=3")
    assert first_page == [posts[7]["id"], posts[6]["id"], posts[5]["id"]]
    assert next_url is not None

    # Newer posts arrive, and the post that would have come next is deleted.
    for number in range(5):
        await make_post(alice, title=f"newer {number}")
    deleted = await client.delete(f"/posts/{posts[4]['id']}", headers=alice.headers)
    assert deleted.status_code == 204

    second_page, _ = await get_page(client, alice, next_url)

    assert second_page == [posts[3]["id"], posts[2]["id"], posts[1]["id"]]


async def test_posts_created_at_the_same_moment_are_paged_by_id(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, make_post: MakePost
) -> None:
    posts = [await make_post(alice, title=f"post {number}") for number in range(7)]
    async with app.state.database.engine.begin() as connection:
        await connection.execute(update(PostRow).values(created_at=datetime(2030, 1, 1, tzinfo=UTC)))

    pages = await follow_links(client, alice, "/posts/?limit=2")

    assert [post_id for page in pages for post_id in page] == [post["id"] for post in reversed(posts)]


async def test_the_link_keeps_limit_and_search_and_drops_skip(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    for number in range(6):
        await make_post(alice, title=f"match {number}")
        await make_post(alice, title=f"other {number}")

    ids, next_url = await get_page(client, alice, "/posts/?limit=2&skip=1&search=match")
    assert next_url is not None
    following, _ = await get_page(client, alice, next_url)

    url = urlsplit(next_url)
    query = parse_qs(url.query)
    assert url.path == "/posts/"
    assert query["limit"] == ["2"]
    assert query["search"] == ["match"]
    assert "skip" not in query
    assert len(query["before"]) == 1
    titles_in_order = [f"match {number}" for number in range(5, -1, -1)]
    assert await titles(client, alice, ids + following) == titles_in_order[1:5]


async def titles(client: httpx.AsyncClient, viewer: Account, ids: list[int]) -> list[str]:
    found = []
    for post_id in ids:
        response = await client.get(f"/posts/{post_id}", headers=viewer.headers)
        found.append(response.json()["Post"]["title"])
    return found


async def test_skip_counts_from_the_cursor(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    posts = [await make_post(alice, title=f"post {number}") for number in range(6)]
    _, next_url = await get_page(client, alice, "/posts/?limit=2")
    assert next_url is not None

    ids, _ = await get_page(client, alice, next_url + "&skip=1")

    assert ids == [posts[2]["id"], posts[1]["id"]]


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "",
        "1",
        "1_",
        "_1",
        "-1_1",
        "1_-1",
        "1.5_1",
        " 1_1",
        "1_1 ",
        "1234567890123456789_1",  # more digits than a microsecond count of any datetime
        "999999999999999999_1",  # past the year 9999
        "1_2147483648",  # past the largest id
        "1_1_1",
    ],
)
async def test_a_cursor_this_api_never_made_is_a_422(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost, cursor: str
) -> None:
    await make_post(alice)

    response = await client.get("/posts/", params={"before": cursor}, headers=alice.headers)

    assert response.status_code == 422, response.text
    errors: list[dict[str, Any]] = response.json()["detail"]
    assert any(error["loc"] == ["query", "before"] for error in errors), errors
    assert "cursor from the Link header" in response.text


async def test_a_cursor_before_every_post_gives_an_empty_page(
    client: httpx.AsyncClient, alice: Account, make_post: MakePost
) -> None:
    await make_post(alice)

    ids, next_url = await get_page(client, alice, "/posts/?before=0_1")

    assert ids == []
    assert next_url is None
