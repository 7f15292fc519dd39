"""/docs and /redoc in a real headless Chromium (Debian's), against a real `postboard serve`, with every
request that does not go to 127.0.0.1 failing: the pages must work from Postboard's own files alone."""

from collections.abc import Iterator

import httpx
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.browser.driver import chrome, console_errors, fetched_urls, wait_for, wait_for_text
from tests.helpers import DEFAULT_PASSWORD
from tests.live_server import serving

USER_EMAIL = "docs-reader@example.com"
FASTAPI_CDN_SCRIPT = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serving(tmp_path_factory.mktemp("docs-server")) as (client, _):
        credentials = {"email": USER_EMAIL, "password": DEFAULT_PASSWORD}
        assert client.post("/users/", json=credentials).status_code == 201
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    with chrome() as driver:
        yield driver


def open_page(browser: Chrome, server: httpx.Client, path: str) -> None:
    browser.get(f"{server.base_url}{path}")


def assert_all_from(server: httpx.Client, browser: Chrome, blocked: tuple[str, ...] = ()) -> None:
    """Every URL the page asked for is Postboard's, but for `blocked` ones that its CSP stopped."""
    origin = str(server.base_url).rstrip("/")
    urls = fetched_urls(browser)
    assert urls, "the page fetched nothing"
    # data: URLs (the icons inside Swagger UI's stylesheet) are no request at all.
    elsewhere = [url for url in urls if not url.startswith((f"{origin}/", "data:"))]
    assert sorted(elsewhere) == sorted(blocked)


def open_authorize_dialog(browser: Chrome, server: httpx.Client) -> None:
    open_page(browser, server, "/docs")
    wait_for(browser, "button.authorize").click()
    wait_for(browser, "#oauth_username")


def authorize(browser: Chrome, email: str, password: str) -> None:
    browser.find_element(By.CSS_SELECTOR, "#oauth_username").send_keys(email)
    browser.find_element(By.CSS_SELECTOR, "#oauth_password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()


def test_the_browser_reaches_nothing_but_this_machine(browser: Chrome) -> None:
    # Without this, the other tests could pass by fetching from a CDN.
    with pytest.raises(WebDriverException, match=r"net::ERR_"):
        browser.get(FASTAPI_CDN_SCRIPT)


def test_docs_list_the_operations_with_nothing_from_the_internet(
    browser: Chrome, server: httpx.Client
) -> None:
    open_page(browser, server, "/docs")

    wait_for(browser, "#operations-Posts-list_posts_posts__get")
    assert browser.title == "Postboard - Swagger UI"
    assert_all_from(server, browser)
    assert console_errors(browser) == []


def test_authorize_logs_in_through_login_and_try_it_out_lists_posts(
    browser: Chrome, server: httpx.Client
) -> None:
    open_authorize_dialog(browser, server)
    authorize(browser, USER_EMAIL, DEFAULT_PASSWORD)
    wait_for_text(browser, ".auth-container", "Authorized")
    browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.btn-done").click()

    # GET /posts/ answers 401 to a request without a token, so a 200 shows the login's token was sent.
    wait_for(browser, "#operations-Posts-list_posts_posts__get .opblock-summary-control").click()
    wait_for(browser, "#operations-Posts-list_posts_posts__get .try-out__btn").click()
    wait_for(browser, "#operations-Posts-list_posts_posts__get .execute").click()

    wait_for_text(
        browser,
        "#operations-Posts-list_posts_posts__get .live-responses-table tbody .response-col_status",
        "200",
    )
    assert console_errors(browser) == []
    assert_all_from(server, browser)


def test_a_failed_authorize_shows_the_api_message(browser: Chrome, server: httpx.Client) -> None:
    open_authorize_dialog(browser, server)

    authorize(browser, USER_EMAIL, "not the password")

    wait_for_text(browser, ".auth-container .errors", "Invalid Credentials")
    # The refused login is the only error the console reports.
    [error] = console_errors(browser)
    assert "/login" in error
    assert "403" in error


def test_the_authorize_dialog_asks_for_no_client_id_or_secret(browser: Chrome, server: httpx.Client) -> None:
    open_authorize_dialog(browser, server)

    fields = browser.find_elements(By.CSS_SELECTOR, ".auth-container input, .auth-container select")
    shown = {field.get_attribute("id") for field in fields if field.is_displayed()}
    assert shown == {"oauth_username", "oauth_password"}


def test_redoc_shows_the_api_with_nothing_from_the_internet(browser: Chrome, server: httpx.Client) -> None:
    open_page(browser, server, "/redoc")

    wait_for_text(browser, "h1", "Postboard")
    # ReDoc 2.5's "API docs by Redocly" link shows a logo from Redocly's CDN, which ReDoc offers no option
    # to leave out: the policy blocks it (so it is never fetched), and ReDoc then hides the image.
    assert_all_from(server, browser, blocked=(REDOCLY_LOGO,))
    [blocked_logo] = console_errors(browser)
    assert REDOCLY_LOGO in blocked_logo
    assert "violates the following Content Security Policy directive" in blocked_logo
