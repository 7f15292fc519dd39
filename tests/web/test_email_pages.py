"""The web app's pages for forgotten passwords and email verification: the login page's "Forgot password?",
the pages the mailed links open (a form on GET, the change on POST), and the unverified email's banner."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from postboard.app import create_app
from tests.accounts_email.mails import (
    app_requiring_verified_email,
    link_in,
    nth_mail,
    reset_token,
    verification_token,
)
from tests.helpers import (
    DEFAULT_PASSWORD,
    NEW_PASSWORD,
    fresh_email,
    make_settings,
    post_login,
    started,
)
from tests.smtp_server import SmtpServer
from tests.web.browser import WEB, csrf_token, signed_in, submit, web_log_in

BANNER = "Your email address is not verified yet"


@pytest.fixture
async def app(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[FastAPI]:
    async with started(
        create_app(make_settings(database_url, **smtp_server.settings_overrides()))
    ) as application:
        yield application


async def test_the_login_page_leads_to_the_forgot_form(client: httpx.AsyncClient) -> None:
    login = await client.get(f"{WEB}/login")
    assert f'href="{WEB}/password/forgot">Forgot password?</a>' in login.text
    forgot = await client.get(f"{WEB}/password/forgot")
    assert forgot.status_code == 200
    assert 'for="email"' in forgot.text


async def test_a_forgotten_password_is_reset_through_the_pages(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await signed_in(client, email)
    sent = await submit(client, f"{WEB}/password/forgot", f"{WEB}/password/forgot", email=email)
    assert sent.headers["location"] == f"{WEB}/password/forgot/sent"
    assert "Check your mail" in (await client.get(sent.headers["location"])).text
    token = await reset_token(smtp_server, app, email)
    page = f"{WEB}/password/reset?token={token}"
    form = await client.get(page)
    assert 'name="new_password"' in form.text
    assert (await client.get(page)).status_code == 200  # opening the link (a mail scanner) spends nothing
    done = await client.post(
        f"{WEB}/password/reset",
        data={"csrf_token": csrf_token(form), "token": token, "new_password": NEW_PASSWORD},
    )
    assert done.headers["location"] == f"{WEB}/login?notice=password-reset"
    assert "Your password was reset" in (await client.get(done.headers["location"])).text
    # Every session ended, this browser's too.
    assert (await client.get(f"{WEB}/")).status_code == 303
    assert (await post_login(client, email, NEW_PASSWORD)).status_code == 200
    again = await client.get(page)
    assert "This link is invalid or has expired" in again.text
    assert 'name="new_password"' not in again.text


async def test_an_unknown_email_gets_the_same_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    sent = await submit(client, f"{WEB}/password/forgot", f"{WEB}/password/forgot", email=fresh_email())
    assert sent.headers["location"] == f"{WEB}/password/forgot/sent"
    await app.state.mailer.wait_until_idle()


async def test_a_bad_reset_form_is_told(client: httpx.AsyncClient) -> None:
    refused = await submit(client, f"{WEB}/password/forgot", f"{WEB}/password/forgot", email="not an email")
    assert refused.status_code == 422
    made_up_page = await client.get(f"{WEB}/password/reset?token=made-up")
    assert "This link is invalid or has expired" in made_up_page.text
    assert 'name="new_password"' not in made_up_page.text
    # A form sent anyway (kept from before the link was used, say) is refused as the API refuses it.
    token = csrf_token(await client.get(f"{WEB}/password/forgot"))
    made_up = await client.post(
        f"{WEB}/password/reset", data={"csrf_token": token, "token": "made-up", "new_password": NEW_PASSWORD}
    )
    assert made_up.status_code == 400
    assert "This link is invalid or has expired" in made_up.text
    forged_form = await client.post(
        f"{WEB}/password/reset", data={"token": "x", "new_password": NEW_PASSWORD}
    )
    assert forged_form.status_code == 403


async def test_the_verification_link_verifies_only_when_its_button_is_pressed(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await signed_in(client, email)
    assert BANNER in (await client.get(f"{WEB}/")).text
    token = await verification_token(smtp_server, app, email)
    page = f"{WEB}/email/verify?token={token}"
    opened = await client.get(page)
    assert "Verify my email address" in opened.text
    assert "Your email is not verified yet." in (await client.get(f"{WEB}/account")).text
    verified = await client.post(
        f"{WEB}/email/verify", data={"csrf_token": csrf_token(opened), "token": token}
    )
    assert verified.headers["location"] == f"{WEB}/account?notice=email-verified"
    account = await client.get(verified.headers["location"])
    assert "Your email is verified." in account.text
    assert BANNER not in account.text
    assert BANNER not in (await client.get(f"{WEB}/")).text


async def test_the_link_verifies_in_a_browser_that_is_not_signed_in(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
    token = await verification_token(smtp_server, app, email)
    verified = await submit(client, f"{WEB}/email/verify?token={token}", f"{WEB}/email/verify", token=token)
    assert verified.headers["location"] == f"{WEB}/login?notice=email-verified"
    used = await submit(client, f"{WEB}/email/verify?token={token}", f"{WEB}/email/verify", token=token)
    assert used.status_code == 400
    assert "This link is invalid or has expired" in used.text


async def test_the_banner_resends_the_link(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await signed_in(client, email)
    feed = await client.get(f"{WEB}/")
    assert f'action="{WEB}/email/verify/resend"' in feed.text
    resent = await client.post(f"{WEB}/email/verify/resend", data={"csrf_token": csrf_token(feed)})
    assert resent.headers["location"] == f"{WEB}/account?notice=verification-sent"
    assert "A new verification link is on its way" in (await client.get(resent.headers["location"])).text
    await app.state.mailer.wait_until_idle()
    second = link_in(await nth_mail(smtp_server, email, "Verify your email address for Postboard", number=2))
    assert second.startswith("http://127.0.0.1:8000/web/email/verify?token=")
    assert (await client.post(f"{WEB}/email/verify/resend", data={})).status_code == 403  # no CSRF token


async def test_the_banner_goes_once_the_address_is_verified_elsewhere(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await signed_in(client, email)
    token = await verification_token(smtp_server, app, email)
    assert (await client.post("/email/verify", json={"token": token})).status_code == 204  # another device
    feed = await client.get(f"{WEB}/")
    assert BANNER in feed.text  # the browser does not know yet
    pressed = await client.post(f"{WEB}/email/verify/resend", data={"csrf_token": csrf_token(feed)})
    assert pressed.headers["location"] == f"{WEB}/account?notice=email-verified"
    assert BANNER not in (await client.get(f"{WEB}/")).text


async def test_a_verified_login_shows_no_banner(
    app: FastAPI, client: httpx.AsyncClient, smtp_server: SmtpServer
) -> None:
    email = fresh_email()
    await client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD})
    token = await verification_token(smtp_server, app, email)
    await client.post("/email/verify", json={"token": token})
    assert (await web_log_in(client, email)).status_code == 303
    assert BANNER not in (await client.get(f"{WEB}/")).text


async def test_with_the_requirement_an_unverified_writer_keeps_the_text(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (_, client):
        await signed_in(client, fresh_email())
        refused = await submit(
            client, f"{WEB}/posts/new", f"{WEB}/posts/new", title="Kept", content="My words"
        )
        assert refused.status_code == 403
        assert "Verify your email address first" in refused.text
        assert "My words" in refused.text


async def test_with_the_requirement_an_email_change_waits_on_the_account_page(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (app, client):
        old, new = fresh_email("old"), fresh_email("new")
        await signed_in(client, old)
        changed = await submit(
            client, f"{WEB}/account", f"{WEB}/account/email", email=new, current_password=DEFAULT_PASSWORD
        )
        assert changed.headers["location"] == f"{WEB}/account?notice=email-pending"
        page = await client.get(changed.headers["location"])
        assert f"Signed in as <strong>{old}</strong>" in page.text
        assert f"Your new email <strong>{new}</strong> awaits verification." in page.text
        assert BANNER in page.text
        token = await verification_token(smtp_server, app, new)
        verified = await submit(
            client, f"{WEB}/email/verify?token={token}", f"{WEB}/email/verify", token=token
        )
        assert verified.headers["location"] == f"{WEB}/account?notice=email-verified"
        assert f"Signed in as <strong>{new}</strong>" in (await client.get(verified.headers["location"])).text


async def test_with_the_requirement_the_current_address_calls_the_change_off(
    database_url: str, smtp_server: SmtpServer
) -> None:
    async with app_requiring_verified_email(database_url, smtp_server) as (app, client):
        old = fresh_email("old")
        await signed_in(client, old)
        form = {"current_password": DEFAULT_PASSWORD}
        await submit(client, f"{WEB}/account", f"{WEB}/account/email", email=fresh_email("typo"), **form)
        kept = await submit(client, f"{WEB}/account", f"{WEB}/account/email", email=old, **form)
        assert kept.headers["location"] == f"{WEB}/account?notice=email-kept"
        page = await client.get(kept.headers["location"])
        assert "Your email stays as it is" in page.text
        assert "awaits verification" not in page.text
        await app.state.mailer.wait_until_idle()
