"""Emails that a person reads as the same address are one account; an address that mixes scripts, and so
could pass for another, is refused. Over HTTP, on SQLite and on PostgreSQL."""

from typing import Any

import email_validator
import httpx
import pytest
from fastapi import FastAPI

from postboard.users.emails import login_email
from postboard.users.models import User
from postboard.users.schemas import UserCreate, UserUpdate
from tests.helpers import DEFAULT_PASSWORD, Account, MakeAccount, count_rows, log_in, register

# Characters written as escapes: in the source they would look like the letters they imitate.
FULLWIDTH_ADA = "\uff41\uff44\uff41@example.com"  # fullwidth a, d, a
LIGATURE_JEFF = "je\ufb00@example.com"  # U+FB00 LATIN SMALL LIGATURE FF
CYRILLIC_IN_LOCAL_PART = "ad\u0430@example.com"  # U+0430 CYRILLIC SMALL LETTER A
CYRILLIC_IN_DOMAIN = "ada@ex\u0430mple.com"
TEST_IN_GREEK = "\u03b4\u03bf\u03ba\u03b9\u03bc\u03ae"
EXAMPLE_IN_GREEK = "\u03c0\u03b1\u03c1\u03ac\u03b4\u03b5\u03b9\u03b3\u03bc\u03b1"
GREEK_ADDRESS = f"{TEST_IN_GREEK}@{EXAMPLE_IN_GREEK}.{TEST_IN_GREEK}"
CHINESE_ADDRESS = "用户@例子.广告"
# Long enough for the email validator to work at, and within the 16 KiB body that registration takes.
LONG_ADDRESS = "a." * 5_000 + "@example.com"
ONE_SCRIPT = "The email address is not written in one script"


async def account_id_of(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get("/users/me", headers=headers)
    assert response.status_code == 200, response.text
    user_id: int = response.json()["id"]
    return user_id


@pytest.mark.parametrize(
    ("original", "lookalike"),
    [
        ("ada@example.com", FULLWIDTH_ADA),
        ("jeff@example.com", LIGATURE_JEFF),
        ("ada@example.com", "ADA@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"),  # fullwidth domain
    ],
    ids=["fullwidth", "ligature-ff", "upper-case-and-fullwidth-domain"],
)
async def test_an_address_read_as_an_existing_one_is_that_account(
    client: httpx.AsyncClient, app: FastAPI, make_account: MakeAccount, original: str, lookalike: str
) -> None:
    owner = await make_account(original)

    registered = await register(client, lookalike, "an impostor's password")

    assert registered.status_code == 409, registered.text
    assert registered.json() == {"detail": f"User with email: {original} already exists"}
    assert await count_rows(app, User) == 1
    # Typed either way, the address logs in to the one account, with its own password only.
    tokens = await log_in(client, lookalike, owner.password)
    assert await account_id_of(client, tokens.headers) == owner.id
    refused = await client.post("/login", data={"username": lookalike, "password": "an impostor's password"})
    assert refused.status_code == 403, refused.text


@pytest.mark.parametrize(
    ("lookalike", "mixed_part"),
    [(CYRILLIC_IN_LOCAL_PART, "ad\u0430"), (CYRILLIC_IN_DOMAIN, "ex\u0430mple")],
    ids=["cyrillic-in-local-part", "cyrillic-in-domain"],
)
async def test_an_address_mixing_scripts_is_refused(
    client: httpx.AsyncClient, app: FastAPI, make_account: MakeAccount, lookalike: str, mixed_part: str
) -> None:
    owner = await make_account("ada@example.com")

    registered = await register(client, lookalike)

    assert registered.status_code == 422, registered.text
    [error] = registered.json()["detail"]
    assert error["loc"] == ["body", "email"]
    assert ONE_SCRIPT in error["msg"]
    assert repr(mixed_part) in error["msg"]
    assert "U+0430 CYRILLIC SMALL LETTER A" in error["msg"]
    assert await count_rows(app, User) == 1
    # No account has it, so it logs in to none, the look-alike's original included.
    login = await client.post("/login", data={"username": lookalike, "password": owner.password})
    assert login.status_code == 403, login.text


@pytest.mark.parametrize(
    ("new_email", "expected_status"),
    [(FULLWIDTH_ADA, 409), (CYRILLIC_IN_LOCAL_PART, 422), (CYRILLIC_IN_DOMAIN, 422)],
    ids=["fullwidth", "cyrillic-in-local-part", "cyrillic-in-domain"],
)
async def test_an_email_change_to_a_lookalike_is_refused(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    bob: Account,
    new_email: str,
    expected_status: int,
) -> None:
    await make_account("ada@example.com")

    response = await client.patch(
        "/users/me", json={"email": new_email, "current_password": bob.password}, headers=bob.headers
    )

    assert response.status_code == expected_status, response.text
    me = await client.get("/users/me", headers=bob.headers)
    assert me.json()["email"] == bob.email


@pytest.mark.parametrize("address", [GREEK_ADDRESS, CHINESE_ADDRESS], ids=["greek", "chinese"])
async def test_an_address_in_one_script_registers_and_logs_in(
    client: httpx.AsyncClient, address: str
) -> None:
    registered = await register(client, address)

    assert registered.status_code == 201, registered.text
    assert registered.json()["email"] == address
    tokens = await log_in(client, address, DEFAULT_PASSWORD)
    assert await account_id_of(client, tokens.headers) == registered.json()["id"]


async def test_an_address_past_320_characters_is_refused_before_it_is_parsed(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []

    def spy(email: str, **options: Any) -> email_validator.ValidatedEmail:
        parsed.append(email)
        return email_validator.validate_email(email, **options)

    monkeypatch.setattr("postboard.users.emails.validate_email", spy)

    # (The login form's username has the same cap: tests/auth/test_oversized_input.py.)
    registered = await register(client, LONG_ADDRESS)

    assert registered.status_code == 422, registered.text
    [error] = registered.json()["detail"]
    assert (error["type"], error["loc"]) == ("string_too_long", ["body", "email"])
    assert "at most 320 characters" in error["msg"]
    assert parsed == []
    assert await count_rows(app, User) == 0


def test_registration_email_change_and_login_share_one_normal_form() -> None:
    # The CLI's create-user validates with UserCreate too.
    for typed in (FULLWIDTH_ADA, "Ada@Example.COM", "  ada@example.com "):
        assert UserCreate(email=typed, password=DEFAULT_PASSWORD).email == "ada@example.com"
        assert UserUpdate(email=typed, current_password="x").email == "ada@example.com"
        assert login_email(typed) == "ada@example.com"
