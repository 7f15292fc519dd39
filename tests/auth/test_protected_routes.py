"""Contract "Authentication of protected routes": every route that needs a bearer token refuses alike."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.forged_tokens import (
    OTHER_KEY,
    hand_signed,
    live_claims,
    tampered_payload,
    tampered_signature,
    unsigned,
)
from tests.helpers import (
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    Account,
    MakeAccount,
    MakePost,
    bearer,
)

POST_BODY = {"title": "A title", "content": "Some content"}


@dataclass(frozen=True)
class Route:
    method: str
    # "{post}" and "{user}" are filled with the ids of a real post and user, so that a route that skipped
    # authentication would answer 2xx rather than 404.
    path: str
    body: dict[str, Any] | None = None

    def url(self, post_id: object, user_id: object) -> str:
        return self.path.format(post=post_id, user=user_id)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ROUTES = [
    Route("GET", "/posts/"),
    Route("GET", "/posts"),
    Route("POST", "/posts/", POST_BODY),
    Route("POST", "/posts", POST_BODY),
    Route("GET", "/posts/{post}"),
    Route("PUT", "/posts/{post}", POST_BODY),
    Route("POST", "/vote/", {"post_id": "{post}", "dir": 1}),
    Route("POST", "/vote", {"post_id": "{post}", "dir": 0}),
    Route("GET", "/users/{user}"),
    Route("DELETE", "/posts/{post}"),
]
BODY_ROUTES = [route for route in ROUTES if route.body is not None]


async def call(
    client: httpx.AsyncClient,
    route: Route,
    post_id: int,
    user_id: int,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = None
    if route.body is not None:
        body = {key: post_id if value == "{post}" else value for key, value in route.body.items()}
    return await client.request(
        route.method, route.url(post_id, user_id), json=body, headers=headers, follow_redirects=False
    )


# Each is a valid token for an existing user with one defect, so that only the defect can be refused.
BAD_TOKENS: dict[str, Callable[[Account], str]] = {
    "garbage": lambda _account: "garbage",
    "three-garbage-segments": lambda _account: "a.b.c",
    "truncated": lambda account: account.token[:-5],
    "signature-stripped": lambda account: account.token.rsplit(".", 1)[0] + ".",
    "tampered-payload": tampered_payload,
    "tampered-signature": tampered_signature,
    "expired": lambda account: hand_signed(
        live_claims(account, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    ),
    "alg-none": lambda account: unsigned(live_claims(account)),
    "wrong-key": lambda account: jwt.encode(live_claims(account), OTHER_KEY, algorithm="HS256"),
    "hs512": lambda account: hand_signed(live_claims(account), alg="HS512"),
    "rs256-header": lambda account: hand_signed(live_claims(account), alg="RS256"),
    "missing-user-id": lambda account: hand_signed(live_claims(account, user_id=...)),
    "missing-exp": lambda account: hand_signed(live_claims(account, exp=...)),
    "string-user-id": lambda account: hand_signed(live_claims(account, user_id=str(account.id))),
    "unknown-user": lambda account: hand_signed(live_claims(account, account.id + 10_000)),
    "huge-user-id": lambda account: hand_signed(live_claims(account, 10**30)),
    "negative-user-id": lambda account: hand_signed(live_claims(account, -1)),
}


@pytest.fixture
async def alice_post(alice: Account, make_post: MakePost) -> int:
    post_id = (await make_post(alice, published=False))["id"]
    assert isinstance(post_id, int)
    return post_id


def assert_not_authenticated(response: httpx.Response, route: Route) -> None:
    assert response.status_code == 401, f"{route}: {response.status_code} {response.text}"
    assert response.json() == NOT_AUTHENTICATED, str(route)
    assert response.headers.get("WWW-Authenticate") == "Bearer", str(route)


def assert_invalid_token(response: httpx.Response, route: Route) -> None:
    assert response.status_code == 401, f"{route}: {response.status_code} {response.text}"
    assert response.json() == INVALID_TOKEN, str(route)
    assert response.headers.get("WWW-Authenticate") == "Bearer", str(route)


async def assert_post_untouched(client: httpx.AsyncClient, alice: Account, post_id: int) -> None:
    response = await client.get(f"/posts/{post_id}", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["Post"]["title"] == "A title"
    assert response.json()["votes"] == 0


async def test_valid_token_opens_every_protected_route(
    client: httpx.AsyncClient, alice: Account, alice_post: int
) -> None:
    # The control: with alice's token each route answers 2xx (DELETE last, it removes the post).
    for route in ROUTES:
        response = await call(client, route, alice_post, alice.id, alice.headers)
        assert 200 <= response.status_code < 300, f"{route}: {response.status_code} {response.text}"


@pytest.mark.parametrize("route", ROUTES, ids=str)
async def test_no_authorization_header_answers_401_not_authenticated(
    client: httpx.AsyncClient, alice: Account, alice_post: int, route: Route
) -> None:
    response = await call(client, route, alice_post, alice.id)

    assert_not_authenticated(response, route)
    await assert_post_untouched(client, alice, alice_post)


@pytest.mark.parametrize(
    "authorization",
    ["Basic xyz", "Basic YWxpY2U6cGFzc3dvcmQ=", "Token abc", "", "Digest username=alice"],
)
async def test_other_schemes_answer_401_not_authenticated(
    client: httpx.AsyncClient, alice: Account, alice_post: int, authorization: str
) -> None:
    for route in ROUTES:
        response = await call(client, route, alice_post, alice.id, {"Authorization": authorization})
        assert_not_authenticated(response, route)
    await assert_post_untouched(client, alice, alice_post)


async def test_valid_token_under_another_scheme_answers_401_not_authenticated(
    client: httpx.AsyncClient, alice: Account, alice_post: int
) -> None:
    for route in ROUTES:
        response = await call(client, route, alice_post, alice.id, {"Authorization": f"Basic {alice.token}"})
        assert_not_authenticated(response, route)


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer ", "Bearer  "])
async def test_bearer_scheme_without_a_token_answers_401(
    client: httpx.AsyncClient, alice: Account, alice_post: int, authorization: str
) -> None:
    # Absent ("Not authenticated") or malformed ("Could not validate credentials"): the contract allows both.
    for route in ROUTES:
        response = await call(client, route, alice_post, alice.id, {"Authorization": authorization})
        assert response.status_code == 401, f"{route}: {response.status_code} {response.text}"
        assert response.json() in (NOT_AUTHENTICATED, INVALID_TOKEN), str(route)
        assert response.headers.get("WWW-Authenticate") == "Bearer", str(route)
    await assert_post_untouched(client, alice, alice_post)


async def test_a_token_built_like_the_bad_ones_but_without_a_defect_is_accepted(
    client: httpx.AsyncClient, alice: Account
) -> None:
    # The control: each bad token above is refused for its defect, not for how the test builds it.
    response = await client.get("/users/me", headers=bearer(hand_signed(live_claims(alice))))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == alice.id


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_invalid_token_answers_401_could_not_validate_credentials(
    client: httpx.AsyncClient, alice: Account, alice_post: int, kind: str
) -> None:
    headers = bearer(BAD_TOKENS[kind](alice))

    for route in ROUTES:
        response = await call(client, route, alice_post, alice.id, headers)
        assert_invalid_token(response, route)
    await assert_post_untouched(client, alice, alice_post)


async def test_token_of_a_deleted_user_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, alice_post: int, make_account: MakeAccount
) -> None:
    ghost = await make_account()
    assert (await client.get(f"/users/{ghost.id}", headers=ghost.headers)).status_code == 200
    async with app.state.database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": ghost.id})

    for route in ROUTES:
        response = await call(client, route, alice_post, alice.id, ghost.headers)
        assert_invalid_token(response, route)
    await assert_post_untouched(client, alice, alice_post)


# --- authentication comes before body validation --------------------------------------------------------


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b'{"title": "t",}', "application/json"),
        (b"{}", "application/json"),
        (b'{"title": 5, "content": [], "post_id": "x", "dir": "up"}', "application/json"),
        (b"[]", "application/json"),
        (b"title=t&content=c", "application/x-www-form-urlencoded"),
        (b"plain words", "text/plain"),
    ],
    ids=["invalid-json", "empty", "trailing-comma", "missing-fields", "wrong-types", "array", "form", "text"],
)
async def test_bad_body_without_token_answers_401_not_422(
    client: httpx.AsyncClient,
    alice: Account,
    alice_post: int,
    route: Route,
    content: bytes,
    content_type: str,
) -> None:
    url = route.url(alice_post, alice.id)
    no_token = await client.request(
        route.method, url, content=content, headers={"Content-Type": content_type}
    )
    bad_token = await client.request(
        route.method,
        url,
        content=content,
        headers={"Content-Type": content_type, **bearer(tampered_signature(alice))},
    )
    good_token = await client.request(
        route.method, url, content=content, headers={"Content-Type": content_type, **alice.headers}
    )

    assert_not_authenticated(no_token, route)
    assert_invalid_token(bad_token, route)
    assert good_token.status_code == 422, f"{route}: {good_token.status_code} {good_token.text}"


@pytest.mark.parametrize("route", BODY_ROUTES, ids=str)
async def test_invalid_json_with_token_of_deleted_user_answers_401(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Account,
    alice_post: int,
    make_account: MakeAccount,
    route: Route,
) -> None:
    ghost = await make_account()
    async with app.state.database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": ghost.id})

    response = await client.request(
        route.method,
        route.url(alice_post, alice.id),
        content=b"{not json",
        headers={"Content-Type": "application/json", **ghost.headers},
    )

    assert_invalid_token(response, route)


async def test_bad_path_parameter_without_token_is_not_a_server_error(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/posts/abc"),
        ("PUT", "/posts/abc"),
        ("DELETE", "/posts/abc"),
        ("GET", "/users/x"),
    ]:
        response = await client.request(method, path)
        assert response.status_code in (401, 422), f"{method} {path}: {response.status_code}"


# --- which routes authenticate before FastAPI reads the body ------------------------------------------------


def secured_operations_with_a_body(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation that OpenAPI says needs the bearer token and takes a body."""
    operations = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            if operation.get("security") and "requestBody" in operation:
                operations.append((method.upper(), path.replace("{id}", "1")))
    return operations


async def test_every_secured_route_refuses_a_missing_token_before_an_unreadable_body(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """AuthenticatedRoute finds the routes to authenticate first by walking FastAPI's `route.dependant`
    for the bearer scheme: if a FastAPI upgrade changes that structure, these answer 422 and this fails."""
    operations = secured_operations_with_a_body(app)
    assert len(operations) >= 6, operations  # POST/PUT/DELETE posts, vote, PATCH/PUT/DELETE me

    for method, path in operations:
        response = await client.request(
            method, path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401, (method, path, response.text)
        assert response.json() == NOT_AUTHENTICATED
