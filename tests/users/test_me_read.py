"""Contract "Account": reading it, GET /users/me."""

import httpx
from fastapi import FastAPI

from postboard.users.models import Role
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    Account,
    bearer,
    fresh_email,
    get_me,
    give_role,
    log_in,
)


async def test_me_answers_the_callers_user_out(client: httpx.AsyncClient, bob: Account) -> None:
    email = fresh_email()
    registered = await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
    assert registered.status_code == 201, registered.text
    tokens = await log_in(client, email, DEFAULT_PASSWORD)

    response = await get_me(client, tokens.headers)

    assert response.status_code == 200, response.text
    # id, email and created_at exactly as registration answered them; what only the owner sees; nothing else.
    expected = {**registered.json(), "role": "member", "email_verified": False, "pending_email": None}
    assert response.json() == expected
    assert DEFAULT_PASSWORD not in response.text
    assert "hash" not in response.text.lower()
    assert "argon2" not in response.text.lower()
    # The token decides whose account it is.
    assert (await get_me(client, bob.headers)).json()["id"] == bob.id


async def test_me_is_not_read_as_a_user_id(client: httpx.AsyncClient, alice: Account) -> None:
    response = await get_me(client, alice.headers)

    # Were "me" taken for /users/{id}, the answer would be 422 (not an integer).
    assert response.status_code == 200, response.text
    user_out = (await client.get(f"/users/{alice.id}", headers=alice.headers)).json()
    assert response.json() == {**user_out, "role": "member", "email_verified": False, "pending_email": None}


async def test_me_shows_the_role_as_the_database_has_it_now(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    await give_role(app, alice.email, Role.ADMIN)  # after alice's token was issued

    assert (await get_me(client, alice.headers)).json()["role"] == "admin"


async def test_me_without_token_answers_401(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get("/users/me")

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert alice.email not in response.text


async def test_me_with_a_bad_token_answers_401(client: httpx.AsyncClient, alice: Account) -> None:
    response = await get_me(client, bearer(alice.token + "x"))

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
