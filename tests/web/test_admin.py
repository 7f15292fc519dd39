"""The admins' page: the report queue, accounts and the audit log, and deleting a post from its page;
the same services as the /admin routes. Members get the 403 page, and no Admin link."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from postboard.users.models import Role
from tests.helpers import Account as ApiAccount
from tests.helpers import fresh_email, give_role, in_process_client, report
from tests.web.browser import WEB, csrf_token, signed_in, submit, web_log_in, write_post

ADMIN_LINK = f'<a href="{WEB}/admin">Admin</a>'
PAGES = [f"{WEB}/admin", f"{WEB}/admin/accounts", f"{WEB}/admin/audit-log"]


@pytest.fixture
async def other(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser, signed in as a member."""
    async with in_process_client(app) as browser:
        await signed_in(browser, fresh_email("other"))
        yield browser


@pytest.fixture
async def admin_browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in as an admin, made one by `set-role` before its login."""
    async with in_process_client(app) as browser:
        email = fresh_email("admin")
        await signed_in(browser, email)
        await give_role(app, email, Role.ADMIN)
        assert (await web_log_in(browser, email)).status_code == 303
        yield browser


async def test_members_get_the_403_page_and_no_admin_link(client: httpx.AsyncClient) -> None:
    await signed_in(client, fresh_email())
    feed = await client.get(f"{WEB}/")
    assert ADMIN_LINK not in feed.text

    for page in PAGES:
        refused = await client.get(page)
        assert refused.status_code == 403, page
        assert "Admins only" in refused.text
    for action in ("posts/1/delete", "reports/1/dismiss", "accounts/1/suspend", "accounts/1/reinstate"):
        posted = await client.post(
            f"{WEB}/admin/{action}", data={"csrf_token": csrf_token(feed), "reason": "because"}
        )
        assert posted.status_code == 403, action


async def test_the_pages_need_a_login(client: httpx.AsyncClient) -> None:
    for page in PAGES:
        response = await client.get(page)
        assert response.status_code == 303
        assert response.headers["location"].startswith(f"{WEB}/login")


async def test_an_admin_sees_the_link_and_every_page(admin_browser: httpx.AsyncClient) -> None:
    assert ADMIN_LINK in (await admin_browser.get(f"{WEB}/")).text
    for page in PAGES:
        response = await admin_browser.get(page)
        assert response.status_code == 200, page
        assert ADMIN_LINK in response.text


async def test_the_link_shows_nothing_a_demoted_admin_may_open(
    app: FastAPI, client: httpx.AsyncClient, admin_browser: httpx.AsyncClient
) -> None:
    me = await admin_browser.get(f"{WEB}/account")
    email = me.text.split("Signed in as <strong>")[1].split("</strong>")[0]

    await give_role(app, email, Role.MEMBER)

    assert (await admin_browser.get(f"{WEB}/admin")).status_code == 403


async def test_the_queue_deletes_a_post_with_a_reason(
    client: httpx.AsyncClient, admin_browser: httpx.AsyncClient, alice: ApiAccount, bob: ApiAccount
) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Buy cheap pills")
    await report(client, bob, post_id)
    await report(client, alice, post_id)

    queue = await admin_browser.get(f"{WEB}/admin")
    assert "Buy cheap pills" in queue.text
    assert "2 reports" in queue.text
    blank = await admin_browser.post(
        f"{WEB}/admin/posts/{post_id}/delete", data={"csrf_token": csrf_token(queue), "reason": "  "}
    )
    assert blank.status_code == 422
    assert "Reason must contain a character that is not white space." in blank.text

    deleted = await submit(
        admin_browser, f"{WEB}/admin", f"{WEB}/admin/posts/{post_id}/delete", reason="Spam"
    )

    assert deleted.status_code == 303
    assert deleted.headers["location"] == f"{WEB}/admin?notice=post-removed"
    assert (await client.get(f"{WEB}/posts/{post_id}")).status_code == 404
    assert "No reported posts." in (await admin_browser.get(f"{WEB}/admin")).text
    log = await admin_browser.get(f"{WEB}/admin/audit-log")
    assert "delete post" in log.text
    assert "Buy cheap pills" in log.text


async def test_the_queue_dismisses_reports(
    client: httpx.AsyncClient, admin_browser: httpx.AsyncClient, bob: ApiAccount
) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Harmless")
    await report(client, bob, post_id)

    dismissed = await submit(
        admin_browser, f"{WEB}/admin", f"{WEB}/admin/reports/{post_id}/dismiss", reason="Fine as it is"
    )

    assert dismissed.headers["location"] == f"{WEB}/admin?notice=reports-dismissed"
    assert (await client.get(f"{WEB}/posts/{post_id}")).status_code == 200
    assert "Fine as it is" in (await admin_browser.get(f"{WEB}/admin/audit-log")).text


async def test_accounts_are_searched_suspended_and_reinstated(
    client: httpx.AsyncClient, admin_browser: httpx.AsyncClient
) -> None:
    email = fresh_email("suspect")
    await signed_in(client, email)
    found = await admin_browser.get(f"{WEB}/admin/accounts", params={"search": email.upper()})
    assert email in found.text
    assert "email not verified" in found.text
    assert "Suspend " + email in found.text
    account_id = int(found.text.split("/admin/accounts/")[1].split("/")[0])

    suspended = await submit(
        admin_browser,
        f"{WEB}/admin/accounts",
        f"{WEB}/admin/accounts/{account_id}/suspend",
        reason="Spamming",
    )

    assert suspended.headers["location"] == f"{WEB}/admin/accounts?notice=suspended"
    # The suspect's browser session ended with every other.
    assert (await client.get(f"{WEB}/")).headers["location"].startswith(f"{WEB}/login?notice=ended")
    refused = await web_log_in(client, email)
    assert refused.status_code == 403
    assert "Account suspended" in refused.text
    again = await submit(
        admin_browser, f"{WEB}/admin/accounts", f"{WEB}/admin/accounts/{account_id}/suspend", reason="Twice"
    )
    assert again.status_code == 409
    assert "The account is already suspended" in again.text

    reinstated = await submit(
        admin_browser,
        f"{WEB}/admin/accounts",
        f"{WEB}/admin/accounts/{account_id}/reinstate",
        reason="Appealed",
    )
    assert reinstated.headers["location"] == f"{WEB}/admin/accounts?notice=reinstated"
    assert (await web_log_in(client, email)).status_code == 303


async def test_an_admin_deletes_a_post_from_its_page(
    client: httpx.AsyncClient, admin_browser: httpx.AsyncClient
) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Off topic")
    page = await admin_browser.get(f"{WEB}/posts/{post_id}")
    assert "Delete as an admin" in page.text
    assert "Delete as an admin" not in (await client.get(f"{WEB}/posts/{post_id}")).text

    deleted = await admin_browser.post(
        f"{WEB}/admin/posts/{post_id}/delete", data={"csrf_token": csrf_token(page), "reason": "Off topic"}
    )

    assert deleted.status_code == 303
    assert (await client.get(f"{WEB}/posts/{post_id}")).status_code == 404


async def test_a_member_reports_a_post_from_its_page_once(
    client: httpx.AsyncClient, admin_browser: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await signed_in(client, fresh_email())
    post_id = await write_post(client, "Questionable")
    assert "Report this post" not in (await client.get(f"{WEB}/posts/{post_id}")).text
    page = f"{WEB}/posts/{post_id}"
    action = f"{WEB}/posts/{post_id}/report"

    blank = await submit(other, page, action, reason=" ")
    reported = await submit(other, page, action, reason="Looks like spam")
    again = await submit(other, page, action, reason="Still spam")

    assert blank.status_code == 422
    assert "Reason must contain a character that is not white space." in blank.text
    assert reported.headers["location"] == f"{page}?notice=reported"
    assert "the admins will look at your report" in (await other.get(reported.headers["location"])).text
    assert again.headers["location"] == f"{page}?notice=already-reported"
    queue = (await admin_browser.get(f"{WEB}/admin")).text
    assert "1 report," in queue
    assert "Looks like spam" in queue
