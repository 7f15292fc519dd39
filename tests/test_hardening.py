"""HTTP hardening: security headers, Cache-Control on authenticated answers, the body size cap, and CORS."""

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from postboard.app import create_app
from postboard.auth.models import LoginSession
from postboard.posts.models import PostRow
from postboard.users.models import User
from tests.helpers import (
    DEFAULT_PASSWORD,
    Account,
    body_too_large,
    count_rows,
    fresh_email,
    in_process_client,
    make_settings,
    running_app,
)

DEFAULT_LIMIT = 1024 * 1024
SMALL_LIMIT = 1000
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
APP_ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
BAD_TOKEN = {"Authorization": "Bearer not-a-token"}
SendRequest = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def padded(body: bytes, size: int) -> bytes:
    """The JSON `body` padded to exactly `size` bytes: whitespace after the object is still JSON."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


def padded_registration(email: str, size: int) -> bytes:
    """A valid registration as JSON of exactly `size` bytes."""
    return padded(f'{{"email": "{email}", "password": "{DEFAULT_PASSWORD}"}}'.encode(), size)


def assert_security_headers(response: httpx.Response) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers
    assert response.headers.get("referrer-policy") == "no-referrer", response.headers
    assert response.headers.get("x-frame-options") == "DENY", response.headers


def assert_no_credentials(response: httpx.Response) -> None:
    # Tokens travel in the Authorization header, so no origin may ever be told to send cookies.
    assert response.headers.get("access-control-allow-credentials") != "true", response.headers


@pytest.fixture
async def small(database_url: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(database_url, max_request_body_bytes=SMALL_LIMIT) as served:
        yield served


# --- security headers -----------------------------------------------------------------------------------


async def _root(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/")


async def _register(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/users/", json={"email": fresh_email(), "password": DEFAULT_PASSWORD})


async def _unauthenticated(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/users/me")


async def _unknown_path(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/no-such-page")


async def _wrong_method(client: httpx.AsyncClient) -> httpx.Response:
    return await client.delete("/")


async def _invalid_body(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/users/", json={"email": "not an email"})


@pytest.mark.parametrize(
    ("request_", "status"),
    [
        (_root, 200),
        (_register, 201),
        (_unauthenticated, 401),
        (_unknown_path, 404),
        (_wrong_method, 405),
        (_invalid_body, 422),
    ],
    ids=["200", "201", "401", "404", "405", "422"],
)
async def test_every_kind_of_answer_carries_the_security_headers(
    client: httpx.AsyncClient, request_: SendRequest, status: int
) -> None:
    response = await request_(client)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_security_headers(response)
    assert response.headers.get("content-security-policy") == API_CONTENT_SECURITY_POLICY


async def test_a_413_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.post("/users/", content=b" " * (DEFAULT_LIMIT + 1))

    assert response.status_code == 413
    assert_security_headers(response)
    assert response.headers.get("content-security-policy") == API_CONTENT_SECURITY_POLICY


async def test_a_500_carries_the_security_headers(database_url: str) -> None:
    application = create_app(make_settings(database_url))

    @application.get("/boom")
    async def boom() -> None:
        raise RuntimeError("an unexpected failure")

    # ServerErrorMiddleware answers 500, then re-raises for the server to log; the transport must not.
    async with in_process_client(application, raise_app_exceptions=False) as client:
        response = await client.get("/boom")

    assert response.status_code == 500
    assert_security_headers(response)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages_load_only_our_own_files_and_keep_nosniff(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = dict(
        directive.split(" ", 1) for directive in response.headers["content-security-policy"].split("; ")
    )
    # Scripts and the requests they send come from Postboard alone; tests/test_docs_in_browser.py shows
    # that the pages work under this policy.
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    assert policy["frame-ancestors"] == "'none'"
    assert_security_headers(response)


async def test_only_redoc_may_use_inline_styles_and_a_blob_worker(client: httpx.AsyncClient) -> None:
    swagger_ui = (await client.get("/docs")).headers["content-security-policy"]
    redoc = (await client.get("/redoc")).headers["content-security-policy"]

    assert "style-src 'self';" in swagger_ui
    assert "worker-src" not in swagger_ui
    assert "style-src 'self' 'unsafe-inline'" in redoc
    assert "worker-src blob:" in redoc


async def test_the_openapi_document_is_data_and_gets_the_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers.get("content-security-policy") == API_CONTENT_SECURITY_POLICY


# --- Cache-Control --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/posts/", "/users/me"])
async def test_answers_to_authenticated_requests_are_not_stored(
    client: httpx.AsyncClient, alice: Account, path: str
) -> None:
    response = await client.get(path, headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.headers.get("cache-control") == "no-store"


async def test_a_401_to_a_bad_token_is_not_stored_either(client: httpx.AsyncClient) -> None:
    response = await client.get("/users/me", headers=BAD_TOKEN)

    assert response.status_code == 401
    assert response.headers.get("cache-control") == "no-store"
    assert_security_headers(response)


async def test_anonymous_answers_leave_caching_alone(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert "cache-control" not in response.headers


async def test_tokens_from_login_and_refresh_are_not_stored(
    client: httpx.AsyncClient, alice: Account
) -> None:
    login = await client.post("/login", data={"username": alice.email, "password": alice.password})
    assert login.status_code == 200, login.text
    assert login.headers.get("cache-control") == "no-store"

    refreshed = await client.post("/token/refresh", json={"refresh_token": login.json()["refresh_token"]})

    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.headers.get("cache-control") == "no-store"
    assert refreshed.headers.get("pragma") == "no-cache"


# --- body size cap --------------------------------------------------------------------------------------


# A valid post; the default limit is tried on a route that takes it (anonymous ones take 16 KiB at most).
NEW_POST = b'{"title": "padded", "content": "a post"}'


async def test_a_body_one_byte_over_the_default_limit_answers_413(
    app: FastAPI, client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(
        "/posts/",
        content=padded(NEW_POST, DEFAULT_LIMIT + 1),
        headers={**alice.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.json() == body_too_large(DEFAULT_LIMIT)
    # The post inside was valid; it must not have been read, let alone stored.
    assert await count_rows(app, PostRow) == 0


async def test_a_body_exactly_at_the_limit_is_parsed(
    app: FastAPI, client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(
        "/posts/",
        content=padded(NEW_POST, DEFAULT_LIMIT),
        headers={**alice.headers, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["title"] == "padded"
    assert await count_rows(app, PostRow) == 1


async def test_a_login_form_over_the_limit_answers_413_without_logging_in(
    small: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = small
    email = fresh_email()
    assert (
        await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
    ).status_code == 201
    form = {"username": email, "password": DEFAULT_PASSWORD, "scope": "x" * SMALL_LIMIT}

    response = await client.post("/login", data=form)

    assert response.status_code == 413
    assert response.json() == body_too_large(SMALL_LIMIT)
    assert "access_token" not in response.text
    assert await count_rows(app, LoginSession) == 0


async def _chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b" " * size


async def test_a_chunked_body_without_content_length_is_cut_off_at_the_limit(
    small: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = small

    response = await client.post(
        "/users/", content=_chunks(count=3, size=400), headers={"Content-Type": "application/json"}
    )

    # The limit had to be enforced by counting, since nothing declared the size.
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == body_too_large(SMALL_LIMIT)
    assert await count_rows(app, User) == 0


async def test_a_chunked_body_under_the_limit_reaches_the_route(
    small: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = small
    body = padded_registration(fresh_email(), SMALL_LIMIT)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 300):
            yield body[start : start + 300]

    response = await client.post("/users/", content=chunks(), headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert response.status_code == 201, response.text
    assert await count_rows(app, User) == 1


@pytest.mark.parametrize(("method", "path"), [("POST", "/posts/"), ("PATCH", "/users/me")])
async def test_a_declared_length_over_the_limit_is_refused_before_authentication(
    small: tuple[FastAPI, httpx.AsyncClient], method: str, path: str
) -> None:
    _, client = small
    # A short body that lies about its size: the header alone is enough to refuse it.
    headers = {**BAD_TOKEN, "Content-Type": "application/json", "Content-Length": str(SMALL_LIMIT + 1)}

    response = await client.request(method, path, content=b"{}", headers=headers)

    assert response.status_code == 413
    assert response.json() == body_too_large(SMALL_LIMIT)
    assert "www-authenticate" not in response.headers


@pytest.mark.parametrize(("path", "method"), [("/users/", "post"), ("/posts/", "post"), ("/login", "post")])
async def test_413_is_documented_for_routes_with_a_body(
    client: httpx.AsyncClient, path: str, method: str
) -> None:
    document = (await client.get("/openapi.json")).json()

    documented = document["paths"][path][method]["responses"]

    assert "413" in documented
    assert documented["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }


# --- CORS -----------------------------------------------------------------------------------------------


async def preflight(client: httpx.AsyncClient, origin: str, path: str = "/posts/") -> httpx.Response:
    return await client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )


async def test_no_origin_is_allowed_by_default(client: httpx.AsyncClient) -> None:
    response = await preflight(client, APP_ORIGIN)
    simple = await client.get("/", headers={"Origin": APP_ORIGIN})

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in simple.headers
    assert_no_credentials(response)


async def test_a_configured_origin_passes_the_preflight(database_url: str) -> None:
    async with running_app(database_url, cors_origins=[APP_ORIGIN]) as (_, client):
        response = await preflight(client, APP_ORIGIN)

    assert response.status_code == 200, response.text
    assert response.headers.get("access-control-allow-origin") == APP_ORIGIN
    allowed_headers = response.headers.get("access-control-allow-headers", "").lower()
    assert "authorization" in allowed_headers
    assert "POST" in response.headers.get("access-control-allow-methods", "")
    assert_no_credentials(response)


async def test_another_origin_is_not_allowed(database_url: str) -> None:
    async with running_app(database_url, cors_origins=[APP_ORIGIN]) as (_, client):
        response = await preflight(client, OTHER_ORIGIN)
        simple = await client.get("/", headers={"Origin": OTHER_ORIGIN})

    assert response.status_code != 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in simple.headers
    assert_no_credentials(response)
    assert_no_credentials(simple)


async def test_a_simple_request_from_the_origin_may_read_retry_after_and_link(database_url: str) -> None:
    async with running_app(database_url, cors_origins=[APP_ORIGIN]) as (_, client):
        response = await client.get("/", headers={"Origin": APP_ORIGIN})

    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin") == APP_ORIGIN
    exposed = [name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")]
    assert "retry-after" in exposed
    assert "link" in exposed  # the listing's next page
    assert_no_credentials(response)
    assert_security_headers(response)


async def test_a_wildcard_allows_any_origin_without_credentials(database_url: str) -> None:
    async with running_app(database_url, cors_origins=["*"]) as (_, client):
        response = await preflight(client, OTHER_ORIGIN)
        # Even with a cookie, which makes Starlette echo the origin, credentials stay off.
        simple = await client.get("/", headers={"Origin": OTHER_ORIGIN, "Cookie": "session=1"})

    assert response.status_code == 200, response.text
    assert response.headers.get("access-control-allow-origin") == "*"
    assert_no_credentials(response)
    assert simple.headers.get("access-control-allow-origin") in {"*", OTHER_ORIGIN}
    assert_no_credentials(simple)


async def test_a_413_to_an_allowed_origin_is_readable_by_the_browser(database_url: str) -> None:
    async with running_app(database_url, cors_origins=[APP_ORIGIN], max_request_body_bytes=1000) as (
        _,
        client,
    ):
        response = await client.post("/users/", content=b" " * 1001, headers={"Origin": APP_ORIGIN})

    assert response.status_code == 413
    assert response.headers.get("access-control-allow-origin") == APP_ORIGIN
