"""The app of these tests sends its mails to a real SMTP server of the test's own."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from postboard.app import create_app
from tests.helpers import make_settings, started
from tests.smtp_server import SmtpServer


@pytest.fixture
async def app(database_url: str, smtp_server: SmtpServer) -> AsyncIterator[FastAPI]:
    async with started(
        create_app(make_settings(database_url, **smtp_server.settings_overrides()))
    ) as application:
        yield application
