"""Contract "Users": registration (POST /users/) and reading an account (GET /users/{id})."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers import DEFAULT_PASSWORD, NOT_AUTHENTICATED, Account, MakeAccount, fresh_email, register
from tests.path_ids import LOOSE_SPELLINGS, assert_refused_as_loose_id

# --- POST /users/ ---------------------------------------------------------------------------------------


async def test_register_ignores_fields_a_client_may_not_set(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    forged = {
        "id": 4242,
        "created_at": "2000-01-01T00:00:00+00:00",
        "password_hash": "$2b$12$x",
        "is_admin": True,
    }

    response = await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD, **forged})

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] != 4242
    assert not body["created_at"].startswith("2000-")
    assert set(body) == {"id", "email", "created_at"}
    # The hash is the one made from the password: the account logs in with it.
    login = await client.post("/login", data={"username": email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize("path", ["/users/", "/users"])
async def test_register_answers_201_with_user_out_only(client: httpx.AsyncClient, path: str) -> None:
    email = fresh_email()
    before = datetime.now(UTC)

    response = await client.post(
        path, json={"email": email, "password": DEFAULT_PASSWORD}, follow_redirects=False
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "created_at"}
    assert type(body["id"]) is int
    assert body["id"] > 0
    assert body["email"] == email
    # Never the password nor its hash, under any key.
    assert DEFAULT_PASSWORD not in response.text
    assert "argon2" not in response.text.lower()
    assert "hash" not in response.text.lower()
    created_at = datetime.fromisoformat(body["created_at"])
    assert body["created_at"].endswith("+00:00")
    assert created_at.utcoffset() == timedelta(0)
    assert before - timedelta(minutes=1) <= created_at <= datetime.now(UTC) + timedelta(minutes=1)


async def test_registered_account_can_log_in(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    assert (await register(client, email)).status_code == 201

    login = await client.post("/login", data={"username": email, "password": DEFAULT_PASSWORD})

    assert login.status_code == 200, login.text


async def test_ids_are_distinct_per_account(client: httpx.AsyncClient) -> None:
    first = await register(client, fresh_email())
    second = await register(client, fresh_email())

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_email_is_stored_lower_cased(client: httpx.AsyncClient, alice: Account) -> None:
    local = f"Carol.Smith-{uuid.uuid4().hex[:8]}"
    response = await register(client, f"{local}@Example.COM")

    assert response.status_code == 201, response.text
    assert response.json()["email"] == f"{local.lower()}@example.com"
    # What is read back later is the stored form too.
    read = await client.get(f"/users/{response.json()['id']}", headers=alice.headers)
    assert read.json()["email"] == f"{local.lower()}@example.com"


async def test_registering_an_existing_email_answers_409(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    assert (await register(client, email)).status_code == 201

    response = await register(client, email, "another password entirely")

    assert response.status_code == 409
    assert response.json() == {"detail": f"User with email: {email} already exists"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("dave@example.com", "DAVE@Example.com"),
        ("Erin.Jones@Example.com", "erin.jones@example.com"),
        ("frank@EXAMPLE.COM", "Frank@example.com"),
    ],
)
async def test_registering_an_email_in_another_letter_case_answers_409(
    client: httpx.AsyncClient, first: str, second: str
) -> None:
    assert (await register(client, first)).status_code == 201

    response = await register(client, second)

    assert response.status_code == 409, response.text
    # The contract quotes "<email>": the submitted address, or its stored (lower-cased) form.
    assert response.json()["detail"] in {
        f"User with email: {second} already exists",
        f"User with email: {second.lower()} already exists",
    }


async def test_conflicting_registration_leaves_the_first_account_intact(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    assert (await register(client, email, "the original password")).status_code == 201
    assert (await register(client, email.upper(), "an attacker's password")).status_code == 409

    original = await client.post("/login", data={"username": email, "password": "the original password"})
    hijack = await client.post("/login", data={"username": email, "password": "an attacker's password"})

    assert original.status_code == 200
    assert hijack.status_code == 403


@pytest.mark.parametrize(
    ("length", "expected_status"), [(0, 422), (1, 422), (7, 422), (8, 201), (256, 201), (257, 422)]
)
async def test_password_length_bounds(client: httpx.AsyncClient, length: int, expected_status: int) -> None:
    password = ("Zq9#" * 100)[:length]

    response = await register(client, fresh_email(), password)

    assert response.status_code == expected_status, response.text
    if expected_status == 422 and length:
        assert password not in response.text


@pytest.mark.parametrize(
    "password",
    [
        "aaaaaaaa",  # no composition rule: one repeated letter is fine
        "12345678",
        "        ",  # spaces are characters like any other
        "pässwörd",
        "é" * 256,  # 256 characters (512 bytes in UTF-8): the limit counts characters
        "🔑" * 8,
    ],
)
async def test_any_password_of_8_to_256_characters_is_accepted(
    client: httpx.AsyncClient, password: str
) -> None:
    email = fresh_email()
    response = await register(client, email, password)

    assert response.status_code == 201, response.text
    login = await client.post("/login", data={"username": email, "password": password})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "missing-domain@",
        "@example.com",
        "two@@example.com",
        "spaces in@example.com",
        "",
        "   ",
        "user@",
        "user@exa mple.com",
    ],
)
async def test_invalid_email_answers_422(client: httpx.AsyncClient, email: str) -> None:
    secret = f"Secret-{uuid.uuid4().hex}"

    response = await register(client, email, secret)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert secret not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "only-email@example.com"},
        {"password": "only a password"},
        {"email": None, "password": "a fine password"},
        {"email": "nulls@example.com", "password": None},
        {"email": 12345, "password": "a fine password"},
        {"email": ["list@example.com"], "password": "a fine password"},
        {"email": "types@example.com", "password": 123456789},
        {"email": "types@example.com", "password": ["a fine password"]},
        {"email": "types@example.com", "password": {"value": "a fine password"}},
        {"email": "types@example.com", "password": True},
        [],
        ["types@example.com", "a fine password"],
        "a string",
        None,
    ],
)
async def test_missing_fields_and_wrong_types_answer_422(client: httpx.AsyncClient, body: Any) -> None:
    response = await client.post("/users/", json=body)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"email": "x@example.com", "password": "Secret-Trailing-Comma",}', "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"email=x%40example.com&password=Secret-Form-Encoded", "application/x-www-form-urlencoded"),
        (b'{"email": "x@example.com", "password": "Secret-As-Text"}', "text/plain"),
    ],
)
async def test_non_json_body_answers_422_without_echoing_the_password(
    client: httpx.AsyncClient, content: bytes, content_type: str
) -> None:
    response = await client.post("/users/", content=content, headers={"Content-Type": content_type})

    assert response.status_code == 422, response.text
    assert "Secret-" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"email": "short-pw@example.com", "password": "Sh0rt!x"},
        {"email": "long-pw@example.com", "password": "L0ng-Pw!" * 33},
        {"email": "not-an-email", "password": "Val1d-But-Email-Is-Bad"},
        {"email": "int-pw@example.com", "password": 987654321987},
        {"email": "list-pw@example.com", "password": ["Listed-Secret-Pw"]},
        {"email": "obj-pw@example.com", "password": {"nested": "Nested-Secret-Pw"}},
    ],
)
async def test_validation_errors_never_echo_the_password(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/users/", json=body)

    assert response.status_code == 422
    password = body["password"]
    for secret in [str(password), *(password if isinstance(password, list) else [])]:
        assert secret not in response.text
    if isinstance(password, dict):
        assert "Nested-Secret-Pw" not in response.text


async def test_nul_in_email_answers_422_not_500(client: httpx.AsyncClient) -> None:
    response = await register(client, "nul\x00byte@example.com")

    assert response.status_code == 422, response.text


async def test_nul_in_password_is_not_a_server_error(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    response = await register(client, email, "nul\x00in the password")

    # 8 to 256 characters, no other rule: it is accepted (and never a 5xx).
    assert response.status_code == 201, response.text
    login = await client.post("/login", data={"username": email, "password": "nul\x00in the password"})
    assert login.status_code == 200, login.text


@pytest.mark.parametrize("attempts", [8])
async def test_concurrent_registrations_of_one_email_create_one_account(
    client: httpx.AsyncClient, attempts: int
) -> None:
    email = fresh_email("race")

    responses = await asyncio.gather(*(register(client, email) for _ in range(attempts)))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (attempts - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"detail": f"User with email: {email} already exists"}


async def test_concurrent_registrations_in_different_letter_cases_create_one_account(
    client: httpx.AsyncClient,
) -> None:
    email = fresh_email("race-case")
    variants = [email, email.upper(), email.title(), email.capitalize(), email.swapcase(), email]

    responses = await asyncio.gather(*(register(client, variant) for variant in variants))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (len(variants) - 1), [r.text for r in responses]


# --- GET /users/{id} ------------------------------------------------------------------------------------


async def test_get_user_answers_user_out(client: httpx.AsyncClient, alice: Account) -> None:
    registered = await register(client, fresh_email())
    assert registered.status_code == 201

    response = await client.get(f"/users/{registered.json()['id']}", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json() == registered.json()
    assert set(response.json()) == {"id", "email", "created_at"}
    assert DEFAULT_PASSWORD not in response.text
    assert response.json()["created_at"].endswith("+00:00")


async def test_get_own_user(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(f"/users/{alice.id}", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == alice.id
    assert response.json()["email"] == "alice@example.com"
    assert set(response.json()) == {"id", "email", "created_at"}


async def test_get_unknown_user_answers_404(client: httpx.AsyncClient, make_account: MakeAccount) -> None:
    account = await make_account()
    unknown_id = account.id + 1000

    response = await client.get(f"/users/{unknown_id}", headers=account.headers)

    assert response.status_code == 404
    assert response.json() == {"detail": f"User with id: {unknown_id} does not exist"}


@pytest.mark.parametrize("user_id", [0, 2**31 - 1, 2**31, 2**63, 10**30])
async def test_get_user_with_out_of_range_id_answers_404_not_500(
    client: httpx.AsyncClient, alice: Account, user_id: int
) -> None:
    response = await client.get(f"/users/{user_id}", headers=alice.headers)

    assert response.status_code == 404, response.text
    assert response.json() == {"detail": f"User with id: {user_id} does not exist"}


@pytest.mark.parametrize("user_id", ["abc", "1.5", "1e3", "%00", "-1"])
async def test_get_user_with_non_integer_id_answers_422(
    client: httpx.AsyncClient, alice: Account, user_id: str
) -> None:
    response = await client.get(f"/users/{user_id}", headers=alice.headers)

    assert response.status_code == 422, response.text


@pytest.mark.parametrize("spelling", LOOSE_SPELLINGS.values(), ids=LOOSE_SPELLINGS.keys())
async def test_another_spelling_of_an_existing_id_reads_no_account(
    client: httpx.AsyncClient, alice: Account, spelling: Callable[[str], str]
) -> None:
    response = await client.get(f"/users/{spelling(str(alice.id))}", headers=alice.headers)

    assert_refused_as_loose_id(response)
    assert alice.email not in response.text
    plain = await client.get(f"/users/{alice.id}", headers=alice.headers)
    assert plain.json()["email"] == alice.email


async def test_get_user_without_token_answers_401(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(f"/users/{alice.id}")

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "alice@example.com" not in response.text
