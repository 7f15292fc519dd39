"""Malformed requests get a clear 4xx, never a 5xx, and their error bodies are valid JSON."""

import json

import httpx
import pytest

from tests.helpers import NOT_AUTHENTICATED, Account

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}

# (method, path, raw body, content headers, whether the caller's token is sent, expected status)
CASES = [
    ("POST", "/posts/", b'{"title": "\\ud800", "content": "x"}', JSON, True, 422),
    ("POST", "/posts/", b'{"title": "ok", "content": "a\\u0000b"}', JSON, True, 422),
    ("POST", "/posts/", b'{"title": 1e400, "content": "x"}', JSON, True, 422),
    ("POST", "/posts/", b"title=x&content=y", {"content-type": "text/plain"}, True, 422),
    ("POST", "/posts/", b"[1, 2]", JSON, True, 422),
    ("POST", "/posts/", b"[" * 100_000, JSON, True, 400),
    ("PUT", "/posts/1", b"null", JSON, True, 422),
    ("POST", "/users/", b'{"email": "a\\ud800@example.com", "password": "password1"}', JSON, False, 422),
    ("POST", "/users/", b'{"email": "ab@example.com", "password": "pass\\ud800word1"}', JSON, False, 422),
    ("POST", "/users/", b'{"email": "ab@example.com", "password": 12345678}', JSON, False, 422),
    ("POST", "/vote/", b'{"post_id": 1e400, "dir": 1}', JSON, True, 422),
    ("POST", "/vote/", b'{"post_id": 99999999999999999999999999999999999, "dir": 1}', JSON, True, 404),
    ("POST", "/login", b"username=a%00b&password=x", FORM, False, 422),
    ("POST", "/login", b"username=%ff%fe&password=%ed%a0%80", FORM, False, 403),
    ("POST", "/login", b'{"username": "a@example.com", "password": "x"}', JSON, False, 422),
    ("GET", "/posts/?search=%ff%00", b"", {}, True, 422),
    ("GET", "/posts/?limit=1e3", b"", {}, True, 422),
    ("GET", "/posts/?skip=9223372036854775808", b"", {}, True, 422),
    ("GET", "/users/-5", b"", {}, True, 422),
    ("GET", "/users/99999999999999999999999999999999999", b"", {}, True, 404),
    ("DELETE", "/posts/1_0", b"", {}, True, 422),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "authenticated", "expected"), CASES)
async def test_malformed_request_is_refused_with_4xx(
    client: httpx.AsyncClient,
    alice: Account,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    authenticated: bool,
    expected: int,
) -> None:
    if authenticated:
        headers = {**headers, **alice.headers}
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == expected, response.text
    # Strict JSON: Python's json module would accept NaN and Infinity, which other clients refuse.
    json.loads(response.text, parse_constant=lambda name: pytest.fail(f"{name} in {response.text}"))


async def test_refused_password_is_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/", json={"email": "not-an-email", "password": "hunter2"})
    assert response.status_code == 422
    assert "hunter2" not in response.text
    refused = {tuple(error["loc"]) for error in response.json()["detail"]}
    assert refused == {("body", "email"), ("body", "password")}


async def test_undecodable_body_is_400_after_authentication(
    client: httpx.AsyncClient, alice: Account
) -> None:
    not_utf8 = b'{"title": "\xff\xfe", "content": "x"}'
    anonymous = await client.post("/posts/", content=not_utf8, headers=JSON)
    assert anonymous.status_code == 401
    assert anonymous.json() == NOT_AUTHENTICATED
    authenticated = await client.post("/posts/", content=not_utf8, headers={**JSON, **alice.headers})
    assert authenticated.status_code == 400
    assert authenticated.json() == {"detail": "There was an error parsing the body"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/posts/", "GET, POST"),
        ("PATCH", "/posts/1", "DELETE, GET, PUT"),
        ("GET", "/vote/", "POST"),
    ],
)
async def test_wrong_method_names_every_allowed_method(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
