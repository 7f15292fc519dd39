"""The browser tests' fixtures: a real `postboard serve` on SQLite and on PostgreSQL (one per module and
database), and two people, each in a headless Chromium of their own (their own cookies), made clean for
every test."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome

from tests.browser.driver import chrome, console_errors
from tests.browser.web import Person, Server
from tests.live_server import serving
from tests.services import new_postgres_database

# A low budget of failed logins per account, for the throttled login to be reached in a few tries; many
# registrations from 127.0.0.1, where every test's people register.
SERVER_SETTINGS = {
    "LOGIN_LIMIT_PER_ACCOUNT": "3/minute;100/hour",
    "REGISTER_LIMIT_PER_ADDRESS": "1000/minute",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp(f"web-{request.param}")
    if request.param == "sqlite":
        with serving(workdir, **SERVER_SETTINGS) as (client, _):
            yield Server("sqlite", client, workdir, SERVER_SETTINGS)
        return
    with new_postgres_database() as url:
        settings = {"DATABASE_URL": url, **SERVER_SETTINGS}
        with serving(workdir, **settings) as (client, _):
            yield Server("postgresql", client, workdir, settings)


@pytest.fixture(scope="session")
def first_chrome() -> Iterator[Chrome]:
    with chrome() as driver:
        yield driver


@pytest.fixture(scope="session")
def second_chrome() -> Iterator[Chrome]:
    with chrome() as driver:
        yield driver


def _fresh(browser: Chrome) -> Chrome:
    """No cookies (of any port of 127.0.0.1: both servers'), one window, the desktop size, an empty log."""
    for handle in browser.window_handles[1:]:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.get("about:blank")
    console_errors(browser)
    return browser


@pytest.fixture
def alice(first_chrome: Chrome, server: Server) -> Person:
    return Person(_fresh(first_chrome), server.base_url)


@pytest.fixture
def bob(second_chrome: Chrome, server: Server) -> Person:
    return Person(_fresh(second_chrome), server.base_url)
