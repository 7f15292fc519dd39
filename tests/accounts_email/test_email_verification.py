"""Registration mails a verification link; POST /email/verify follows it, POST /email/verify/resend sends
a new one; GET /users/me tells whether the address is verified."""

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from postboard.accounts.mails import VERIFICATION_SUBJECT
from postboard.accounts.models import AccountToken
from postboard.orm import utc_now
from tests.accounts_email.mails import link_in, mails_to, nth_mail, text_of, verification_token
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_TOKEN,
    assert_throttled,
    fresh_email,
    get_me,
    log_in,
    register,
    register_account,
    running_app,
)
from tests.smtp_server import SmtpServer

INVALID_LINK = {"detail": "This link is invalid or has expired; ask for a new one"}
NOTHING_TO_VERIFY = {"detail": "The email address is already verified"}
VERIFICATION_LINK_SENT = {"message": "A new verification link is on its way"}
TOO_MANY_VERIFICATION_MAILS = {"detail": "Too many verification emails for this account, try again later"}


async def verify(client: httpx.AsyncClient, token: object) -> httpx.Response:
    return await client.post("/email/verify", json={"token": token})


async def resend(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/email/verify/resend", headers=headers)


async def test_registration_mails_a_link_that_verifies_the_address(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await register_account(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    me = (await get_me(client, tokens.headers)).json()
    assert (me["email_verified"], me["pending_email"]) == (False, None)
    await app.state.mailer.wait_until_idle()
    mail = await nth_mail(smtp_server, email, VERIFICATION_SUBJECT)
    assert link_in(mail).startswith("http://127.0.0.1:8000/web/email/verify?token=")
    assert "expires in 48 hours" in text_of(mail)
    token = await verification_token(smtp_server, app, email)
    assert (await verify(client, token)).status_code == 204
    assert (await get_me(client, tokens.headers)).json()["email_verified"] is True
    assert (await verify(client, token)).json() == INVALID_LINK  # once


async def test_two_uses_racing_with_one_link_one_wins(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await register_account(client, email)
    token = await verification_token(smtp_server, app, email)
    answers = await asyncio.gather(verify(client, token), verify(client, token))
    assert sorted(answer.status_code for answer in answers) == [204, 400]


async def test_the_links_point_at_public_url(database_url: str, smtp_server: SmtpServer) -> None:
    async with running_app(
        database_url, public_url="https://board.example/", **smtp_server.settings_overrides()
    ) as (app, client):
        email = fresh_email()
        await register_account(client, email)
        await app.state.mailer.wait_until_idle()
        link = link_in(await nth_mail(smtp_server, email, VERIFICATION_SUBJECT))
        assert link.startswith("https://board.example/web/email/verify?token=")


async def test_a_refused_registration_mails_nothing(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await register_account(client, email)
    assert (await register(client, email)).status_code == 409
    await app.state.mailer.wait_until_idle()
    assert len(mails_to(smtp_server, email, VERIFICATION_SUBJECT)) == 1


async def test_resend_mails_a_new_link_and_the_old_one_dies(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await register_account(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    first = await verification_token(smtp_server, app, email)
    answer = await resend(client, tokens.headers)
    assert answer.status_code == 202
    assert answer.json() == VERIFICATION_LINK_SENT
    second = await verification_token(smtp_server, app, email, number=2)
    assert (await verify(client, first)).json() == INVALID_LINK
    assert (await verify(client, second)).status_code == 204
    assert (await resend(client, tokens.headers)).json() == NOTHING_TO_VERIFY
    assert (await resend(client, tokens.headers)).status_code == 409


async def test_resend_needs_a_live_bearer_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/email/verify/resend")).status_code == 401
    assert (await resend(client, {"Authorization": "Bearer nonsense"})).json() == INVALID_TOKEN


async def test_resends_are_budgeted_per_account(
    database_url: str, smtp_server: SmtpServer, redis_url: str
) -> None:
    async with running_app(
        database_url,
        rate_limits=True,
        redis_url=redis_url,
        verification_resend_limit_per_account="2/hour",
        **smtp_server.settings_overrides(),
    ) as (app, client):
        email = fresh_email()
        await register_account(client, email)
        tokens = await log_in(client, email, DEFAULT_PASSWORD)
        for _ in range(2):
            assert (await resend(client, tokens.headers)).status_code == 202
        assert_throttled(await resend(client, tokens.headers), TOO_MANY_VERIFICATION_MAILS, max_seconds=3600)
        await app.state.mailer.wait_until_idle()
        assert len(mails_to(smtp_server, email, VERIFICATION_SUBJECT)) == 3  # registration's, then two
        other = fresh_email()
        await register_account(client, other)
        other_tokens = await log_in(client, other, DEFAULT_PASSWORD)
        assert (await resend(client, other_tokens.headers)).status_code == 202


async def test_an_expired_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    user_id = await register_account(client, email)
    token = await verification_token(smtp_server, app, email)
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(AccountToken)
            .where(AccountToken.user_id == user_id)
            .values(expires_at=utc_now() - timedelta(1))
        )
    assert (await verify(client, token)).json() == INVALID_LINK


async def test_made_up_tokens_are_refused(client: httpx.AsyncClient) -> None:
    for token in ("", "made-up", "A" * 43, "x" * 256):
        assert (await verify(client, token)).json() == INVALID_LINK
    assert (await verify(client, "x" * 257)).status_code == 422
    assert (await client.post("/email/verify", json={"token": "x", "extra": 1})).status_code == 422
