"""Contract "Account": the current password that PATCH /users/me, PUT /users/me/password and DELETE
/users/me check. Wrong ones spend a budget per login session, and a check holds no database lock or
connection while it hashes."""

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from postboard.auth import passwords
from postboard.users.models import User
from tests.helpers import (
    DEFAULT_PASSWORD,
    NEW_PASSWORD,
    TOO_MANY_LOGIN_FAILURES,
    WRONG_PASSWORD,
    Account,
    assert_throttled,
    change_password,
    count_rows,
    delete_me,
    fresh_email,
    get_me,
    log_in,
    patch_me,
    post_login,
    register_and_log_in,
    running_app,
    stored_user,
)

# --- wrong current passwords: a budget per login session ------------------------------------------------


TOO_MANY_PASSWORD_FAILURES = {"detail": "Too many wrong passwords on this login session, try again later"}


@asynccontextmanager
async def throttled_client(
    database_url: str, **settings: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app that throttles failed logins at 3 a minute per account and wrong current passwords at 3 a
    minute per login session, and a client for it."""
    budgets = {"login_limit_per_account": "3/minute", "password_check_limit_per_session": "3/minute"}
    async with running_app(database_url, rate_limits=True, **budgets, **settings) as served:
        yield served


async def wrong_attempt(client: httpx.AsyncClient, headers: dict[str, str], route: str) -> httpx.Response:
    wrong = "not the password"
    if route == "PATCH /users/me":
        return await patch_me(client, headers, {"email": fresh_email(), "current_password": wrong})
    if route == "PUT /users/me/password":
        return await change_password(client, headers, wrong, NEW_PASSWORD)
    return await delete_me(client, headers, {"password": wrong})


async def assert_wrong_passwords_spend_the_sessions_budget(
    application: FastAPI, client: httpx.AsyncClient, route: str
) -> None:
    email = fresh_email("victim")
    tokens = await register_and_log_in(client, email)
    other_session = await log_in(client, email, DEFAULT_PASSWORD)
    user_id = (await get_me(client, tokens.headers)).json()["id"]
    bystander = fresh_email("bystander")
    await register_and_log_in(client, bystander)
    before = await stored_user(application, user_id)

    for _ in range(3):
        response = await wrong_attempt(client, tokens.headers, route)
        assert response.status_code == 403, response.text
        assert response.json() == WRONG_PASSWORD
    # The session's budget is spent: even the right password is refused there, without being checked.
    assert_throttled(
        await change_password(client, tokens.headers, DEFAULT_PASSWORD, NEW_PASSWORD),
        TOO_MANY_PASSWORD_FAILURES,
    )
    assert await stored_user(application, user_id) == before
    # The failures counted against the account's login budget too: a stolen token buys no extra guesses.
    assert_throttled(await post_login(client, email, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)
    # Another account from the same address still logs in.
    assert (await post_login(client, bystander, DEFAULT_PASSWORD)).status_code == 200
    # The owner's other login session has a budget of its own.
    changed = await change_password(client, other_session.headers, DEFAULT_PASSWORD, NEW_PASSWORD)
    assert changed.status_code == 204, changed.text


@pytest.mark.parametrize("route", ["PUT /users/me/password", "PATCH /users/me", "DELETE /users/me"])
async def test_wrong_current_passwords_spend_the_sessions_budget(database_url: str, route: str) -> None:
    async with throttled_client(database_url) as (application, client):
        await assert_wrong_passwords_spend_the_sessions_budget(application, client, route)


async def test_wrong_current_passwords_spend_the_budget_kept_in_redis(
    database_url: str, redis_url: str
) -> None:
    async with throttled_client(database_url, redis_url=redis_url) as (application, client):
        await assert_wrong_passwords_spend_the_sessions_budget(application, client, "PUT /users/me/password")


@pytest.mark.parametrize("route", ["PUT /users/me/password", "PATCH /users/me", "DELETE /users/me"])
async def test_a_strangers_failed_logins_leave_the_owners_password_checks_alone(
    database_url: str, route: str
) -> None:
    async with throttled_client(database_url) as (application, client):
        email = fresh_email("owner")
        owner = await register_and_log_in(client, email)
        for _ in range(3):
            assert (await post_login(client, email, "a stranger's guess")).status_code == 403
        assert_throttled(await post_login(client, email, DEFAULT_PASSWORD), TOO_MANY_LOGIN_FAILURES)

        if route == "PATCH /users/me":
            new_email = fresh_email("moved")
            response = await patch_me(
                client, owner.headers, {"email": new_email, "current_password": DEFAULT_PASSWORD}
            )
            assert response.status_code == 200, response.text
            assert response.json()["email"] == new_email
        elif route == "PUT /users/me/password":
            response = await change_password(client, owner.headers, DEFAULT_PASSWORD, NEW_PASSWORD)
            assert response.status_code == 204, response.text
        else:
            response = await delete_me(client, owner.headers, {"password": DEFAULT_PASSWORD})
            assert response.status_code == 204, response.text
            assert await count_rows(application, User, User.email == email) == 0


# --- password checks hold no database lock or connection while they hash ------------------------------


PASSWORD_CHECKED_REQUESTS = {
    "PATCH /users/me": (
        "PATCH",
        "/users/me",
        {"email": "moved@example.com", "current_password": DEFAULT_PASSWORD},
    ),
    "PUT /users/me/password": (
        "PUT",
        "/users/me/password",
        {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
    ),
    "DELETE /users/me": ("DELETE", "/users/me", {"password": DEFAULT_PASSWORD}),
}


@pytest.mark.parametrize("route", list(PASSWORD_CHECKED_REQUESTS))
async def test_another_users_write_goes_ahead_while_a_password_is_being_checked(
    database_url: str, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    """With one database connection per pool, a check that held it (or SQLite's write lock) while hashing
    would keep Bob's post waiting until the hash was done."""
    hashing, may_finish = threading.Event(), threading.Event()
    verify = passwords._verify_and_update

    def slow_verify(password: str, password_hash: str) -> passwords.Verdict:
        hashing.set()
        may_finish.wait(10)
        return verify(password, password_hash)

    async with running_app(database_url, database_pool_size=1, database_pool_timeout=5) as (_, client):
        try:
            alice = await register_and_log_in(client, fresh_email("alice"))
            bob = await register_and_log_in(client, fresh_email("bob"))
            monkeypatch.setattr(passwords, "_verify_and_update", slow_verify)
            method, path, body = PASSWORD_CHECKED_REQUESTS[route]
            check = asyncio.create_task(client.request(method, path, json=body, headers=alice.headers))
            assert await asyncio.to_thread(hashing.wait, 10)

            post = await asyncio.wait_for(
                client.post("/posts/", json={"title": "t", "content": "c"}, headers=bob.headers), 4
            )

            assert post.status_code == 201, post.text
            assert not check.done()
            may_finish.set()
            checked = await check
            assert checked.status_code in (200, 204), checked.text
        finally:
            may_finish.set()


async def test_a_password_changed_during_the_check_is_not_taken_for_the_old_one(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash is compared again under the row lock: a check that started before another session changed
    the password cannot then act on the old one."""
    other_session = await log_in(client, alice.email, DEFAULT_PASSWORD)
    hashing, may_finish = threading.Event(), threading.Event()
    verify = passwords._verify_and_update

    def slow_verify(password: str, password_hash: str) -> passwords.Verdict:
        if not hashing.is_set():
            hashing.set()
            may_finish.wait(10)
        return verify(password, password_hash)

    monkeypatch.setattr(passwords, "_verify_and_update", slow_verify)
    email_change = asyncio.create_task(
        patch_me(client, alice.headers, {"email": fresh_email("late"), "current_password": alice.password})
    )
    assert await asyncio.to_thread(hashing.wait, 10)
    # Meanwhile, Alice's own hash is replaced past the API (as a password change would, minus the
    # sessions it ends, so that only the hash comparison can stop the email change).
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(User).where(User.id == alice.id).values(password_hash="$argon2id$other")
        )
    may_finish.set()

    response = await email_change

    assert response.status_code == 403, response.text
    assert response.json() == WRONG_PASSWORD
    assert (await get_me(client, other_session.headers)).json()["email"] == alice.email
