"""Forgotten passwords and email verification as a person meets them, in headless Chromium against a real
`postboard serve` on SQLite and on PostgreSQL, whose mails go to a real SMTP server: the mail is read, and
its link opened in the browser and followed through its page, as a person would."""

import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from postboard.accounts.mails import RESET_SUBJECT, VERIFICATION_SUBJECT
from postboard.web.messages import NOTICES
from tests.browser.conftest import SERVER_SETTINGS
from tests.browser.test_web_flows import DESKTOP, PHONE, assert_fits, assert_sound_page, emulate
from tests.browser.web import WEB, Person, Server
from tests.helpers import NEW_PASSWORD
from tests.live_server import free_port, serving_on
from tests.services import new_postgres_database
from tests.smtp_server import Setup, SmtpServer, running_smtp_server

BANNER = ".banner"
MAIL_WAIT_SECONDS = 10


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with running_smtp_server(Setup()) as relay:
        yield relay


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[Server]:
    """`postboard serve` whose mails go to `smtp` and whose links point at its own address."""
    workdir: Path = tmp_path_factory.mktemp(f"email-{request.param}")
    port = free_port()
    settings = {**SERVER_SETTINGS, **smtp.environment(), "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    if request.param == "sqlite":
        with serving_on(port, workdir, **settings) as (client, _):
            yield Server("sqlite", client, workdir, settings)
        return
    with new_postgres_database() as url:
        settings = {"DATABASE_URL": url, **settings}
        with serving_on(port, workdir, **settings) as (client, _):
            yield Server("postgresql", client, workdir, settings)


def new_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def mail(smtp: SmtpServer, to: str, subject: str, number: int = 1) -> EmailMessage:
    """The `number`th mail of `subject` for `to`, once the server has sent it."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while True:
        received = [m for m in smtp.messages if m["To"] == to and m["Subject"] == subject]
        if len(received) >= number:
            return received[number - 1]
        assert time.monotonic() < deadline, f"no mail {subject!r} number {number} for {to}"
        time.sleep(0.05)


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    words = text.split()
    links = [word for word in words if word.startswith("http") and "?token=" in word]
    assert len(links) == 1, words
    return links[0]


def test_forgot_password_from_the_login_page_to_a_new_password(
    server: Server, smtp: SmtpServer, alice: Person
) -> None:
    email = new_email("forgetful")
    alice.signed_up(email)
    alice.log_out()
    alice.follow("Forgot password?")
    assert alice.path == f"{WEB}/password/forgot"
    alice.fill("#email", email)
    alice.press("Mail me a link")
    assert alice.text("h1") == "Check your mail"

    link = link_in(mail(smtp, email, RESET_SUBJECT))
    assert link.startswith(f"{server.base_url}{WEB}/password/reset?token=")
    alice.browser.get(link)
    assert alice.text("h1") == "Set a new password"
    alice.fill("#new-password", NEW_PASSWORD)
    alice.press("Set my new password")
    assert alice.text(".notice") == NOTICES["password-reset"]
    alice.log_in(email, NEW_PASSWORD)
    assert alice.path == f"{WEB}/"

    alice.browser.get(link)  # once only
    assert "This link is invalid or has expired" in alice.text()
    assert alice.all("#new-password") == []


def test_the_banner_until_the_mailed_link_is_followed(
    server: Server, smtp: SmtpServer, alice: Person
) -> None:
    email = new_email("unverified")
    alice.signed_up(email)
    assert "not verified" in alice.text(BANNER)
    alice.press("Send a new link", within="div[@class='banner']")
    assert alice.text(".notice") == NOTICES["verification-sent"]

    link = link_in(mail(smtp, email, VERIFICATION_SUBJECT, number=2))
    assert link.startswith(f"{server.base_url}{WEB}/email/verify?token=")
    alice.browser.get(link)
    assert alice.text("h1") == "Verify your email"
    alice.open(f"{WEB}/account")  # opening the link (as a mail scanner would) verified nothing
    assert "Your email is not verified yet." in alice.text()
    alice.browser.get(link)
    alice.press("Verify my email address")
    assert alice.text(".notice") == NOTICES["email-verified"]
    assert alice.all(BANNER) == []
    alice.open(f"{WEB}/")
    assert alice.all(BANNER) == []

    older = link_in(mail(smtp, email, VERIFICATION_SUBJECT, number=1))  # the registration's, replaced
    alice.browser.get(older)
    alice.press("Verify my email address")
    assert "This link is invalid or has expired" in alice.text()


def test_the_pages_of_the_links_are_sound_at_both_widths(
    server: Server, smtp: SmtpServer, alice: Person
) -> None:
    email = new_email("sound")
    alice.register(email)
    verify_link = link_in(mail(smtp, email, VERIFICATION_SUBJECT))
    server.client.post("/password/forgot", json={"email": email})
    reset_link = link_in(mail(smtp, email, RESET_SUBJECT))
    alice.log_in(email)
    pages = [f"{WEB}/password/forgot", f"{WEB}/password/forgot/sent", f"{WEB}/", f"{WEB}/account"]
    for size in (DESKTOP, PHONE):
        emulate(alice.browser, size)
        for page in pages:
            alice.open(page)
            alice.find("main h1")
            assert_fits(alice)
            assert_sound_page(alice, server)
        for link in (reset_link, verify_link):
            alice.browser.get(link)
            alice.find("main h1")
            assert_fits(alice)
            assert_sound_page(alice, server)
