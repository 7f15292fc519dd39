"""GET /admin/users: every account with its role, suspension and post count; searched and paged."""

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from postboard.orm import utc_now
from postboard.users.models import User
from tests.helpers import Account, MakeAccount, MakePost, suspend


def emails(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [account["email"] for account in response.json()]


async def test_accounts_newest_first_with_role_suspension_verification_and_posts(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    async with app.state.database.engine.begin() as connection:
        await connection.execute(update(User).where(User.id == alice.id).values(email_verified_at=utc_now()))
    await make_post(alice)
    await make_post(alice, published=False)
    await suspend(client, admin, bob.id)

    response = await client.get("/admin/users", headers=admin.headers)

    assert emails(response) == [bob.email, alice.email, admin.email]
    by_email = {account["email"]: account for account in response.json()}
    assert by_email[alice.email]["post_count"] == 2
    assert (by_email[alice.email]["role"], by_email[alice.email]["suspended_at"]) == ("member", None)
    assert by_email[bob.email]["suspended_at"] is not None
    assert by_email[admin.email]["role"] == "admin"
    assert (by_email[alice.email]["email_verified"], by_email[bob.email]["email_verified"]) == (True, False)
    assert "password" not in response.text
    assert "hash" not in response.text


async def test_search_is_a_literal_case_insensitive_substring(
    client: httpx.AsyncClient, admin: Account, make_account: MakeAccount
) -> None:
    await make_account("ann_lee@example.com")
    await make_account("annXlee@example.com")

    assert emails(await client.get("/admin/users?search=ANN_", headers=admin.headers)) == [
        "ann_lee@example.com"
    ]
    assert emails(await client.get("/admin/users?search=%25", headers=admin.headers)) == []
    assert len(emails(await client.get("/admin/users?search=example", headers=admin.headers))) == 3


async def test_pages(client: httpx.AsyncClient, admin: Account, make_account: MakeAccount) -> None:
    made = [(await make_account()).email for _ in range(3)]

    first = emails(await client.get("/admin/users?limit=2", headers=admin.headers))
    rest = emails(await client.get("/admin/users?limit=2&skip=2", headers=admin.headers))

    assert first + rest == [*reversed(made), admin.email]


async def test_bad_parameters_are_422(client: httpx.AsyncClient, admin: Account) -> None:
    for query in ("limit=0", "limit=101", "skip=-1", "search=" + "x" * 321, "search=%00"):
        assert (await client.get(f"/admin/users?{query}", headers=admin.headers)).status_code == 422, query
