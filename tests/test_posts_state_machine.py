"""What no schema can say, checked after any sequence of creates, publishes, votes, unvotes and deletes by
several users, all through the HTTP API: a post's vote count is its number of distinct voters, and the pages
of GET /posts/, walked with `skip` or with the `Link` header's `before` cursor, are disjoint, newest first,
and together hold exactly the posts the viewer may see (every published post and the viewer's own)."""

import asyncio
import re
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule, run_state_machine_as_test
from sqlalchemy import text

from postboard.app import create_app
from tests.helpers import Account, in_process_client, log_in, make_settings, register, started

USERS = 3
# Each example is a fresh sequence of up to STEPS calls; the page walks check every viewer after each one.
EXAMPLES = 100
STEPS = 30
_NEXT = re.compile(r'<([^>]+)>; rel="next"')
T = TypeVar("T")


@dataclass
class ModelPost:
    owner: int
    published: bool
    voters: set[int] = field(default_factory=set)


@dataclass
class Api:
    """The app in-process, driven from synchronous Hypothesis rules on an event loop of its own."""

    runner: asyncio.Runner
    app: FastAPI
    client: httpx.AsyncClient
    accounts: list[Account]

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def request(self, user: int, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = self.accounts[user].headers
        return self.call(self.client.request(method, url, headers=headers, **kwargs))


@contextmanager
def api_on(database_url: str) -> Iterator[Api]:
    with asyncio.Runner() as runner:
        app_context = started(create_app(make_settings(database_url)))
        app = runner.run(app_context.__aenter__())
        client = in_process_client(app)
        try:
            accounts = [runner.run(_account(client, f"machine{n}@example.com")) for n in range(USERS)]
            yield Api(runner, app, client, accounts)
        finally:
            runner.run(client.aclose())
            runner.run(app_context.__aexit__(None, None, None))


async def _account(client: httpx.AsyncClient, email: str) -> Account:
    password = "correct horse battery"
    registered = await register(client, email, password)
    assert registered.status_code == 201, registered.text
    tokens = await log_in(client, email, password)
    return Account(registered.json()["id"], email, password, tokens.access)


def machine_for(api: Api) -> type[RuleBasedStateMachine]:
    users = st.integers(0, USERS - 1)

    class Posts(RuleBasedStateMachine):
        post_ids = Bundle("post_ids")

        def __init__(self) -> None:
            super().__init__()
            self.posts: dict[int, ModelPost] = {}

        @initialize()
        def start_empty(self) -> None:
            # Accounts stay; the posts and votes of the previous example go.
            engine = api.app.state.database.engine

            async def clear() -> None:
                async with engine.begin() as connection:
                    await connection.execute(text("DELETE FROM votes"))
                    await connection.execute(text("DELETE FROM posts"))

            api.call(clear())

        def visible(self, viewer: int, post_id: int) -> bool:
            post = self.posts.get(post_id)
            return post is not None and (post.published or post.owner == viewer)

        @rule(target=post_ids, user=users, published=st.booleans())
        def create(self, user: int, published: bool) -> int:
            body = {"title": "a post", "content": "text", "published": published}
            response = api.request(user, "POST", "/posts/", json=body)
            assert response.status_code == 201, response.text
            post_id: int = response.json()["id"]
            self.posts[post_id] = ModelPost(owner=user, published=published)
            return post_id

        @rule(user=users, post_id=post_ids, published=st.booleans())
        def publish(self, user: int, post_id: int, published: bool) -> None:
            body = {"title": "a post", "content": "changed", "published": published}
            response = api.request(user, "PUT", f"/posts/{post_id}", json=body)
            if not self.visible(user, post_id):
                assert response.status_code == 404, response.text
            elif self.posts[post_id].owner != user:
                assert response.status_code == 403, response.text
            else:
                assert response.status_code == 200, response.text
                self.posts[post_id].published = published

        @rule(user=users, post_id=post_ids)
        def vote(self, user: int, post_id: int) -> None:
            response = api.request(user, "POST", "/vote/", json={"post_id": post_id, "dir": 1})
            if not self.visible(user, post_id):
                assert response.status_code == 404, response.text
            elif user in self.posts[post_id].voters:
                assert response.status_code == 409, response.text
            else:
                assert response.status_code == 201, response.text
                self.posts[post_id].voters.add(user)

        @rule(user=users, post_id=post_ids)
        def unvote(self, user: int, post_id: int) -> None:
            response = api.request(user, "POST", "/vote/", json={"post_id": post_id, "dir": 0})
            post = self.posts.get(post_id)
            if post is not None and user in post.voters:
                # Taken back even when the post is no longer visible to the voter.
                assert response.status_code == 201, response.text
                post.voters.discard(user)
            elif self.visible(user, post_id):
                assert response.json() == {"detail": "Vote does not exist"}
            else:
                assert response.json() == {"detail": f"Post with id: {post_id} does not exist"}

        @rule(user=users, post_id=post_ids)
        def delete(self, user: int, post_id: int) -> None:
            response = api.request(user, "DELETE", f"/posts/{post_id}")
            if not self.visible(user, post_id):
                assert response.status_code == 404, response.text
            elif self.posts[post_id].owner != user:
                assert response.status_code == 403, response.text
            else:
                assert response.status_code == 204, response.text
                del self.posts[post_id]

        @rule(viewer=users, limit=st.integers(1, 4))
        def walk_with_skip(self, viewer: int, limit: int) -> None:
            pages: list[list[dict[str, Any]]] = []
            while not pages or len(pages[-1]) == limit:
                query = {"limit": limit, "skip": limit * len(pages)}
                response = api.request(viewer, "GET", "/posts/", params=query)
                assert response.status_code == 200, response.text
                pages.append(response.json())
            self.check_pages(viewer, pages)

        @rule(viewer=users, limit=st.integers(1, 4))
        def walk_with_cursor(self, viewer: int, limit: int) -> None:
            pages: list[list[dict[str, Any]]] = []
            url: str | None = f"/posts/?limit={limit}"
            while url is not None:
                response = api.request(viewer, "GET", url)
                assert response.status_code == 200, response.text
                pages.append(response.json())
                following = _NEXT.fullmatch(response.headers.get("link", ""))
                # A full page names the next one, and only a full page does.
                assert (following is not None) == (len(pages[-1]) == limit), response.headers
                url = following.group(1) if following else None
            self.check_pages(viewer, pages)

        @rule(viewer=users, post_id=post_ids)
        def read(self, viewer: int, post_id: int) -> None:
            response = api.request(viewer, "GET", f"/posts/{post_id}")
            if not self.visible(viewer, post_id):
                assert response.status_code == 404, response.text
            else:
                assert response.status_code == 200, response.text
                assert response.json()["votes"] == len(self.posts[post_id].voters)

        def check_pages(self, viewer: int, pages: list[list[dict[str, Any]]]) -> None:
            listed = [entry for page in pages for entry in page]
            ids = [entry["Post"]["id"] for entry in listed]
            assert len(ids) == len(set(ids)), f"pages overlap: {pages}"
            assert set(ids) == {post_id for post_id in self.posts if self.visible(viewer, post_id)}
            order = [
                (datetime.fromisoformat(entry["Post"]["created_at"]), entry["Post"]["id"]) for entry in listed
            ]
            assert order == sorted(order, reverse=True), "not newest first"
            for entry in listed:
                post = self.posts[entry["Post"]["id"]]
                assert entry["votes"] == len(post.voters), entry
                assert entry["Post"]["published"] == post.published, entry
                assert entry["Post"]["owner_id"] == api.accounts[post.owner].id, entry

    return Posts


def test_votes_and_pages_stay_true_under_any_sequence(database_url: str) -> None:
    # Synchronous: Hypothesis' rules are, so the app runs on an event loop of the test's own.
    with api_on(database_url) as api:
        run_state_machine_as_test(
            machine_for(api),
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
