"""Suspending and reinstating an account: its sessions end, its logins are refused, its posts are hidden
from all but admins, and each action is in the audit log."""

import asyncio

import httpx
from fastapi import FastAPI

from postboard.auth.models import LoginSession
from postboard.moderation.models import AuditEntry
from postboard.users.models import Role
from tests.helpers import (
    ACCOUNT_SUSPENDED,
    INVALID_CREDENTIALS,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    Account,
    MakePost,
    cast_vote,
    count_rows,
    give_role,
    log_in,
    post_login,
    refresh,
    reinstate,
    suspend,
)


def titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [entry["Post"]["title"] for entry in response.json()]


async def test_suspension_ends_every_session_and_refuses_logins(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account
) -> None:
    second = await log_in(client, alice.email, alice.password)

    suspended = await suspend(client, admin, alice.id)

    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["suspended_at"] is not None
    assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 0
    for headers in (alice.headers, second.headers):
        assert (await client.get("/users/me", headers=headers)).json() == INVALID_TOKEN
    assert (await refresh(client, second.refresh)).json() == INVALID_REFRESH_TOKEN
    right = await post_login(client, alice.email, alice.password)
    assert (right.status_code, right.json()) == (403, ACCOUNT_SUSPENDED)
    # A wrong password is told what anyone is told: the suspension shows only to who knows the password.
    wrong = await post_login(client, alice.email, "not alice's password")
    assert (wrong.status_code, wrong.json()) == (403, INVALID_CREDENTIALS)


async def test_reinstating_lets_the_account_log_in_again(
    client: httpx.AsyncClient, admin: Account, alice: Account
) -> None:
    await suspend(client, admin, alice.id)

    reinstated = await reinstate(client, admin, alice.id)

    assert reinstated.status_code == 200, reinstated.text
    assert reinstated.json()["suspended_at"] is None
    tokens = await log_in(client, alice.email, alice.password)
    assert (await client.get("/users/me", headers=tokens.headers)).status_code == 200


async def test_a_suspended_accounts_posts_are_hidden_from_all_but_admins(
    client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    hidden = await make_post(alice, title="Alice's")
    await make_post(bob, title="Bob's")

    await suspend(client, admin, alice.id)

    assert titles(await client.get("/posts/", headers=bob.headers)) == ["Bob's"]
    assert titles(await client.get("/posts/?search=Alice", headers=bob.headers)) == []
    assert (await client.get(f"/posts/{hidden['id']}", headers=bob.headers)).status_code == 404
    assert (await cast_vote(client, bob, hidden["id"], 1)).status_code == 404
    assert titles(await client.get("/posts/", headers=admin.headers)) == ["Bob's", "Alice's"]
    assert (await client.get(f"/posts/{hidden['id']}", headers=admin.headers)).status_code == 200

    await reinstate(client, admin, alice.id)

    assert titles(await client.get("/posts/", headers=bob.headers)) == ["Bob's", "Alice's"]
    assert (await cast_vote(client, bob, hidden["id"], 1)).status_code == 201


async def test_a_full_page_of_others_posts_is_not_shortened_by_hidden_ones(
    client: httpx.AsyncClient, admin: Account, alice: Account, bob: Account, make_post: MakePost
) -> None:
    for n in range(3):
        await make_post(bob, title=f"Bob {n}")
        await make_post(alice, title=f"Alice {n}")
    await suspend(client, admin, alice.id)

    page = titles(await client.get("/posts/?limit=3", headers=bob.headers))

    assert page == ["Bob 2", "Bob 1", "Bob 0"]


async def test_suspend_and_reinstate_are_in_the_audit_log(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account
) -> None:
    await suspend(client, admin, alice.id)
    await reinstate(client, admin, alice.id)

    log = await client.get("/admin/audit-log", headers=admin.headers)

    assert log.status_code == 200, log.text
    entries = [
        {
            key: entry[key]
            for key in ("actor_id", "actor_email", "action", "target_type", "target_id", "target")
        }
        for entry in log.json()
    ]
    expected = {"actor_id": admin.id, "actor_email": admin.email, "target_type": "account"}
    expected |= {"target_id": alice.id, "target": alice.email}
    assert entries[:2] == [{**expected, "action": "reinstate"}, {**expected, "action": "suspend"}]
    assert all(entry["reason"] == "Spam, reported three times" for entry in log.json()[:2])
    assert await count_rows(app, AuditEntry, AuditEntry.action.in_(["suspend", "reinstate"])) == 2


async def test_the_state_must_change(client: httpx.AsyncClient, admin: Account, alice: Account) -> None:
    assert (await reinstate(client, admin, alice.id)).status_code == 409
    await suspend(client, admin, alice.id)
    again = await suspend(client, admin, alice.id)
    assert (again.status_code, again.json()) == (409, {"detail": "The account is already suspended"})


async def test_nobody_suspends_themselves(client: httpx.AsyncClient, app: FastAPI, admin: Account) -> None:
    oneself = await suspend(client, admin, admin.id)
    assert (oneself.status_code, oneself.json()) == (403, {"detail": "You cannot suspend your own account"})
    assert await count_rows(app, AuditEntry, AuditEntry.action == "suspend") == 0


async def test_another_admin_cannot_be_suspended(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account
) -> None:
    await give_role(app, alice.email, Role.ADMIN)

    refused = await suspend(client, admin, alice.id)

    assert refused.status_code == 409
    assert refused.json() == {"detail": "Admins cannot be suspended; make the account a member first"}


async def test_unknown_accounts_are_404(client: httpx.AsyncClient, admin: Account) -> None:
    for account_id in (999_999, 2**31, 2**63):
        assert (await suspend(client, admin, account_id)).status_code == 404
        assert (await reinstate(client, admin, account_id)).status_code == 404


async def test_a_login_racing_a_suspension_leaves_no_live_session(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account
) -> None:
    for _ in range(5):
        login, suspended = await asyncio.gather(
            post_login(client, alice.email, alice.password), suspend(client, admin, alice.id)
        )

        assert suspended.status_code == 200, suspended.text
        assert login.status_code in (200, 403), login.text
        assert await count_rows(app, LoginSession, LoginSession.user_id == alice.id) == 0
        if login.status_code == 200:  # logged in first: its session ended with the suspension
            me = await client.get(
                "/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
            )
            assert me.status_code == 401
        else:
            assert login.json() == ACCOUNT_SUSPENDED
        assert (await reinstate(client, admin, alice.id)).status_code == 200
