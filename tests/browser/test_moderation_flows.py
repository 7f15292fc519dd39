"""Moderation as an admin does it, in a real headless Chromium against a real `postboard serve`, on SQLite
and on PostgreSQL: made an admin with `postboard set-role`, the Admin link, the report queue (deleting a
post, dismissing reports), accounts (search, suspend, reinstate) as the suspended person sees it, the
audit log, deleting a post from its page; a member refused; the pages' accessibility."""

import uuid

from postboard.web.messages import NOTICES
from tests.browser.driver import console_errors
from tests.browser.test_web_flows import PHONE, api_post, api_token, assert_fits, assert_sound_page, emulate
from tests.browser.web import WEB, Person, Server

REASON = "#{verb}-reason-{id}"


def new_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def made_admin(server: Server, person: Person) -> str:
    """Registers, is made an admin from the command line, then logs in; on the feed afterwards."""
    email = new_email("admin")
    person.register(email)
    server.set_role(email, "admin")
    person.log_in(email)
    assert person.path == f"{WEB}/", person.text()
    return email


def report(server: Server, post_id: int, reason: str) -> None:
    reporter = api_token(server, new_email("reporter"))
    reported = server.client.post(f"/posts/{post_id}/report", json={"reason": reason}, headers=reporter)
    assert reported.status_code == 201, reported.text


def test_an_admin_clears_the_report_queue(server: Server, alice: Person, bob: Person) -> None:
    made_admin(server, alice)
    bob.signed_up(new_email("bob"))
    spam = bob.write_post(f"Cheap pills {uuid.uuid4().hex[:6]}")
    fine = bob.write_post(f"Gardening {uuid.uuid4().hex[:6]}")
    report(server, spam, "Spam")
    report(server, spam, "Selling pills")
    report(server, fine, "I dislike gardens")

    alice.follow("Admin")
    assert alice.path == f"{WEB}/admin"
    queue = alice.text()
    assert "2 reports" in queue
    assert "Selling pills" in queue
    alice.fill(f"#delete-reason-{spam}", "Spam, twice reported")
    alice.press("Delete the post", within=f"article[@aria-labelledby='reported-{spam}']")
    assert alice.text(".notice") == NOTICES["post-removed"]
    alice.fill(f"#dismiss-reason-{fine}", "Gardens are fine")
    alice.press("Dismiss its reports", within=f"article[@aria-labelledby='reported-{fine}']")
    assert alice.text(".notice") == NOTICES["reports-dismissed"]

    bob.open(f"{WEB}/posts/{spam}")
    assert bob.status == 404
    bob.open(f"{WEB}/posts/{fine}")
    assert bob.status == 200
    alice.follow("Audit log")
    log = alice.text("table")
    assert "Spam, twice reported" in log
    assert "Gardens are fine" in log


def test_a_blank_reason_is_told_in_the_page(server: Server, alice: Person, bob: Person) -> None:
    made_admin(server, alice)
    bob.signed_up(new_email("bob"))
    post_id = bob.write_post("Reported for nothing")
    report(server, post_id, "Because")
    alice.open(f"{WEB}/admin")

    # `required` keeps an empty field from being sent at all; spaces are sent, and refused by the server.
    alice.fill(f"#delete-reason-{post_id}", "   ")
    alice.press("Delete the post", within=f"article[@aria-labelledby='reported-{post_id}']")

    assert alice.status == 422
    assert "Reason must contain a character that is not white space." in alice.text(".errors")


def test_an_admin_suspends_and_reinstates_an_account(server: Server, alice: Person, bob: Person) -> None:
    made_admin(server, alice)
    bob_email = new_email("bob")
    bob.signed_up(bob_email)
    title = f"Bob's {uuid.uuid4().hex[:6]}"
    bob.write_post(title)

    alice.follow("Admin")
    alice.follow("Accounts")
    alice.fill("#search", bob_email.upper())
    alice.press("Search")
    assert bob_email in alice.text()
    alice.fill("input[id^='suspend-reason-']", "Spamming")
    alice.press(f"Suspend {bob_email}")
    assert alice.text(".notice") == NOTICES["suspended"]

    # Bob's session ended at once, his login is refused, and his post is hidden from members.
    bob.open(f"{WEB}/")
    assert bob.path.startswith(f"{WEB}/login?notice=ended")
    bob.log_in(bob_email)
    assert bob.status == 403
    assert "Account suspended" in bob.text()
    carol = api_token(server, new_email("carol"))
    listed = server.client.get("/posts/", params={"search": title}, headers=carol).json()
    assert listed == []

    alice.open(f"{WEB}/admin/accounts?search={bob_email}")
    alice.fill("input[id^='reinstate-reason-']", "Appeal granted")
    alice.press(f"Reinstate {bob_email}")
    assert alice.text(".notice") == NOTICES["reinstated"]
    bob.log_in(bob_email)
    assert bob.path == f"{WEB}/"
    assert [
        item["Post"]["title"]
        for item in server.client.get("/posts/", params={"search": title}, headers=carol).json()
    ] == [title]
    alice.follow("Audit log")
    assert "Appeal granted" in alice.text("table")
    assert "Spamming" in alice.text("table")


def test_an_admin_deletes_a_post_from_its_page(server: Server, alice: Person, bob: Person) -> None:
    made_admin(server, alice)
    bob.signed_up(new_email("bob"))
    post_id = bob.write_post("Off topic")
    bob.open(f"{WEB}/posts/{post_id}")
    assert "Delete as an admin" not in bob.text()

    alice.open(f"{WEB}/posts/{post_id}")
    alice.fill("#admin-delete-reason", "Off topic here")
    alice.press("Delete as an admin")

    assert alice.text(".notice") == NOTICES["post-removed"]
    bob.open(f"{WEB}/posts/{post_id}")
    assert bob.status == 404


def test_a_member_has_no_admin_link_and_gets_the_403_page(alice: Person) -> None:
    alice.signed_up(new_email("member"))
    assert "Admin" not in alice.text("header")

    alice.open(f"{WEB}/admin")

    assert alice.status == 403
    assert "Admins only" in alice.text()
    console_errors(alice.browser)  # the 403 itself, logged as a failed load


def test_the_admin_pages_are_sound_and_fit_a_phone(server: Server, alice: Person) -> None:
    made_admin(server, alice)
    post_id = api_post(server, api_token(server, new_email("author")), "Reported post")
    report(server, post_id, "A reason")
    emulate(alice.browser, PHONE)
    for path in (f"{WEB}/admin", f"{WEB}/admin/accounts", f"{WEB}/admin/audit-log", f"{WEB}/posts/{post_id}"):
        alice.open(path)
        alice.find("main h1")
        assert_fits(alice)
        assert_sound_page(alice, server)


def test_a_member_reports_a_post_from_its_page(server: Server, alice: Person, bob: Person) -> None:
    made_admin(server, alice)
    bob.signed_up(new_email("bob"))
    title = f"Dubious {uuid.uuid4().hex[:6]}"
    post_id = api_post(server, api_token(server, new_email("author")), title)

    bob.open(f"{WEB}/posts/{post_id}")
    bob.find("details summary").click()
    bob.fill("#report-reason", "Misleading claims")
    bob.press("Report it to the admins")

    assert bob.text(".notice") == NOTICES["reported"]
    alice.open(f"{WEB}/admin")
    assert "Misleading claims" in alice.text(f"article[aria-labelledby='reported-{post_id}']")
