"""Browser sessions: the forms that register, log in and log out, the cookie they set and its flags, the
login sessions it names ending as a token's do, CSRF, and the API never taking the cookie."""

from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_TOKEN,
    NEW_PASSWORD,
    NOT_AUTHENTICATED,
    TOO_MANY_LOGIN_FAILURES,
    fresh_email,
    in_process_client,
    log_in,
    make_settings,
    post_login,
    refresh,
    register,
    register_account,
    running_app,
)
from tests.web.browser import (
    WEB,
    csrf_token,
    login_redirect,
    signed_in,
    submit,
    web_log_in,
    web_register,
)

SESSION_COOKIE = "postboard_session"
FORM_COOKIE = "postboard_form"


def set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    """The response's Set-Cookie for `name`, parsed."""
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers}")


async def test_login_sets_an_httponly_lax_session_cookie(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    assert (await web_register(client, email)).headers["location"] == f"{WEB}/login?notice=registered"
    response = await web_log_in(client, email)
    assert response.status_code == 303
    morsel = set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]  # no PUBLIC_URL: plain HTTP in development
    assert int(morsel["max-age"]) > 0
    feed = await client.get(f"{WEB}/")
    assert feed.status_code == 200
    assert "<h1>Feed</h1>" in feed.text


async def test_cookies_are_secure_and_host_only_when_the_public_url_is_https(database_url: str) -> None:
    """Over HTTPS the names take the __Host- prefix: a browser keeps them only as set here (Secure,
    Path=/, no Domain), so a neighbouring subdomain cannot plant a login of its choosing."""
    async with (
        running_app(database_url, public_url="https://postboard.example") as (app, _client),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://postboard.test"
        ) as client,
    ):
        form = await client.get(f"{WEB}/login")
        form_cookie = set_cookie(form, f"__Host-{FORM_COOKIE}")[f"__Host-{FORM_COOKIE}"]
        assert form_cookie["secure"] is True
        assert form_cookie["path"] == "/"
        assert not form_cookie["domain"]
        email = fresh_email()
        await register_account(client, email)
        response = await client.post(
            f"{WEB}/login",
            data={"csrf_token": csrf_token(form), "email": email, "password": DEFAULT_PASSWORD},
        )
        assert response.status_code == 303
        session_cookie = set_cookie(response, f"__Host-{SESSION_COOKIE}")[f"__Host-{SESSION_COOKIE}"]
        assert session_cookie["secure"] is True
        assert session_cookie["path"] == "/"
        assert not session_cookie["domain"]
        assert (await client.get(f"{WEB}/")).status_code == 200
        # The unprefixed name, which a subdomain could set, is not read.
        client.cookies.set(SESSION_COOKIE, client.cookies[f"__Host-{SESSION_COOKIE}"])
        del client.cookies[f"__Host-{SESSION_COOKIE}"]
        assert (await client.get(f"{WEB}/")).headers["location"] == login_redirect(f"{WEB}/")


async def test_pages_need_a_login(client: httpx.AsyncClient) -> None:
    for path in ("/", "/drafts", "/posts/new", "/posts/1", "/?page=2&search=a+b"):
        response = await client.get(f"{WEB}{path}")
        assert response.status_code == 303, path
        assert response.headers["location"] == login_redirect(f"{WEB}{path}")


async def test_a_forged_cookie_is_no_login(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    genuine = client.cookies[SESSION_COOKIE]
    user_id, login_session_id, signature = genuine.split(".")
    forged = [
        f"{int(user_id) + 1}.{login_session_id}.{signature}",
        f"{user_id}.{login_session_id}.{'0' * 64}",
        f"{user_id}.{login_session_id}",
        "garbage",
    ]
    for value in forged:
        client.cookies.set(SESSION_COOKIE, value)
        response = await client.get(f"{WEB}/")
        assert response.status_code == 303, value
        assert response.headers["location"] == login_redirect(f"{WEB}/")


async def test_a_wrong_password_is_told_in_the_page_with_the_email_kept(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await register_account(client, email)
    response = await web_log_in(client, email, "not the password at all")
    assert response.status_code == 403
    assert "Invalid Credentials" in response.text
    assert f'value="{email}"' in response.text
    assert "not the password at all" not in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_registration_errors_are_told_in_the_page(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await register_account(client, email)
    taken = await web_register(client, email)
    assert taken.status_code == 409
    assert f"User with email: {email} already exists" in taken.text
    short = await web_register(client, fresh_email(), "short")
    assert short.status_code == 422
    assert "Password must be at least 8 characters long." in short.text
    assert 'value="short"' not in short.text


async def test_web_logins_spend_the_budget_of_post_login(database_url: str) -> None:
    async with running_app(database_url, rate_limits=True, login_limit_per_account="2/minute") as (
        _app,
        client,
    ):
        email = fresh_email()
        await register_account(client, email)
        for _ in range(2):
            assert (await web_log_in(client, email, "not the password at all")).status_code == 403
        throttled = await web_log_in(client, email)
        assert throttled.status_code == 429
        assert "Too many failed login attempts, try again later (wait " in throttled.text
        # The API's login sees the same spent budget.
        api = await post_login(client, email, DEFAULT_PASSWORD)
        assert api.status_code == 429
        assert api.json() == TOO_MANY_LOGIN_FAILURES


async def test_failed_api_logins_throttle_the_web_form(database_url: str) -> None:
    async with running_app(database_url, rate_limits=True, login_limit_per_account="2/minute") as (
        _app,
        client,
    ):
        email = fresh_email()
        await register_account(client, email)
        for _ in range(2):
            assert (await post_login(client, email, "not the password at all")).status_code == 403
        assert (await web_log_in(client, email)).status_code == 429


async def test_logout_ends_the_login_session(app: FastAPI, client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    cookie = client.cookies[SESSION_COOKIE]
    feed = await client.get(f"{WEB}/")
    response = await client.post(f"{WEB}/logout", data={"csrf_token": csrf_token(feed)})
    assert response.status_code == 303
    assert response.headers["location"] == f"{WEB}/login?notice=logged-out"
    # The cookie kept by another tab (or a thief) no longer opens anything.
    async with in_process_client(app) as other_tab:
        other_tab.cookies.set(SESSION_COOKIE, cookie)
        ended = await other_tab.get(f"{WEB}/")
        assert ended.status_code == 303
        assert ended.headers["location"] == login_redirect(f"{WEB}/", "ended")
        login_page = await other_tab.get(ended.headers["location"])
        assert "Your session has ended: log in again." in login_page.text


async def test_a_password_change_through_the_api_ends_browser_sessions(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    changed = await client.put(
        "/users/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        headers=tokens.headers,
    )
    assert changed.status_code == 204
    cookie = client.cookies[SESSION_COOKIE]
    response = await client.get(f"{WEB}/")
    assert response.headers["location"] == login_redirect(f"{WEB}/", "ended")
    assert SESSION_COOKIE not in client.cookies  # cleared by the answer
    for page in ("/posts/new", "/drafts"):
        client.cookies.set(SESSION_COOKIE, cookie)
        ended = await client.get(f"{WEB}{page}")
        assert ended.headers["location"] == login_redirect(f"{WEB}{page}", "ended")


async def test_refresh_token_reuse_ends_only_its_own_login_session(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    assert (await refresh(client, tokens.refresh)).status_code == 200
    assert (await refresh(client, tokens.refresh)).status_code == 401  # reuse: that login session ends
    assert (await client.get(f"{WEB}/")).status_code == 200  # the browser's is another


async def test_an_account_deletion_ends_browser_sessions(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await signed_in(client, email)
    tokens = await log_in(client, email, DEFAULT_PASSWORD)
    deleted = await client.request(
        "DELETE", "/users/me", json={"password": DEFAULT_PASSWORD}, headers=tokens.headers
    )
    assert deleted.status_code == 204
    assert (await client.get(f"{WEB}/")).headers["location"] == login_redirect(f"{WEB}/", "ended")


async def test_the_api_never_accepts_the_cookie(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    assert SESSION_COOKIE in client.cookies
    listing = await client.get("/posts/")
    assert listing.status_code == 401
    assert listing.json() == NOT_AUTHENTICATED
    created = await client.post("/posts/", json={"title": "t", "content": "c"})
    assert created.status_code == 401
    assert (await client.post("/vote/", json={"post_id": 1, "dir": 1})).status_code == 401
    assert (await client.get("/users/me")).status_code == 401
    # Nor as a bearer token.
    cookie = client.cookies[SESSION_COOKIE]
    as_bearer = await client.get("/posts/", headers={"Authorization": f"Bearer {cookie}"})
    assert as_bearer.json() == INVALID_TOKEN


@pytest.mark.parametrize("token", [None, "", "0" * 64])
async def test_anonymous_forms_without_their_csrf_token_are_refused(
    client: httpx.AsyncClient, token: str | None
) -> None:
    email = fresh_email()
    await register_account(client, email)
    await client.get(f"{WEB}/login")  # the form cookie is set
    fields = {
        "email": email,
        "password": DEFAULT_PASSWORD,
        **({} if token is None else {"csrf_token": token}),
    }
    for action in ("/login", "/register"):
        response = await client.post(f"{WEB}{action}", data=fields)
        assert response.status_code == 403, action
        assert "This form has expired or did not come from this site" in response.text
        assert SESSION_COOKIE not in client.cookies


async def test_a_login_form_token_is_tied_to_its_browser(app: FastAPI, client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await register_account(client, email)
    attacker_form = await client.get(f"{WEB}/login")
    async with in_process_client(app) as victim:
        await victim.get(f"{WEB}/login")  # a form cookie of its own
        response = await victim.post(
            f"{WEB}/login",
            data={"csrf_token": csrf_token(attacker_form), "email": email, "password": DEFAULT_PASSWORD},
        )
        assert response.status_code == 403


async def test_session_forms_need_the_token_of_their_own_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await signed_in(client, fresh_email())
    async with in_process_client(app) as other:
        await signed_in(other, fresh_email())
        others_token = csrf_token(await other.get(f"{WEB}/posts/new"))
    for data in ({}, {"csrf_token": others_token}, {"csrf_token": "x"}):
        fields = {"title": "A title", "content": "c", "published": "on", **data}
        refused = await client.post(f"{WEB}/posts/new", data=fields)
        assert refused.status_code == 403
        assert "This form has expired or did not come from this site" in refused.text
        assert (await client.post(f"{WEB}/logout", data=data)).status_code == 403
    assert (await client.get(f"{WEB}/")).status_code == 200  # still signed in: the logout was refused
    assert "<article" not in (await client.get(f"{WEB}/")).text


async def test_the_login_form_posts_to_itself(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await register_account(client, email)
    response = await submit(client, f"{WEB}/register", f"{WEB}/login", email=email, password=DEFAULT_PASSWORD)
    assert response.status_code == 303  # one form cookie serves both anonymous forms


def test_the_public_url_is_an_http_or_https_address() -> None:
    with pytest.raises(ValidationError, match="public_url"):
        make_settings("sqlite+aiosqlite://", public_url="ftp://board.example")
    assert make_settings("sqlite+aiosqlite://").public_url is None


async def test_web_registrations_spend_the_budget_of_post_users(database_url: str) -> None:
    async with running_app(database_url, rate_limits=True, register_limit_per_address="2/minute") as (
        _app,
        client,
    ):
        assert (await web_register(client, fresh_email())).status_code == 303
        assert (await register(client, fresh_email())).status_code == 201
        throttled = await web_register(client, fresh_email())
        assert throttled.status_code == 429
        assert "Too many registrations from this address, try again later (wait " in throttled.text


async def test_a_login_goes_back_to_the_page_asked_for(client: httpx.AsyncClient) -> None:
    email = fresh_email()
    await register_account(client, email)
    wanted = f"{WEB}/drafts?page=2"
    login_form = await client.get((await client.get(wanted)).headers["location"])
    assert f'name="next" value="{WEB}/drafts?page=2"' in login_form.text
    fields = {"csrf_token": csrf_token(login_form), "email": email, "next": wanted}
    wrong = await client.post(f"{WEB}/login", data={**fields, "password": "not the password at all"})
    assert f'name="next" value="{WEB}/drafts?page=2"' in wrong.text  # kept for the next try
    response = await client.post(f"{WEB}/login", data={**fields, "password": DEFAULT_PASSWORD})
    assert response.headers["location"] == wanted


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/", "//evil.example/", "/users/me", "/web\\@evil"]
)
async def test_a_login_never_sends_the_browser_elsewhere(client: httpx.AsyncClient, elsewhere: str) -> None:
    email = fresh_email()
    await register_account(client, email)
    form = await client.get(f"{WEB}/login")
    fields = {"csrf_token": csrf_token(form), "email": email, "password": DEFAULT_PASSWORD, "next": elsewhere}
    response = await client.post(f"{WEB}/login", data=fields)
    assert response.headers["location"] == f"{WEB}/"
