"""The account page: changing the email or the password and deleting the account, through the services of
`/users/me`, with the password asked each time and the services' errors told in the page."""

import httpx
from fastapi import FastAPI

from tests.helpers import (
    DEFAULT_PASSWORD,
    NEW_PASSWORD,
    fresh_email,
    in_process_client,
    log_in,
    post_login,
    register_account,
    running_app,
)
from tests.web.browser import WEB, csrf_token, login_redirect, signed_in, submit, web_log_in, write_post

ACCOUNT = f"{WEB}/account"


async def test_the_account_page_shows_the_account(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    page = await client.get(ACCOUNT)
    assert page.status_code == 200
    assert f"Signed in as <strong>{email}</strong>" in page.text
    for label in ('for="new-email"', 'for="current-password"', 'for="new-password"', 'for="delete-password"'):
        assert label in page.text


async def test_changing_the_email(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    new_email = fresh_email("renamed")
    response = await submit(
        client, ACCOUNT, f"{ACCOUNT}/email", email=new_email, current_password=DEFAULT_PASSWORD
    )
    assert response.headers["location"] == f"{ACCOUNT}?notice=email-changed"
    page = await client.get(response.headers["location"])
    assert "Your email was changed." in page.text
    assert f"Signed in as <strong>{new_email}</strong>" in page.text
    assert (await post_login(client, new_email, DEFAULT_PASSWORD)).status_code == 200


async def test_an_email_change_refused_is_told_with_the_new_email_kept(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    taken = fresh_email("taken")
    await register_account(client, taken)
    wrong = await submit(
        client, ACCOUNT, f"{ACCOUNT}/email", email=taken, current_password="not the password at all"
    )
    assert wrong.status_code == 403
    assert "The current password is incorrect" in wrong.text
    assert f'value="{taken}"' in wrong.text
    assert "not the password at all" not in wrong.text
    conflict = await submit(
        client, ACCOUNT, f"{ACCOUNT}/email", email=taken, current_password=DEFAULT_PASSWORD
    )
    assert conflict.status_code == 409
    assert f"User with email: {taken} already exists" in conflict.text
    invalid = await submit(
        client, ACCOUNT, f"{ACCOUNT}/email", email="not an email", current_password=DEFAULT_PASSWORD
    )
    assert invalid.status_code == 422
    assert "New email " in invalid.text


async def test_changing_the_password_ends_every_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    async with in_process_client(app) as other_tab:
        assert (await web_log_in(other_tab, email)).status_code == 303
        response = await submit(
            client,
            ACCOUNT,
            f"{ACCOUNT}/password",
            current_password=DEFAULT_PASSWORD,
            new_password=NEW_PASSWORD,
        )
        assert response.headers["location"] == f"{WEB}/login?notice=password-changed"
        assert "postboard_session" not in client.cookies
        ended = await other_tab.get(f"{WEB}/")
        assert ended.headers["location"] == login_redirect(f"{WEB}/", "ended")
    assert (await client.get("/users/me", headers=tokens.headers)).status_code == 401
    assert (await web_log_in(client, email, NEW_PASSWORD)).status_code == 303


async def test_a_password_change_refused_is_told(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    wrong = await submit(
        client,
        ACCOUNT,
        f"{ACCOUNT}/password",
        current_password="not the password at all",
        new_password=NEW_PASSWORD,
    )
    assert wrong.status_code == 403
    assert "The current password is incorrect" in wrong.text
    short = await submit(
        client, ACCOUNT, f"{ACCOUNT}/password", current_password=DEFAULT_PASSWORD, new_password="short"
    )
    assert short.status_code == 422
    assert "New password must be at least 8 characters long." in short.text
    assert (await client.get(f"{WEB}/")).status_code == 200  # still signed in


async def test_wrong_passwords_are_throttled_with_the_wait_told(database_url: str) -> None:
    async with running_app(database_url, rate_limits=True, password_check_limit_per_session="1/minute") as (
        _app,
        client,
    ):
        await signed_in(client, fresh_email())
        fields = {"current_password": "not the password at all", "new_password": NEW_PASSWORD}
        assert (await submit(client, ACCOUNT, f"{ACCOUNT}/password", **fields)).status_code == 403
        throttled = await submit(client, ACCOUNT, f"{ACCOUNT}/password", **fields)
        assert throttled.status_code == 429
        assert "Too many wrong passwords on this login session, try again later (wait " in throttled.text


async def test_deleting_the_account_asks_for_the_password(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    await write_post(client, "Going away")
    wrong = await submit(client, ACCOUNT, f"{ACCOUNT}/delete", password="not the password at all")
    assert wrong.status_code == 403
    assert (await client.get(f"{WEB}/")).status_code == 200
    response = await submit(client, ACCOUNT, f"{ACCOUNT}/delete", password=DEFAULT_PASSWORD)
    assert response.headers["location"] == f"{WEB}/login?notice=account-deleted"
    assert "Your account was deleted" in (await client.get(response.headers["location"])).text
    assert (await post_login(client, email, DEFAULT_PASSWORD)).status_code == 403


async def test_account_forms_need_their_csrf_token(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    token = csrf_token(await client.get(ACCOUNT))
    wrong_token = token[:-1] + ("1" if token.endswith("0") else "0")
    for action, fields in (
        ("email", {"email": fresh_email(), "current_password": DEFAULT_PASSWORD}),
        ("password", {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}),
        ("delete", {"password": DEFAULT_PASSWORD}),
    ):
        refused = await client.post(f"{ACCOUNT}/{action}", data={**fields, "csrf_token": wrong_token})
        assert refused.status_code == 403, action
    assert (await client.get(f"{WEB}/")).status_code == 200  # nothing was changed or deleted
