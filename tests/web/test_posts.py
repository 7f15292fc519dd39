"""The web app's post pages: the feed, a post's page, writing, editing, deleting, drafts and votes, each
through the same services as the API, with errors told in the page."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from postboard.db import recorded_statements
from postboard.posts import service as posts_service
from postboard.posts.models import TITLE_MAX_LENGTH
from postboard.reads import DatabaseUnavailable
from tests.helpers import fresh_email, in_process_client
from tests.web.browser import WEB, csrf_token, signed_in, submit, write_post

XSS = "<script>alert(1)</script>"
WEB_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture
async def other(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser, signed in as another person."""
    async with in_process_client(app) as browser:
        await signed_in(browser, fresh_email("other"))
        yield browser


async def vote(client: httpx.AsyncClient, post_id: int, direction: int) -> httpx.Response:
    page = await client.get(f"{WEB}/posts/{post_id}")
    return await client.post(
        f"{WEB}/posts/{post_id}/vote",
        data={"csrf_token": csrf_token(page), "dir": str(direction), "back": f"{WEB}/posts/{post_id}"},
    )


async def test_pages_carry_the_web_apps_policy_and_are_not_cached(client: httpx.AsyncClient) -> None:
    login = await client.get(f"{WEB}/login")
    assert login.headers["content-security-policy"] == WEB_CONTENT_SECURITY_POLICY
    assert login.headers["cache-control"] == "no-store"
    assert login.headers["x-frame-options"] == "DENY"
    assert re.findall(r"<script[^>]*>", login.text) == [f'<script src="{WEB}/static/vote.js" defer>']
    assert f'<script src="{WEB}/static/vote.js" defer></script>' in login.text
    assert "style=" not in login.text
    stylesheet = await client.get(f"{WEB}/static/web.css")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")
    # The API keeps its own.
    assert (await client.get("/")).headers[
        "content-security-policy"
    ] == "default-src 'none'; frame-ancestors 'none'"


async def test_a_title_with_markup_is_escaped_in_the_feed_and_its_page(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, XSS, content=f"<img src=x onerror=alert(2)> {XSS}")
    for page in (f"{WEB}/", f"{WEB}/posts/{post_id}"):
        response = await client.get(page)
        assert response.status_code == 200
        assert XSS not in response.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        assert "<img src=x" not in response.text


async def test_the_feed_shows_published_posts_newest_first(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    author = fresh_email("author")
    await signed_in(client, author)
    await write_post(client, "The older post")
    await write_post(client, "The newer post")
    feed = await other.get(f"{WEB}/")
    assert feed.text.index("The newer post") < feed.text.index("The older post")
    assert f"by {author}" in feed.text
    assert "0 votes" in feed.text
    assert "<time datetime=" in feed.text


async def test_the_feed_pages_and_searches(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    for number in range(12):
        await write_post(client, f"Post number {number:02}" + (" about cats" if number % 4 == 0 else ""))
    first = await client.get(f"{WEB}/")
    assert first.text.count("<article") == 10
    assert "Post number 11" in first.text
    assert "Post number 01" not in first.text
    assert f'href="{WEB}/?page=2"' in first.text
    assert 'rel="prev"' not in first.text
    second = await client.get(f"{WEB}/?page=2")
    assert second.text.count("<article") == 2
    assert "Post number 01" in second.text
    assert "Post number 00" in second.text
    assert f'href="{WEB}/?page=1"' in second.text
    assert 'rel="next"' not in second.text
    cats = await client.get(f"{WEB}/", params={"search": "CATS"})
    assert cats.text.count("<article") == 3
    assert "No post title matches your search." in (await client.get(f"{WEB}/?search=dogs")).text


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "page=100001", f"search={'x' * (TITLE_MAX_LENGTH + 1)}"]
)
async def test_a_bad_feed_address_is_a_400_page(client: httpx.AsyncClient, query: str) -> None:
    await signed_in(client, fresh_email())
    response = await client.get(f"{WEB}/?{query}")
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "This address is not one the app understands." in response.text


async def test_a_missing_post_is_a_404_page(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    for post_id in ("999999", "99999999999999999999"):
        response = await client.get(f"{WEB}/posts/{post_id}")
        assert response.status_code == 404
        assert "text/html" in response.headers["content-type"]
        assert f"post with id: {post_id} was not found" in response.text
    assert (await client.get(f"{WEB}/posts/abc")).status_code == 400


async def test_a_draft_is_seen_by_its_author_alone(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await signed_in(client, fresh_email())
    draft_id = await write_post(client, "My secret draft", publish=False)
    drafts = await client.get(f"{WEB}/drafts")
    assert "My secret draft" in drafts.text
    assert "Draft" in (await client.get(f"{WEB}/posts/{draft_id}")).text
    assert "My secret draft" not in (await other.get(f"{WEB}/")).text
    assert "My secret draft" not in (await other.get(f"{WEB}/drafts")).text
    assert (await other.get(f"{WEB}/posts/{draft_id}")).status_code == 404


async def test_an_invalid_post_is_told_with_the_form_kept(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    long_title = "T" * (TITLE_MAX_LENGTH + 1)
    response = await submit(
        client,
        f"{WEB}/posts/new",
        f"{WEB}/posts/new",
        title=long_title,
        content="<b>kept</b>",
        published="on",
    )
    assert response.status_code == 422
    assert f"Title must be at most {TITLE_MAX_LENGTH} characters long." in response.text
    assert f'value="{long_title}"' in response.text
    assert "&lt;b&gt;kept&lt;/b&gt;</textarea>" in response.text
    blank = await submit(client, f"{WEB}/posts/new", f"{WEB}/posts/new", title="   ", content="")
    assert blank.status_code == 422
    assert "Title must contain a character that is not white space." in blank.text
    assert "<article" not in (await client.get(f"{WEB}/")).text


async def test_an_author_edits_their_post(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Before")
    form = await client.get(f"{WEB}/posts/{post_id}/edit")
    assert 'value="Before"' in form.text
    response = await client.post(
        f"{WEB}/posts/{post_id}/edit",
        data={"csrf_token": csrf_token(form), "title": "After", "content": "new"},
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "After" in page.text
    assert "Draft" in page.text


async def test_nobody_edits_or_deletes_anothers_post(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Mine")
    assert 'href="/web/posts/' not in (await other.get(f"{WEB}/posts/{post_id}")).text.split("</h1>")[1]
    for page in ("edit", "delete"):
        assert (await other.get(f"{WEB}/posts/{post_id}/{page}")).status_code == 403
    token = csrf_token(await other.get(f"{WEB}/"))
    edit = await other.post(f"{WEB}/posts/{post_id}/edit", data={"csrf_token": token, "title": "Theirs"})
    assert edit.status_code == 403
    assert "Not authorized to perform requested action" in edit.text
    delete = await other.post(f"{WEB}/posts/{post_id}/delete", data={"csrf_token": token})
    assert delete.status_code == 403
    assert "Mine" in (await client.get(f"{WEB}/posts/{post_id}")).text


async def test_deleting_asks_for_confirmation(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Short-lived")
    confirmation = await client.get(f"{WEB}/posts/{post_id}/delete")
    assert "Delete the post?" in confirmation.text
    assert (await client.get(f"{WEB}/posts/{post_id}")).status_code == 200  # asking deleted nothing
    response = await client.post(
        f"{WEB}/posts/{post_id}/delete", data={"csrf_token": csrf_token(confirmation)}
    )
    assert response.headers["location"] == f"{WEB}/?notice=deleted"
    assert "The post was deleted." in (await client.get(response.headers["location"])).text
    assert (await client.get(f"{WEB}/posts/{post_id}")).status_code == 404
    again = await client.post(f"{WEB}/posts/{post_id}/delete", data={"csrf_token": csrf_token(confirmation)})
    assert again.status_code == 404
    assert f"post with id: {post_id} does not exist" in again.text


async def test_a_vote_and_its_taking_back(client: httpx.AsyncClient, other: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Vote for me")
    added = await vote(other, post_id, 1)
    assert added.status_code == 303
    assert added.headers["location"] == f"{WEB}/posts/{post_id}"
    page = await other.get(f"{WEB}/posts/{post_id}")
    assert "1 vote<" in page.text
    assert "Take back my vote" in page.text
    assert "1 vote<" in (await client.get(f"{WEB}/")).text  # the author sees the count, not voted
    assert (await vote(other, post_id, 1)).status_code == 303  # a second click changes nothing
    assert "1 vote<" in (await other.get(f"{WEB}/posts/{post_id}")).text
    assert (await vote(other, post_id, 0)).status_code == 303
    page = await other.get(f"{WEB}/posts/{post_id}")
    assert "0 votes" in page.text
    assert ">Vote</button>" in page.text


async def test_a_vote_on_a_missing_post_is_a_404_page(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    token = csrf_token(await client.get(f"{WEB}/"))
    response = await client.post(f"{WEB}/posts/424242/vote", data={"csrf_token": token, "dir": "1"})
    assert response.status_code == 404
    assert "Post with id: 424242 does not exist" in response.text


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/", "/posts/", "/web\\@evil"])
async def test_a_vote_never_sends_the_browser_elsewhere(client: httpx.AsyncClient, back: str) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Stay here")
    token = csrf_token(await client.get(f"{WEB}/"))
    response = await client.post(
        f"{WEB}/posts/{post_id}/vote", data={"csrf_token": token, "dir": "1", "back": back}
    )
    assert response.headers["location"] == f"{WEB}/posts/{post_id}"


async def test_a_feed_page_is_one_statement(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The listing of `GET /posts/` with the caller's votes folded in: ten posts, one query, as the API's."""
    await signed_in(client, fresh_email())
    for number in range(10):
        await write_post(client, f"Post {number}")
    with recorded_statements(app.state.database) as statements:
        feed = await client.get(f"{WEB}/")
    assert feed.text.count("<article") == 10
    assert len(statements) == 1, statements


async def test_an_unknown_web_address_is_a_page_and_the_apis_stay_json(client: httpx.AsyncClient) -> None:
    for path in (f"{WEB}/nowhere", f"{WEB}/static/missing.css", f"{WEB}/posts/1/nothing"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "There is no such page." in response.text
    wrong_method = await client.delete(f"{WEB}/login")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, POST"
    assert "text/html" in wrong_method.headers["content-type"]
    assert (await client.get("/nowhere")).json() == {"detail": "Not Found"}
    assert (await client.delete("/login")).json() == {"detail": "Method Not Allowed"}


async def test_the_vote_script_gets_the_count_as_json(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    """static/vote.js posts the same form asking for JSON, and updates the page with the answer."""
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Vote without a reload")
    page = await other.get(f"{WEB}/")
    assert f'<script src="{WEB}/static/vote.js" defer></script>' in page.text
    fields = {"csrf_token": csrf_token(page), "back": f"{WEB}/"}
    json_please = {"Accept": "application/json"}
    added = await other.post(f"{WEB}/posts/{post_id}/vote", data={**fields, "dir": "1"}, headers=json_please)
    assert added.status_code == 200
    assert added.json() == {"votes": 1, "voted": True}
    again = await other.post(f"{WEB}/posts/{post_id}/vote", data={**fields, "dir": "1"}, headers=json_please)
    assert again.json() == {"votes": 1, "voted": True}
    taken_back = await other.post(
        f"{WEB}/posts/{post_id}/vote", data={**fields, "dir": "0"}, headers=json_please
    )
    assert taken_back.json() == {"votes": 0, "voted": False}
    no_token = await other.post(f"{WEB}/posts/{post_id}/vote", data={"dir": "1"}, headers=json_please)
    assert no_token.status_code == 403
    script = await client.get(f"{WEB}/static/vote.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]


async def test_an_outage_and_a_bug_are_pages_too(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await signed_in(client, fresh_email())

    async def unreachable(*_arguments: object, **_options: object) -> None:
        raise DatabaseUnavailable("no route to host")

    monkeypatch.setattr(posts_service, "list_posts", unreachable)
    outage = await client.get(f"{WEB}/")
    assert outage.status_code == 503
    assert outage.headers["retry-after"] == "5"
    assert "text/html" in outage.headers["content-type"]
    assert "The database is unavailable, try again shortly" in outage.text
    assert (
        await client.get("/posts/", headers={"Authorization": "Bearer x"})
    ).status_code == 401  # API as is

    async def broken(*_arguments: object, **_options: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(posts_service, "list_posts", broken)
    async with in_process_client(app, raise_app_exceptions=False) as browser:
        browser.cookies = client.cookies
        bug = await browser.get(f"{WEB}/")
    assert bug.status_code == 500
    assert "text/html" in bug.headers["content-type"]
    assert f"Internal Server Error (request {bug.headers['x-request-id']})" in bug.text
    assert bug.headers["content-security-policy"] == WEB_CONTENT_SECURITY_POLICY
