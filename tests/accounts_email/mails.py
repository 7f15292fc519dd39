"""Reading the account mails that the test SMTP server received: which arrived for an address, and the
token of the link each carries, as a person would find it in the mail; and an app that sends them with
REQUIRE_VERIFIED_EMAIL on."""

import asyncio
import re
import time
from contextlib import AbstractAsyncContextManager
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from postboard.accounts.mails import RESET_PAGE, RESET_SUBJECT, VERIFICATION_SUBJECT, VERIFY_PAGE
from tests.helpers import running_app
from tests.smtp_server import SmtpServer

MAIL_WAIT_SECONDS = 5
_LINK = re.compile(r"https?://[^\s\"<>]+")


def mails_to(server: SmtpServer, to: str, subject: str) -> list[EmailMessage]:
    """The mails of `subject` received so far for `to`, oldest first."""
    return [message for message in server.mails_to(to) if message["Subject"] == subject]


async def nth_mail(server: SmtpServer, to: str, subject: str, number: int = 1) -> EmailMessage:
    """The `number`th mail (from 1) with `subject` received for `to`, waiting a few seconds for it."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while len(received := mails_to(server, to, subject)) < number:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(received)} mails {subject!r} for {to}, not {number}")
        await asyncio.sleep(0.02)
    return received[number - 1]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    text: str = body.get_content()
    return text


def html_of(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    html: str = body.get_content()
    return html


def link_in(message: EmailMessage) -> str:
    """The one link of the mail's text that leads to a page of the site."""
    links: list[str] = [link for link in _LINK.findall(text_of(message)) if "?token=" in link]
    assert len(links) == 1, text_of(message)
    return links[0]


def token_of(link: str, page: str) -> str:
    parts = urlsplit(link)
    assert parts.path == page, link
    return parse_qs(parts.query)["token"][0]


async def reset_token(server: SmtpServer, app: FastAPI, to: str, number: int = 1) -> str:
    """The token of the `number`th reset link mailed to `to`, once the background work has sent it."""
    await app.state.mailer.wait_until_idle()
    return token_of(link_in(await nth_mail(server, to, RESET_SUBJECT, number)), RESET_PAGE)


async def verification_token(server: SmtpServer, app: FastAPI, to: str, number: int = 1) -> str:
    await app.state.mailer.wait_until_idle()
    return token_of(link_in(await nth_mail(server, to, VERIFICATION_SUBJECT, number)), VERIFY_PAGE)


def app_requiring_verified_email(
    database_url: str, smtp_server: SmtpServer
) -> AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]:
    """`running_app` with REQUIRE_VERIFIED_EMAIL on, its mails sent to `smtp_server`."""
    return running_app(database_url, require_verified_email=True, **smtp_server.settings_overrides())
