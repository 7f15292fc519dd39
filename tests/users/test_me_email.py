"""Contract "Account": changing its email, PATCH /users/me."""

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import (
    INVALID_CREDENTIALS,
    NOT_AUTHENTICATED,
    WRONG_PASSWORD,
    Account,
    fresh_email,
    get_me,
    log_in,
    patch_me,
    post_login,
    refresh,
    stored_user,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Alice.New@Example.COM", "alice.new@example.com"),
        ("  spaced-out@example.com  ", "spaced-out@example.com"),
        ("Jose\u0301@Example.com", "jos\u00e9@example.com"),  # composed to NFC, then lower-cased
        (
            "someone@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",
            "someone@example.com",
        ),  # fullwidth domain letters
    ],
)
async def test_patch_me_changes_the_email_to_its_normalized_form(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, typed: str, stored: str
) -> None:
    before = (await get_me(client, alice.headers)).json()

    response = await patch_me(client, alice.headers, {"email": typed, "current_password": alice.password})

    assert response.status_code == 200, response.text
    assert response.json() == {**before, "email": stored}
    assert (await get_me(client, alice.headers)).json() == response.json()
    row = await stored_user(app, alice.id)
    assert row is not None
    assert row.email == stored


async def test_new_email_logs_in_and_the_old_one_no_longer_does(
    client: httpx.AsyncClient, alice: Account
) -> None:
    new_email = fresh_email("alice")
    changed = await patch_me(client, alice.headers, {"email": new_email, "current_password": alice.password})
    assert changed.status_code == 200, changed.text

    new_login = await post_login(client, new_email, alice.password)
    old_login = await post_login(client, alice.email, alice.password)

    assert new_login.status_code == 200, new_login.text
    assert old_login.status_code == 403
    assert old_login.json() == INVALID_CREDENTIALS
    # The old address is free for anyone to register now.
    assert (await client.post("/users/", json={"email": alice.email, "password": "x" * 8})).status_code == 201


async def test_tokens_keep_working_after_an_email_change(client: httpx.AsyncClient, alice: Account) -> None:
    other_login = await log_in(client, alice.email, alice.password)
    new_email = fresh_email("alice")

    changed = await patch_me(client, alice.headers, {"email": new_email, "current_password": alice.password})

    assert changed.status_code == 200, changed.text
    for headers in (alice.headers, other_login.headers):
        me = await get_me(client, headers)
        assert me.status_code == 200, me.text
        assert me.json()["email"] == new_email
    assert (await refresh(client, other_login.refresh)).status_code == 200


@pytest.mark.parametrize("body", [{}, {"email": None}])
async def test_patch_me_without_an_email_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, Any]
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, alice.headers, {**body, "current_password": alice.password})

    assert response.status_code == 200, response.text
    assert response.json()["email"] == alice.email
    assert await stored_user(app, alice.id) == before


async def test_patch_me_to_its_own_email_in_another_case_is_no_conflict(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(
        client, alice.headers, {"email": alice.email.upper(), "current_password": alice.password}
    )

    assert response.status_code == 200, response.text
    assert response.json()["email"] == alice.email
    assert await stored_user(app, alice.id) == before


async def test_patch_me_with_a_wrong_current_password_answers_403_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)
    new_email = fresh_email("alice")

    response = await patch_me(
        client, alice.headers, {"email": new_email, "current_password": alice.password + "x"}
    )

    assert response.status_code == 403
    assert response.json() == WRONG_PASSWORD
    assert await stored_user(app, alice.id) == before
    assert (await post_login(client, new_email, alice.password)).status_code == 403
    assert (await get_me(client, alice.headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"email": "missing-password@example.com"},
        {},
        {"email": "empty-password@example.com", "current_password": ""},
        {"email": "null-password@example.com", "current_password": None},
        {"email": "int-password@example.com", "current_password": 12345678},
    ],
    ids=["missing", "empty-body", "empty", "null", "integer"],
)
async def test_patch_me_without_a_current_password_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, Any]
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await stored_user(app, alice.id) == before


@pytest.mark.parametrize("taken", ["bob@example.com", "BOB@example.com", "Bob@Example.COM"])
async def test_patch_me_to_a_taken_email_answers_409_and_changes_nothing(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, taken: str
) -> None:
    alice_before, bob_before = await stored_user(app, alice.id), await stored_user(app, bob.id)

    response = await patch_me(client, alice.headers, {"email": taken, "current_password": alice.password})

    assert response.status_code == 409, response.text
    assert response.json()["detail"] in {
        f"User with email: {taken} already exists",
        f"User with email: {taken.lower()} already exists",
    }
    assert await stored_user(app, alice.id) == alice_before
    assert await stored_user(app, bob.id) == bob_before
    assert (await post_login(client, alice.email, alice.password)).status_code == 200


@pytest.mark.parametrize(
    "email", ["not-an-email", "missing-domain@", "@example.com", "two@@example.com", "", "a b@example.com"]
)
async def test_patch_me_with_an_invalid_email_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, email: str
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, alice.headers, {"email": email, "current_password": alice.password})

    assert response.status_code == 422, response.text
    assert alice.password not in response.text
    assert await stored_user(app, alice.id) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 999_999),
        ("password_hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
        ("created_at", "2000-01-01T00:00:00+00:00"),
        ("password", "an attacker's new password"),
        ("is_admin", True),
    ],
)
async def test_patch_me_refuses_fields_other_than_the_email(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, field: str, value: object
) -> None:
    before = await stored_user(app, alice.id)
    new_email = fresh_email("alice")
    # A valid change rides along: a route that ignored the extra field would apply it.
    body = {"email": new_email, "current_password": alice.password, field: value}

    response = await patch_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert await stored_user(app, alice.id) == before
    assert alice.password not in response.text
    assert (await post_login(client, alice.email, alice.password)).status_code == 200
    if field == "password":
        assert str(value) not in response.text
        assert (await post_login(client, alice.email, str(value))).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "current_password": "Secret-Current-1"},
        {"email": "fine@example.com", "current_password": "Secret-Current-2", "id": 1},
        {"email": "fine@example.com", "current_password": "Secret-Current-3" * 20},
        {"email": ["list@example.com"], "current_password": "Secret-Current-4"},
        {"email": "fine@example.com", "current_password": ["Secret-Current-5"]},
        {"email": "fine@example.com", "current_password": {"value": "Secret-Current-6"}},
        {"email": 42, "current_password": "Secret-Current-7"},
        ["Secret-Current-8"],
    ],
)
async def test_patch_me_validation_errors_never_echo_the_current_password(
    client: httpx.AsyncClient, alice: Account, body: Any
) -> None:
    response = await patch_me(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert "Secret-Current" not in response.text


async def test_patch_me_form_encoded_answers_422_without_echoing_the_password(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.patch(
        "/users/me",
        content=b"email=x%40example.com&current_password=Secret-Form-Password",
        headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 422, response.text
    assert "Secret-Form-Password" not in response.text


async def test_patch_me_without_token_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await patch_me(client, {}, {"email": fresh_email(), "current_password": alice.password})

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert await stored_user(app, alice.id) == before
