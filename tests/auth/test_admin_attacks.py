"""Every admin route against those who must not pass: a member, no token, a suspended account's old tokens,
and an admin made a member while holding a token. The routes are read off the app, so a route added under
/admin later is attacked too."""

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from postboard.app import create_app
from postboard.moderation.models import AuditEntry
from postboard.users.models import Role
from tests.helpers import (
    A_REASON,
    ADMINS_ONLY,
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    Account,
    MakePost,
    count_rows,
    give_role,
    log_in,
    make_settings,
    refresh,
    suspend,
)

# Every admin route the app has when this was written: the enumeration below must find at least these.
KNOWN_ADMIN_ROUTES = {
    ("GET", "/admin/users"),
    ("POST", "/admin/users/{id}/suspend"),
    ("POST", "/admin/users/{id}/reinstate"),
    ("DELETE", "/admin/posts/{id}"),
    ("GET", "/admin/reports"),
    ("DELETE", "/admin/reports/{id}"),
    ("GET", "/admin/audit-log"),
}


def admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves under /admin, its hidden aliases included."""
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/admin")
        for method in route.methods or ()
    )


def test_the_enumeration_finds_every_admin_route() -> None:
    app = create_app(make_settings("sqlite+aiosqlite://"))

    assert set(admin_routes(app)) >= KNOWN_ADMIN_ROUTES


async def call(
    client: httpx.AsyncClient, method: str, path: str, target_id: int, headers: dict[str, str]
) -> httpx.Response:
    """The route called as an admin would call it: a real target, a valid reason."""
    url = re.sub(r"\{[^}]+\}", str(target_id), path)
    body = None if method == "GET" else A_REASON
    return await client.request(method, url, json=body, headers=headers)


async def test_a_member_is_refused_every_admin_route(
    client: httpx.AsyncClient, app: FastAPI, alice: Account, bob: Account, make_post: MakePost
) -> None:
    post_id = (await make_post(bob))["id"]
    assert isinstance(post_id, int)
    for method, path in admin_routes(app):
        for target_id in (bob.id, post_id):
            response = await call(client, method, path, target_id, alice.headers)
            assert (response.status_code, response.json()) == (403, ADMINS_ONLY), (method, path)
    # Nothing happened to the targets, and nothing was logged as done.
    assert (await client.get(f"/posts/{post_id}", headers=bob.headers)).status_code == 200
    assert (await client.get("/users/me", headers=bob.headers)).status_code == 200
    assert await count_rows(app, AuditEntry) == 0


async def test_no_token_and_a_bad_token_get_401(
    client: httpx.AsyncClient, app: FastAPI, admin: Account
) -> None:
    for method, path in admin_routes(app):
        missing = await call(client, method, path, admin.id, {})
        assert (missing.status_code, missing.json()) == (401, NOT_AUTHENTICATED), (method, path)
        forged = await call(client, method, path, admin.id, {"Authorization": f"Bearer {admin.token}x"})
        assert (forged.status_code, forged.json()) == (401, INVALID_TOKEN), (method, path)


async def test_an_admin_made_a_member_is_refused_at_the_next_request(
    client: httpx.AsyncClient, app: FastAPI, admin: Account
) -> None:
    assert (await client.get("/admin/users", headers=admin.headers)).status_code == 200

    await give_role(app, admin.email, Role.MEMBER)

    for method, path in admin_routes(app):
        response = await call(client, method, path, admin.id, admin.headers)
        assert (response.status_code, response.json()) == (403, ADMINS_ONLY), (method, path)


async def test_a_suspended_accounts_old_tokens_are_dead(
    client: httpx.AsyncClient, app: FastAPI, admin: Account, alice: Account, make_post: MakePost
) -> None:
    tokens = await log_in(client, alice.email, alice.password)
    post = await make_post(alice)
    await suspend(client, admin, alice.id)

    for headers in (alice.headers, tokens.headers):
        for method, path in [
            ("GET", "/users/me"),
            ("GET", "/posts/"),
            ("POST", f"/posts/{post['id']}/report"),
        ]:
            response = await client.request(method, path, json=A_REASON, headers=headers)
            assert (response.status_code, response.json()) == (401, INVALID_TOKEN), (method, path)
        for method, path in admin_routes(app):
            response = await call(client, method, path, alice.id, headers)
            assert (response.status_code, response.json()) == (401, INVALID_TOKEN), (method, path)
    assert (await refresh(client, tokens.refresh)).json() == INVALID_REFRESH_TOKEN


async def test_an_admins_ended_login_session_is_401(
    client: httpx.AsyncClient, app: FastAPI, admin: Account
) -> None:
    assert (await client.post("/logout", headers=admin.headers)).status_code == 204

    for method, path in admin_routes(app):
        response = await call(client, method, path, admin.id, admin.headers)
        assert (response.status_code, response.json()) == (401, INVALID_TOKEN), (method, path)


@pytest.mark.parametrize("status", ["401", "403"])
def test_openapi_documents_the_refusals_on_every_admin_route(status: str) -> None:
    app = create_app(make_settings("sqlite+aiosqlite://"))
    paths = app.openapi()["paths"]

    documented = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/admin")
        for method, operation in operations.items()
        if status in operation["responses"]
    ]

    assert set(documented) == {(method, path) for method, path in admin_routes(app)}
    assert all(
        operation["tags"] == ["Admin"]
        for path in paths
        if path.startswith("/admin")
        for operation in paths[path].values()
    )
