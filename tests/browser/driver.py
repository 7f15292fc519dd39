"""Debian's headless Chromium driven by Selenium, as the browser tests share it: a browser that reaches
nothing but this machine, and the waits and reads the tests make."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.services import skip_without_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 30
# Any host name but 127.0.0.1 fails to resolve, and whatever still tries to connect is sent to a proxy on
# the discard port, where nothing listens (Chromium never proxies requests to 127.0.0.1).
NO_NETWORK_FLAGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chrome(width: int = 1280, height: int = 2000) -> Iterator[Chrome]:
    """A headless Chromium of its own (its own cookies); fails under POSTBOARD_TEST_REQUIRE_SERVICES=1 when
    Chromium or its driver is not installed, else skips."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        skip_without_service(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # --no-sandbox: tests may run as root, where Chromium's sandbox refuses to start.
    for flag in ["--headless=new", "--no-sandbox", f"--window-size={width},{height}", *NO_NETWORK_FLAGS]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path of our own keeps Selenium Manager, which would download one, out of the way.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def waiting(browser: Chrome) -> WebDriverWait[Chrome]:
    """A wait of up to WAIT_SECONDS that looks again every 50 ms (Selenium's default, 500 ms, would add
    a quarter of a second to every page a test opens). A look that Chromium cannot answer while a page is
    being replaced ("Cannot find context with specified id") is taken as "not yet"."""
    return WebDriverWait(browser, WAIT_SECONDS, poll_frequency=0.05, ignored_exceptions=(WebDriverException,))


def wait_for(browser: Chrome, css: str) -> WebElement:
    element: WebElement = waiting(browser).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )
    return element


def wait_for_text(browser: Chrome, css: str, text: str) -> None:
    waiting(browser).until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def console_errors(browser: Chrome) -> list[str]:
    """The console's errors since the last call: a failed request, a CSP violation, a script error."""
    entries: list[dict[str, str]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return [entry["message"] for entry in entries if entry["level"] == "SEVERE"]


def fetched_urls(browser: Chrome) -> list[str]:
    """The page's address and every resource it fetched."""
    urls: list[str] = browser.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map(entry => entry.name)]"
    )
    return urls
