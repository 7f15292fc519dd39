"""An email change mails a link to the new address: with REQUIRE_VERIFIED_EMAIL the change waits for it,
without it the change is made at once and the new address starts unverified."""

import httpx
from fastapi import FastAPI

from postboard.accounts.mails import EMAIL_CHANGED_SUBJECT, VERIFICATION_SUBJECT
from tests.accounts_email.mails import (
    app_requiring_verified_email,
    mails_to,
    nth_mail,
    text_of,
    verification_token,
)
from tests.helpers import (
    DEFAULT_PASSWORD,
    TokenPair,
    fresh_email,
    get_me,
    log_in,
    patch_me,
    post_login,
    register_account,
)
from tests.smtp_server import SmtpServer

INVALID_LINK = {"detail": "This link is invalid or has expired; ask for a new one"}


async def verified_account(
    app: FastAPI, client: httpx.AsyncClient, server: SmtpServer, email: str
) -> TokenPair:
    await register_account(client, email)
    token = await verification_token(server, app, email)
    assert (await client.post("/email/verify", json={"token": token})).status_code == 204
    return await log_in(client, email, DEFAULT_PASSWORD)


async def change_email(client: httpx.AsyncClient, tokens: TokenPair, email: str) -> httpx.Response:
    return await patch_me(client, tokens.headers, {"email": email, "current_password": DEFAULT_PASSWORD})


async def test_without_the_requirement_the_change_is_at_once_and_unverified(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    old, new = fresh_email("old"), fresh_email("new")
    tokens = await verified_account(app, client, smtp_server, old)
    changed = await change_email(client, tokens, new)
    assert changed.status_code == 200
    assert (changed.json()["email"], changed.json()["email_verified"], changed.json()["pending_email"]) == (
        new,
        False,
        None,
    )
    assert (await post_login(client, new, DEFAULT_PASSWORD)).status_code == 200
    assert (await post_login(client, old, DEFAULT_PASSWORD)).status_code == 403
    await app.state.mailer.wait_until_idle()
    notice = await nth_mail(smtp_server, old, EMAIL_CHANGED_SUBJECT)
    assert new in text_of(notice)
    token = await verification_token(smtp_server, app, new)
    assert (await client.post("/email/verify", json={"token": token})).status_code == 204
    assert (await get_me(client, tokens.headers)).json()["email_verified"] is True


async def test_a_link_to_an_address_the_account_left_dies(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    old = fresh_email("old")
    await register_account(client, old)
    tokens = await log_in(client, old, DEFAULT_PASSWORD)
    to_old = await verification_token(smtp_server, app, old)
    assert (await change_email(client, tokens, fresh_email("new"))).status_code == 200
    assert (await client.post("/email/verify", json={"token": to_old})).json() == INVALID_LINK


async def test_with_the_requirement_the_change_waits_for_the_new_address(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (app, client):
        old, new = fresh_email("old"), fresh_email("new")
        tokens = await verified_account(app, client, smtp_server, old)
        changed = await change_email(client, tokens, new)
        assert changed.status_code == 200
        assert (changed.json()["email"], changed.json()["pending_email"]) == (old, new)
        assert changed.json()["email_verified"] is True  # the old address still is
        # Until the new address is verified, the old one stays and logs in.
        assert (await post_login(client, old, DEFAULT_PASSWORD)).status_code == 200
        assert (await post_login(client, new, DEFAULT_PASSWORD)).status_code == 403
        token = await verification_token(smtp_server, app, new)
        assert (await client.post("/email/verify", json={"token": token})).status_code == 204
        me = (await get_me(client, tokens.headers)).json()
        assert (me["email"], me["pending_email"], me["email_verified"]) == (new, None, True)
        assert (await post_login(client, new, DEFAULT_PASSWORD)).status_code == 200
        assert (await post_login(client, old, DEFAULT_PASSWORD)).status_code == 403
        await app.state.mailer.wait_until_idle()
        assert len(mails_to(smtp_server, old, EMAIL_CHANGED_SUBJECT)) == 1


async def test_with_the_requirement_an_address_taken_meanwhile_is_a_conflict(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (app, client):
        old, wanted = fresh_email("old"), fresh_email("wanted")
        tokens = await verified_account(app, client, smtp_server, old)
        assert (await change_email(client, tokens, wanted)).status_code == 200
        token = await verification_token(smtp_server, app, wanted)
        await register_account(client, wanted)  # someone else registers the address meanwhile
        taken = await client.post("/email/verify", json={"token": token})
        assert taken.status_code == 409
        assert taken.json() == {"detail": f"User with email: {wanted} already exists"}
        me = (await get_me(client, tokens.headers)).json()
        assert (me["email"], me["pending_email"]) == (old, wanted)
        # An address taken already is refused at once.
        assert (await change_email(client, tokens, wanted)).status_code == 409


async def test_with_the_requirement_resend_goes_to_the_pending_address(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (app, client):
        old, new = fresh_email("old"), fresh_email("new")
        tokens = await verified_account(app, client, smtp_server, old)
        assert (await change_email(client, tokens, new)).status_code == 200
        # Delivered before the resend is asked: mails sent at once may arrive in either order.
        await app.state.mailer.wait_until_idle()
        assert (await client.post("/email/verify/resend", headers=tokens.headers)).status_code == 202
        await app.state.mailer.wait_until_idle()
        assert len(mails_to(smtp_server, new, VERIFICATION_SUBJECT)) == 2
        token = await verification_token(smtp_server, app, new, number=2)
        assert (await client.post("/email/verify", json={"token": token})).status_code == 204


async def test_with_the_requirement_the_current_address_calls_a_waiting_change_off(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (app, client):
        old, mistyped = fresh_email("old"), fresh_email("mistyped")
        tokens = await verified_account(app, client, smtp_server, old)
        assert (await change_email(client, tokens, mistyped)).json()["pending_email"] == mistyped
        token = await verification_token(smtp_server, app, mistyped)
        kept = await change_email(client, tokens, old)
        assert (kept.json()["email"], kept.json()["pending_email"]) == (old, None)
        assert (await client.post("/email/verify", json={"token": token})).json() == INVALID_LINK
        assert (await client.post("/email/verify/resend", headers=tokens.headers)).status_code == 409
