"""Contract "Account": changing its password, PUT /users/me/password."""

import httpx
import pytest
from fastapi import FastAPI

from postboard.auth.models import LoginSession
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NEW_PASSWORD,
    NOT_AUTHENTICATED,
    WRONG_PASSWORD,
    Account,
    bearer,
    change_password,
    count_rows,
    get_me,
    log_in,
    post_login,
    put_password,
    refresh,
    stored_user,
)


async def test_change_password_answers_204_and_the_new_password_logs_in(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await change_password(client, alice.headers, alice.password, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert (await post_login(client, alice.email, NEW_PASSWORD)).status_code == 200
    old_login = await post_login(client, alice.email, alice.password)
    assert old_login.status_code == 403
    assert old_login.json() == INVALID_CREDENTIALS


async def test_change_password_ends_every_session_of_the_user(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account
) -> None:
    first, second = (
        await log_in(client, alice.email, DEFAULT_PASSWORD),
        await log_in(client, alice.email, DEFAULT_PASSWORD),
    )
    bob_tokens = await log_in(client, bob.email, DEFAULT_PASSWORD)
    bob_sessions = await count_rows(app, LoginSession, LoginSession.user_id == bob.id)

    response = await change_password(client, first.headers, alice.password, NEW_PASSWORD)

    assert response.status_code == 204, response.text
    # The token that made the change, another login's, and the fixture's: all of them end.
    for token in (first.access, second.access, alice.token):
        me = await get_me(client, bearer(token))
        assert me.status_code == 401
        assert me.json() == INVALID_TOKEN
    for refresh_token in (first.refresh, second.refresh):
        refreshed = await refresh(client, refresh_token)
        assert refreshed.status_code == 401
        assert refreshed.json() == INVALID_REFRESH_TOKEN
    assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 0
    # Bob's sessions are his own business.
    assert await count_rows(app, LoginSession, LoginSession.user_id == bob.id) == bob_sessions
    assert (await get_me(client, bob.headers)).status_code == 200
    assert (await get_me(client, bob_tokens.headers)).status_code == 200
    assert (await refresh(client, bob_tokens.refresh)).status_code == 200


async def test_change_password_with_a_wrong_current_password_answers_403_and_keeps_the_password(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await change_password(client, alice.headers, alice.password + "x", NEW_PASSWORD)

    assert response.status_code == 403
    assert response.json() == WRONG_PASSWORD
    assert await stored_user(app, alice.id) == before
    assert (await post_login(client, alice.email, alice.password)).status_code == 200
    assert (await post_login(client, alice.email, NEW_PASSWORD)).status_code == 403
    assert (await get_me(client, alice.headers)).status_code == 200


@pytest.mark.parametrize(
    ("length", "expected_status"), [(0, 422), (1, 422), (7, 422), (8, 204), (256, 204), (257, 422)]
)
async def test_new_password_length_bounds(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, length: int, expected_status: int
) -> None:
    new_password = ("Qx7%" * 100)[:length]
    before = await stored_user(app, alice.id)

    response = await change_password(client, alice.headers, alice.password, new_password)

    assert response.status_code == expected_status, response.text
    if expected_status == 422:
        if length:
            assert new_password not in response.text
        assert alice.password not in response.text
        assert await stored_user(app, alice.id) == before
        assert (await post_login(client, alice.email, alice.password)).status_code == 200
    else:
        assert (await post_login(client, alice.email, new_password)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "takeover@example.com"),
        ("id", 1),
        ("password_hash", "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01"),
        ("password", "yet another password"),
        ("is_admin", True),
    ],
)
async def test_change_password_refuses_extra_fields(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, field: str, value: object
) -> None:
    before = await stored_user(app, alice.id)
    body = {"current_password": alice.password, "new_password": NEW_PASSWORD, field: value}

    response = await put_password(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert alice.password not in response.text
    assert NEW_PASSWORD not in response.text
    assert await stored_user(app, alice.id) == before
    assert (await get_me(client, alice.headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [{"new_password": NEW_PASSWORD}, {"current_password": DEFAULT_PASSWORD}, {}, None],
    ids=["no-current", "no-new", "empty", "no-body"],
)
async def test_change_password_with_missing_fields_answers_422(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, body: dict[str, str] | None
) -> None:
    before = await stored_user(app, alice.id)

    response = await put_password(client, alice.headers, body)

    assert response.status_code == 422, response.text
    assert NEW_PASSWORD not in response.text
    assert await stored_user(app, alice.id) == before


async def test_change_password_without_token_answers_401(
    client: httpx.AsyncClient, app: FastAPI, alice: Account
) -> None:
    before = await stored_user(app, alice.id)

    response = await change_password(client, {}, alice.password, NEW_PASSWORD)

    assert response.status_code == 401
    assert response.json() == NOT_AUTHENTICATED
    assert await stored_user(app, alice.id) == before
