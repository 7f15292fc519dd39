"""Contract "Account": concurrent changes of an account (email, password, deletion) end as one of
them alone would."""

import asyncio
from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI

from postboard.auth.models import LoginSession
from postboard.users.models import User
from tests.helpers import (
    DEFAULT_PASSWORD,
    Account,
    MakeAccount,
    bearer,
    change_password,
    count_rows,
    delete_me,
    fresh_email,
    get_me,
    log_in,
    patch_me,
    post_login,
    stored_user,
)


def assert_not_a_server_error(responses: Sequence[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code < 500, response.text


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_email_changes_to_one_address_let_exactly_one_win(
    client: httpx.AsyncClient, app: FastAPI, make_account: MakeAccount, round_: int
) -> None:
    first, second = await make_account(), await make_account()
    target = fresh_email("wanted")

    responses = await asyncio.gather(
        patch_me(client, first.headers, {"email": target, "current_password": first.password}),
        patch_me(client, second.headers, {"email": target.upper(), "current_password": second.password}),
    )

    assert_not_a_server_error(responses)
    assert sorted(response.status_code for response in responses) == [200, 409], [r.text for r in responses]
    winner, loser = (first, second) if responses[0].status_code == 200 else (second, first)
    assert (await get_me(client, winner.headers)).json()["email"] == target
    assert (await get_me(client, loser.headers)).json()["email"] == loser.email
    assert await count_rows(app, User, User.email == target) == 1
    login = await post_login(client, target, DEFAULT_PASSWORD)
    assert login.status_code == 200
    assert (await get_me(client, bearer(login.json()["access_token"]))).json()["id"] == winner.id


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_password_changes_leave_exactly_one_new_password(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, round_: int
) -> None:
    second_login = await log_in(client, alice.email, DEFAULT_PASSWORD)
    candidates = ["first new password", "second new password"]

    responses = await asyncio.gather(
        change_password(client, alice.headers, alice.password, candidates[0]),
        change_password(client, second_login.headers, alice.password, candidates[1]),
    )

    assert_not_a_server_error(responses)
    statuses = [response.status_code for response in responses]
    assert statuses.count(204) <= 1, statuses
    # The loser either found its session ended (401) or its current password no longer current (403).
    assert set(statuses) <= {204, 401, 403}, [r.text for r in responses]
    assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 0
    logins = [(await post_login(client, alice.email, password)).status_code for password in candidates]
    assert sorted(logins) == [200, 403], logins
    assert statuses[logins.index(200)] == 204
    assert (await post_login(client, alice.email, alice.password)).status_code == 403


async def test_concurrent_account_deletions_delete_once(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account
) -> None:
    second_login = await log_in(client, alice.email, DEFAULT_PASSWORD)

    responses = await asyncio.gather(
        delete_me(client, alice.headers, {"password": alice.password}),
        delete_me(client, second_login.headers, {"password": alice.password}),
    )

    assert_not_a_server_error(responses)
    assert sorted(response.status_code for response in responses) == [204, 401], [r.text for r in responses]
    assert await stored_user(app, alice.id) is None
    assert await stored_user(app, bob.id) is not None
