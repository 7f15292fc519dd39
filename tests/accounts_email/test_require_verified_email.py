"""REQUIRE_VERIFIED_EMAIL: writing and replacing posts and voting need a verified email (403 saying so);
deleting one's own posts does not. Off (the default), an unverified account writes as before."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from postboard.users.models import User
from tests.accounts_email.mails import verification_token
from tests.helpers import (
    DEFAULT_PASSWORD,
    Account,
    cast_vote,
    fresh_email,
    log_in,
    register_account,
    running_app,
)
from tests.smtp_server import SmtpServer

EMAIL_NOT_VERIFIED = {
    "detail": "Verify your email address first: follow the link we mailed you, or ask for a new one"
}
POST = {"title": "A title", "content": "Some content"}


@pytest.fixture(params=[True, False], ids=["required", "not-required"])
async def required_app(
    request: pytest.FixtureRequest, database_url: str, smtp_server: SmtpServer
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, bool]]:
    required: bool = request.param
    async with running_app(
        database_url, require_verified_email=required, **smtp_server.settings_overrides()
    ) as (app, client):
        yield app, client, required


async def account(client: httpx.AsyncClient) -> Account:
    email = fresh_email()
    user_id = await register_account(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    return Account(user_id, email, DEFAULT_PASSWORD, tokens.access)


async def set_verified(app: FastAPI, user_id: int, verified: bool) -> None:
    async with app.state.database.engine.begin() as connection:
        await connection.execute(
            update(User)
            .where(User.id == user_id)
            .values(email_verified_at=User.created_at if verified else None)
        )


async def test_unverified_writes(required_app: tuple[FastAPI, httpx.AsyncClient, bool]) -> None:
    app, client, required = required_app
    writer = await account(client)
    await set_verified(app, writer.id, True)
    post = await client.post("/posts/", json=POST, headers=writer.headers)
    assert post.status_code == 201
    post_id = post.json()["id"]
    await set_verified(app, writer.id, False)
    answers = [
        await client.post("/posts/", json=POST, headers=writer.headers),
        await client.put(f"/posts/{post_id}", json=POST, headers=writer.headers),
        await cast_vote(client, writer, post_id, 1),
    ]
    if required:
        assert [answer.status_code for answer in answers] == [403, 403, 403]
        assert all(answer.json() == EMAIL_NOT_VERIFIED for answer in answers)
    else:
        assert [answer.status_code for answer in answers] == [201, 200, 201]
    # Deleting one's own post never needs it.
    assert (await client.delete(f"/posts/{post_id}", headers=writer.headers)).status_code == 204


async def test_following_the_link_lets_an_account_write(
    required_app: tuple[FastAPI, httpx.AsyncClient, bool], smtp_server: SmtpServer
) -> None:
    app, client, _required = required_app
    writer = await account(client)
    token = await verification_token(smtp_server, app, writer.email)
    assert (await client.post("/email/verify", json={"token": token})).status_code == 204
    assert (await client.post("/posts/", json=POST, headers=writer.headers)).status_code == 201
