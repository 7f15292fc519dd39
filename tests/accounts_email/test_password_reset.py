"""POST /password/forgot and POST /password/reset: the mailed link, read from a real SMTP server, sets a
new password once, ends every login session, and dies with time, a newer link or another change."""

import asyncio
import hashlib
import logging
import secrets
from datetime import timedelta
from typing import NamedTuple

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from postboard.accounts.mails import RESET_SUBJECT
from postboard.accounts.models import AccountToken, TokenPurpose
from postboard.orm import utc_now
from tests.accounts_email.mails import link_in, mails_to, nth_mail, reset_token, text_of, verification_token
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NEW_PASSWORD,
    assert_throttled,
    change_password,
    fresh_email,
    get_me,
    log_in,
    patch_me,
    post_login,
    refresh,
    register_account,
    running_app,
)
from tests.smtp_server import SmtpServer

INVALID_LINK = {"detail": "This link is invalid or has expired; ask for a new one"}
RESET_LINK_SENT = {"message": "If an account has this email, a link to reset its password is on its way"}
TOO_MANY_PASSWORD_RESETS = {"detail": "Too many password reset requests, try again later"}


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/password/forgot", json={"email": email})


async def reset(client: httpx.AsyncClient, token: object, new_password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post("/password/reset", json={"token": token, "new_password": new_password})


class AskedForReset(NamedTuple):
    """A new account that asked for a reset link, and the token of the link it was mailed."""

    email: str
    user_id: int
    token: str


async def asked_for_reset(app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer) -> AskedForReset:
    email = fresh_email()
    user_id = await register_account(client, email)
    await forgot(client, email)
    return AskedForReset(email, user_id, await reset_token(smtp_server, app, email))


async def test_known_and_unknown_emails_get_the_same_answer_and_only_an_account_gets_mail(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    known, unknown = fresh_email("known"), fresh_email("unknown")
    await register_account(client, known)
    answers = [await forgot(client, known), await forgot(client, unknown)]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert answers[0].json() == answers[1].json() == RESET_LINK_SENT
    assert answers[0].headers["content-length"] == answers[1].headers["content-length"]
    await reset_token(smtp_server, app, known)
    assert smtp_server.mails_to(unknown) == []


async def test_the_link_sets_the_password_and_ends_every_login_session(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    email = fresh_email()
    user_id = await register_account(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    # The link's host is PUBLIC_URL's (unset: the development server's), never the Host the request named.
    assert (
        await client.post("/password/forgot", json={"email": email}, headers={"Host": "evil.example"})
    ).status_code == 202
    mail = await nth_mail(smtp_server, email, RESET_SUBJECT)
    link = link_in(mail)
    assert link.startswith("http://127.0.0.1:8000/web/password/reset?token=")
    assert "expires in 30 minutes" in text_of(mail)
    token = await reset_token(smtp_server, app, email)
    assert len(token) >= 43  # 256 random bits
    with caplog.at_level(logging.INFO, logger="postboard.auth"):
        assert (await reset(client, token)).status_code == 204
    events = [(getattr(record, "event", None), getattr(record, "user_id", None)) for record in caplog.records]
    assert ("password_reset", user_id) in events
    assert (await get_me(client, tokens.headers)).json() == INVALID_TOKEN
    assert (await refresh(client, tokens.refresh)).json() == INVALID_REFRESH_TOKEN
    assert (await post_login(client, email, DEFAULT_PASSWORD)).status_code == 403
    assert (await post_login(client, email, NEW_PASSWORD)).status_code == 200


async def test_only_the_hash_of_a_token_is_stored(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    _, user_id, token = await asked_for_reset(app, client, smtp_server)
    async with app.state.database.engine.connect() as connection:
        stored = (
            await connection.execute(
                select(AccountToken.token_hash).where(
                    AccountToken.user_id == user_id, AccountToken.purpose == TokenPurpose.PASSWORD_RESET
                )
            )
        ).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert stored != token


async def test_a_reset_proves_the_address(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await register_account(client, email)
    await forgot(client, email)
    assert (await reset(client, await reset_token(smtp_server, app, email))).status_code == 204
    tokens = await log_in(client, email, NEW_PASSWORD)
    assert (await get_me(client, tokens.headers)).json()["email_verified"] is True


async def test_a_link_works_once(app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer) -> None:
    email, _, token = await asked_for_reset(app, client, smtp_server)
    assert (await reset(client, token)).status_code == 204
    again = await reset(client, token, "yet another passphrase")
    assert again.status_code == 400
    assert again.json() == INVALID_LINK
    assert (await post_login(client, email, NEW_PASSWORD)).status_code == 200


async def test_two_resets_racing_with_one_link_one_wins(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email, _, token = await asked_for_reset(app, client, smtp_server)
    passwords = ["the first racer's password", "the second racer's password"]
    answers = await asyncio.gather(*(reset(client, token, password) for password in passwords))
    assert sorted(answer.status_code for answer in answers) == [204, 400]
    winner = passwords[[answer.status_code for answer in answers].index(204)]
    assert (await post_login(client, email, winner)).status_code == 200


async def test_an_expired_link_is_refused(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email, user_id, token = await asked_for_reset(app, client, smtp_server)
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(AccountToken)
            .where(AccountToken.user_id == user_id, AccountToken.purpose == TokenPurpose.PASSWORD_RESET)
            .values(expires_at=utc_now() - timedelta(seconds=1))
        )
    assert (await reset(client, token)).json() == INVALID_LINK
    assert (await post_login(client, email, DEFAULT_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    "token",
    [secrets.token_urlsafe(32), "", "x", "not a token at all", "\x00", "x" * 256],
    ids=["made-up", "empty", "short", "spaces", "nul", "longest"],
)
async def test_made_up_and_malformed_tokens_get_one_answer(client: httpx.AsyncClient, token: str) -> None:
    answer = await reset(client, token)
    assert answer.status_code == 400, answer.text
    assert answer.json() == INVALID_LINK


async def test_a_token_that_is_no_text_is_invalid_input(client: httpx.AsyncClient) -> None:
    lone_surrogate = b'{"token": "\\ud800", "new_password": "a brand new passphrase"}'
    headers = {"Content-Type": "application/json"}
    assert (await client.post("/password/reset", content=lone_surrogate, headers=headers)).status_code == 422
    for token in (42, None, ["x"]):
        assert (await reset(client, token)).status_code == 422


async def test_a_token_far_too_long_is_invalid_input(client: httpx.AsyncClient) -> None:
    assert (await reset(client, "x" * 257)).status_code == 422


async def test_the_new_password_follows_the_registration_rules(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    token = (await asked_for_reset(app, client, smtp_server)).token
    assert (await reset(client, token, "short")).status_code == 422
    assert (await reset(client, token, "x" * 257)).status_code == 422
    assert (await reset(client, token)).status_code == 204  # the refusals spent nothing


async def test_a_newer_link_ends_the_older(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await register_account(client, email)
    await forgot(client, email)
    older = await reset_token(smtp_server, app, email)
    await forgot(client, email)
    newer = await reset_token(smtp_server, app, email, number=2)
    assert (await reset(client, older)).json() == INVALID_LINK
    assert (await reset(client, newer)).status_code == 204


async def test_a_password_change_ends_the_link(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email, _, token = await asked_for_reset(app, client, smtp_server)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    assert (
        await change_password(client, tokens.headers, DEFAULT_PASSWORD, "changed another way")
    ).status_code == 204
    assert (await reset(client, token)).json() == INVALID_LINK


async def test_an_email_change_ends_the_link(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email, _, token = await asked_for_reset(app, client, smtp_server)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    changed = await patch_me(
        client, tokens.headers, {"email": fresh_email("moved"), "current_password": DEFAULT_PASSWORD}
    )
    assert changed.status_code == 200
    assert (await reset(client, token)).json() == INVALID_LINK


async def test_a_deleted_account_gets_no_link_and_its_link_dies(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email, _, token = await asked_for_reset(app, client, smtp_server)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    deleted = await client.request(
        "DELETE", "/users/me", json={"password": DEFAULT_PASSWORD}, headers=tokens.headers
    )
    assert deleted.status_code == 204
    assert (await reset(client, token)).json() == INVALID_LINK


async def test_requests_are_budgeted_per_email_known_or_not(
    database_url: str, smtp_server: SmtpServer, redis_url: str
) -> None:
    async with running_app(
        database_url,
        rate_limits=True,
        redis_url=redis_url,
        password_reset_limit_per_account="2/hour",
        **smtp_server.settings_overrides(),
    ) as (app, client):
        known, unknown = fresh_email("known"), fresh_email("unknown")
        await register_account(client, known)
        for email in (known, unknown):
            for _ in range(2):
                assert (await forgot(client, email)).status_code == 202
            assert_throttled(await forgot(client, email), TOO_MANY_PASSWORD_RESETS, max_seconds=3600)
        await app.state.mailer.wait_until_idle()
        assert len(mails_to(smtp_server, known, RESET_SUBJECT)) == 2
        # Another address is not held up by these two.
        assert (await forgot(client, fresh_email())).status_code == 202


async def test_requests_are_budgeted_per_client_address(database_url: str, redis_url: str) -> None:
    async with running_app(
        database_url, rate_limits=True, redis_url=redis_url, password_reset_limit_per_address="3/minute"
    ) as (app, client):
        for _ in range(3):
            assert (await forgot(client, fresh_email())).status_code == 202
        assert_throttled(await forgot(client, fresh_email()), TOO_MANY_PASSWORD_RESETS)
        # Spent, the address is refused before its body is read.
        assert_throttled(
            await client.post("/password/forgot", content=b"{not json"), TOO_MANY_PASSWORD_RESETS
        )
        await app.state.mailer.wait_until_idle()


async def test_an_email_that_no_account_could_have_is_invalid_input(client: httpx.AsyncClient) -> None:
    for body in ({"email": "not an email"}, {"email": "a@b.test"}, {}, {"email": "x@example.com", "more": 1}):
        assert (await client.post("/password/forgot", json=body)).status_code == 422, body


async def test_registration_mail_and_reset_mail_are_apart(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    """The verification link is no reset link, nor the other way round."""
    email = fresh_email()
    await register_account(client, email)
    verification = await verification_token(smtp_server, app, email)
    assert (await reset(client, verification)).json() == INVALID_LINK
    await forgot(client, email)
    token = await reset_token(smtp_server, app, email)
    assert (await client.post("/email/verify", json={"token": token})).json() == INVALID_LINK
    assert (await reset(client, token)).status_code == 204
