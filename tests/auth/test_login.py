"""Contract "Login": POST /login with the OAuth2 password form."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from tests.helpers import (
    INVALID_CREDENTIALS,
    TEST_SECRET_KEY,
    Account,
    MakeAccount,
    bearer,
    fresh_email,
    post_login,
    running_app,
)


def decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, TEST_SECRET_KEY, algorithms=["HS256"], options={"require": ["exp", "user_id"]}
    )
    return claims


async def test_login_answers_a_bearer_token(client: httpx.AsyncClient, alice: Account) -> None:
    response = await post_login(client, alice.email, alice.password)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert body["access_token"].count(".") == 2
    assert body["expires_in"] == 30 * 60
    assert len(body["refresh_token"]) >= 43  # 256 bits in base64url, after the session id
    assert response.headers["cache-control"] == "no-store"
    assert alice.password not in response.text


async def test_issued_token_opens_protected_routes(client: httpx.AsyncClient, alice: Account) -> None:
    token = (await post_login(client, alice.email, alice.password)).json()["access_token"]

    response = await client.get(f"/users/{alice.id}", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == alice.id


async def test_login_accepts_extra_oauth2_form_fields(client: httpx.AsyncClient, alice: Account) -> None:
    # What Swagger UI's Authorize button and OAuth2 clients send along.
    response = await client.post(
        "/login",
        data={
            "grant_type": "password",
            "username": alice.email,
            "password": alice.password,
            "scope": "",
            "client_id": "",
            "client_secret": "",
        },
    )

    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize(
    ("registered", "typed"),
    [
        ("grace@example.com", "GRACE@EXAMPLE.COM"),
        ("grace@example.com", "Grace@Example.com"),
        ("Grace.Hopper@Example.COM", "grace.hopper@example.com"),
        ("Grace.Hopper@Example.COM", "Grace.Hopper@Example.COM"),
    ],
)
async def test_username_in_another_letter_case_logs_in(
    client: httpx.AsyncClient, make_account: MakeAccount, registered: str, typed: str
) -> None:
    account = await make_account(registered)

    response = await post_login(client, typed, account.password)

    assert response.status_code == 200, response.text
    assert decode(response.json()["access_token"])["user_id"] == account.id


async def test_wrong_password_answers_403(client: httpx.AsyncClient, alice: Account) -> None:
    response = await post_login(client, alice.email, alice.password + "x")

    assert response.status_code == 403
    assert response.json() == INVALID_CREDENTIALS
    assert "access_token" not in response.text


async def test_password_is_case_sensitive(client: httpx.AsyncClient, alice: Account) -> None:
    response = await post_login(client, alice.email, alice.password.upper())

    assert response.status_code == 403
    assert response.json() == INVALID_CREDENTIALS


async def test_unknown_email_answers_403(client: httpx.AsyncClient, alice: Account) -> None:
    response = await post_login(client, fresh_email("nobody"), alice.password)

    assert response.status_code == 403
    assert response.json() == INVALID_CREDENTIALS


@pytest.mark.parametrize("username", ["not an email", "nobody", "a@b", "@", "x" * 300 + "@example.com"])
async def test_username_that_is_not_an_email_answers_403(
    client: httpx.AsyncClient, alice: Account, username: str
) -> None:
    response = await post_login(client, username, alice.password)

    assert response.status_code == 403, response.text
    assert response.json() == INVALID_CREDENTIALS


async def test_unknown_email_and_wrong_password_are_indistinguishable(
    client: httpx.AsyncClient, alice: Account
) -> None:
    wrong_password = await post_login(client, alice.email, "not alice's password")
    unknown_email = await post_login(client, "nobody@example.com", "not alice's password")

    assert wrong_password.status_code == unknown_email.status_code == 403
    assert wrong_password.content == unknown_email.content
    assert sorted(wrong_password.headers.keys()) == sorted(unknown_email.headers.keys())
    for name in wrong_password.headers:
        if name.lower() not in ("date", "x-request-id"):  # the clock's, and each request's own
            assert wrong_password.headers[name] == unknown_email.headers[name], name


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"username": "alice@example.com"},
        {"password": "correct horse battery"},
        {"username": "", "password": "correct horse battery"},
        {"username": "alice@example.com", "password": ""},
        {"username": "", "password": ""},
    ],
)
async def test_missing_or_empty_field_answers_422(
    client: httpx.AsyncClient, alice: Account, form: dict[str, str]
) -> None:
    response = await client.post("/login", data=form)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert "access_token" not in response.text


async def test_json_body_answers_422(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post("/login", json={"username": alice.email, "password": alice.password})

    assert response.status_code == 422, response.text
    assert "access_token" not in response.text
    assert alice.password not in response.text


async def test_no_body_answers_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/login")

    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "username", ["alice\x00@example.com", "\x00", "alice@example.com\x00", "\x00alice@example.com"]
)
async def test_nul_in_username_answers_422_not_500(
    client: httpx.AsyncClient, alice: Account, username: str
) -> None:
    response = await post_login(client, username, alice.password)

    assert response.status_code == 422, response.text


async def test_nul_in_password_is_a_wrong_password_not_a_server_error(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await post_login(client, alice.email, alice.password + "\x00")

    assert response.status_code == 403, response.text
    assert response.json() == INVALID_CREDENTIALS


async def test_very_long_password_is_refused_without_server_error(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await post_login(client, alice.email, "p" * 100_000)

    # Over the 16 KiB a login form may take: refused unread (tests/auth/test_oversized_input.py).
    assert response.status_code == 413, response.text
    assert "access_token" not in response.text


@pytest.mark.parametrize("username", ["", None, "nul\x00@example.com"])
async def test_login_does_not_echo_the_password_in_422(
    client: httpx.AsyncClient, username: str | None
) -> None:
    secret = f"Secret-{uuid.uuid4().hex}"
    form = {"password": secret} if username is None else {"username": username, "password": secret}

    response = await client.post("/login", data=form)

    assert response.status_code == 422
    assert secret not in response.text


async def test_token_is_hs256_with_integer_user_id_and_default_lifetime(
    client: httpx.AsyncClient, alice: Account
) -> None:
    before = int(time.time())
    token = (await post_login(client, alice.email, alice.password)).json()["access_token"]
    after = int(time.time())

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = decode(token)
    assert type(claims["user_id"]) is int
    assert claims["user_id"] == alice.id
    assert before - 1 <= claims["iat"] <= after + 1
    assert abs(claims["exp"] - claims["iat"] - 30 * 60) <= 1


async def test_token_is_not_signed_with_another_key(client: httpx.AsyncClient, alice: Account) -> None:
    token = (await post_login(client, alice.email, alice.password)).json()["access_token"]

    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "some-other-secret-key-that-is-long-enough", algorithms=["HS256"])


async def test_each_account_gets_its_own_user_id(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    assert decode(alice.token)["user_id"] == alice.id
    assert decode(bob.token)["user_id"] == bob.id
    assert alice.id != bob.id


@pytest.fixture
async def short_lived_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the test database, whose tokens last 5 minutes."""
    async with running_app(database_url, access_token_expire_minutes=5) as (_, http_client):
        yield http_client


async def test_access_token_expire_minutes_sets_the_lifetime(short_lived_client: httpx.AsyncClient) -> None:
    email = fresh_email("short")
    registered = await short_lived_client.post("/users/", json={"email": email, "password": "long enough"})
    assert registered.status_code == 201, registered.text

    response = await post_login(short_lived_client, email, "long enough")

    assert response.status_code == 200, response.text
    claims = decode(response.json()["access_token"])
    assert claims["user_id"] == registered.json()["id"]
    assert abs(claims["exp"] - claims["iat"] - 5 * 60) <= 1
