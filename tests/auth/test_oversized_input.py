"""Issue "Security, round two", item 1: one request must not stall the others.

A megabyte-long "email" took email_validator half a second on the event loop, before any throttle. Every
field a client sends is now capped by its length before anything parses it, and an address that has spent
its budget is answered before its body is read at all. These tests show the costly step is never reached.
"""

from collections.abc import AsyncIterator, Callable
from typing import Any

import email_validator
import httpx
import jwt
import pytest

from postboard.auth import passwords
from postboard.users import emails
from tests.forged_tokens import unverified_claims
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    INVALID_TOKEN,
    TEST_SECRET_KEY,
    Account,
    bearer,
    body_too_large,
    running_app,
)

# The attack as reported: 1 MB that an email validator works hard on.
HUGE_USERNAME = "a." * 520_000 + "@example.com"
# Long enough for the validator to work at, and within the 16 KiB that anonymous routes take.
LONG_USERNAME = "a." * 5_000 + "@example.com"
# What the anonymous routes (login, registration, refresh) answer past their 16 KiB.
TOO_LARGE = body_too_large(16_384)


@pytest.fixture
def costly_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the costly steps reached: email validation, password hashing, JWT decoding."""
    reached: list[str] = []

    def recording(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            reached.append(name)
            return function(*args, **kwargs)

        return record

    validate_email = recording("email", email_validator.validate_email)
    monkeypatch.setattr(email_validator, "validate_email", validate_email)  # as pydantic's EmailStr calls it
    monkeypatch.setattr(emails, "validate_email", validate_email)  # as the login's lookup calls it
    monkeypatch.setattr(passwords, "_verify_and_update", recording("hash", passwords._verify_and_update))
    monkeypatch.setattr(jwt, "decode", recording("jwt", jwt.decode))
    return reached


def field_too_long(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text[:300]
    [error] = response.json()["detail"]
    assert error["type"] == "string_too_long"
    assert error["loc"] == ["body", field]
    assert "input" not in error  # not echoed back: the answer stays small


async def test_the_reported_attack_is_refused_unread(
    client: httpx.AsyncClient, alice: Account, costly_calls: list[str]
) -> None:
    response = await client.post("/login", data={"username": HUGE_USERNAME, "password": DEFAULT_PASSWORD})

    assert response.status_code == 413, response.text[:300]
    assert response.json() == TOO_LARGE
    assert costly_calls == []


async def test_an_overlong_username_is_refused_before_any_parsing(
    client: httpx.AsyncClient, alice: Account, costly_calls: list[str]
) -> None:
    response = await client.post("/login", data={"username": LONG_USERNAME, "password": DEFAULT_PASSWORD})

    field_too_long(response, "username")
    assert costly_calls == []


@pytest.mark.parametrize("length", [257, 10_000])
async def test_an_overlong_login_password_is_refused_unhashed(
    client: httpx.AsyncClient, alice: Account, costly_calls: list[str], length: int
) -> None:
    response = await client.post("/login", data={"username": alice.email, "password": "p" * length})

    field_too_long(response, "password")
    assert costly_calls == []


async def test_longest_allowed_username_and_password_still_get_their_answer(
    client: httpx.AsyncClient, alice: Account
) -> None:
    username = "x" * 64 + "@" + "d" * 60 + ".example.com"
    response = await client.post("/login", data={"username": username, "password": "p" * 256})

    assert response.status_code == 403, response.text
    assert response.json() == INVALID_CREDENTIALS


async def test_an_overlong_refresh_token_is_refused_unparsed(
    client: httpx.AsyncClient, costly_calls: list[str]
) -> None:
    response = await client.post("/token/refresh", json={"refresh_token": "r" * 10_000})

    field_too_long(response, "refresh_token")


async def test_an_overlong_bearer_token_is_refused_without_decoding(
    client: httpx.AsyncClient, alice: Account, costly_calls: list[str]
) -> None:
    # Signed with our key, so that only its length can stop it before PyJWT decodes it.
    claims = unverified_claims(alice.token)
    huge = jwt.encode({**claims, "padding": "e" * 60_000}, TEST_SECRET_KEY, algorithm="HS256")
    costly_calls.clear()

    response = await client.get("/users/me", headers=bearer(huge))

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert costly_calls == []


# --- an address past its budget is answered before its body is read ---------------------------------------


@pytest.fixture
async def throttled(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    budgets = {
        "login_limit_per_address": "2/minute",
        "register_limit_per_address": "2/minute",
        "refresh_limit_per_address": "2/minute",
    }
    async with running_app(database_url, rate_limits=True, **budgets) as (_, client):
        yield client


async def spend_budgets(client: httpx.AsyncClient) -> None:
    for attempt in range(2):
        login = await client.post(
            "/login", data={"username": "nobody@example.com", "password": DEFAULT_PASSWORD}
        )
        assert login.status_code == 403, login.text
        email = f"new-{attempt}@example.com"
        registration = await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
        assert registration.status_code == 201, registration.text
        refresh = await client.post("/token/refresh", json={"refresh_token": "made.up"})
        assert refresh.status_code == 401, refresh.text


# Bodies that would each be refused with 422 if they were read (and within the 16 KiB these routes take).
UNREAD_BODIES = {
    "/login": b"username=" + LONG_USERNAME.encode() + b"&password=x",
    "/users/": b'{"email": "' + LONG_USERNAME.encode() + b'"',
    "/token/refresh": b"not json at all",
}


@pytest.mark.parametrize("path", list(UNREAD_BODIES))
async def test_a_throttled_address_is_answered_before_its_body_is_read(
    throttled: httpx.AsyncClient, costly_calls: list[str], path: str
) -> None:
    await spend_budgets(throttled)
    costly_calls.clear()
    content_type = "application/x-www-form-urlencoded" if path == "/login" else "application/json"

    response = await throttled.post(path, headers={"Content-Type": content_type}, content=UNREAD_BODIES[path])

    assert response.status_code == 429, response.text[:300]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert costly_calls == []


# --- anonymous routes take small bodies only ----------------------------------------------------------------

SMALL_BODY_ROUTES = {
    "/login": "application/x-www-form-urlencoded",
    "/users/": "application/json",
    "/users": "application/json",
    "/token/refresh": "application/json",
}


async def chunks(body: bytes) -> AsyncIterator[bytes]:
    """The body as a stream without Content-Length (chunked): the limit cannot be read off a header."""
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", list(SMALL_BODY_ROUTES))
async def test_an_anonymous_body_past_16_kib_is_refused_before_it_is_parsed(
    client: httpx.AsyncClient, costly_calls: list[str], path: str, declared: bool
) -> None:
    # Parsing a megabyte of form took milliseconds of the event loop before any field's cap applied.
    body = b"username=" + b"a" * 16_400 + b"&password=x"
    content = body if declared else chunks(body)

    response = await client.post(path, content=content, headers={"Content-Type": SMALL_BODY_ROUTES[path]})

    assert response.status_code == 413, response.text[:300]
    assert response.json() == TOO_LARGE
    assert costly_calls == []


async def test_other_routes_keep_the_app_wide_body_limit(client: httpx.AsyncClient, alice: Account) -> None:
    content = "x" * 20_000  # over the anonymous routes' limit, within a post's

    response = await client.post("/posts/", json={"title": "long", "content": content}, headers=alice.headers)

    assert response.status_code == 201, response.text[:300]
    assert response.json()["content"] == content
