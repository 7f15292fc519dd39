"""A person at the web app in a browser: opens pages, fills and sends forms, reads what the page says.
Every form is sent by clicking its button, as a person would, and waits for the next page."""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.driver import wait_for, wait_for_text, waiting
from tests.helpers import DEFAULT_PASSWORD
from tests.live_server import run_postboard

WEB = "/web"


@dataclass
class Server:
    database: str  # "sqlite" or "postgresql"
    client: httpx.Client  # for the API, and to set up what a test does not do through the pages
    workdir: Path  # where it was started
    settings: dict[str, str]  # what it was started with

    @property
    def base_url(self) -> str:
        return str(self.client.base_url).rstrip("/")

    def set_role(self, email: str, role: str) -> None:
        """`postboard set-role`, as an operator runs it beside the server."""
        result = run_postboard(["set-role", email, role], self.workdir, **self.settings)
        assert result.returncode == 0, result.stderr


@dataclass
class Person:
    browser: Chrome
    base_url: str

    def open(self, path: str) -> None:
        self.browser.get(f"{self.base_url}{path}")

    @property
    def path(self) -> str:
        """Where the browser is: the path and query of its address."""
        address = urlsplit(self.browser.current_url)
        return f"{address.path}?{address.query}" if address.query else address.path

    @property
    def status(self) -> int:
        """The HTTP status of the page shown."""
        status: int = self.browser.execute_script(
            "return performance.getEntriesByType('navigation')[0].responseStatus"
        )
        return status

    def find(self, css: str) -> WebElement:
        return wait_for(self.browser, css)

    def all(self, css: str) -> list[WebElement]:
        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str = "main") -> str:
        return self.find(css).text

    def wait_text(self, css: str, text: str) -> None:
        wait_for_text(self.browser, css, text)

    def fill(self, css: str, text: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    def click_to_next_page(self, element: WebElement) -> None:
        """Clicks `element` and waits until another page has loaded."""
        page = self.browser.find_element(By.TAG_NAME, "html")
        element.click()

        def page_replaced(_: Chrome) -> bool:
            try:
                page.is_enabled()
            except StaleElementReferenceException:
                return True
            return False

        waiting(self.browser).until(page_replaced)
        self.find("main")

    def click(self, css: str) -> None:
        self.click_to_next_page(self.find(css))

    def follow(self, link_text: str) -> None:
        self.click_to_next_page(self.browser.find_element(By.LINK_TEXT, link_text))

    def press(self, button_text: str, within: str = "main") -> None:
        """Clicks the button saying `button_text` (in the `within` element) and waits for the page it
        leads to."""
        button = self.browser.find_element(By.XPATH, f"//{within}//button[normalize-space()='{button_text}']")
        self.click_to_next_page(button)

    def register(self, email: str, password: str = DEFAULT_PASSWORD) -> None:
        self.open(f"{WEB}/register")
        self.fill("#email", email)
        self.fill("#password", password)
        self.press("Create my account")

    def log_in(self, email: str, password: str = DEFAULT_PASSWORD) -> None:
        if self.path != f"{WEB}/login":  # a login page's form is filled again after a refusal
            self.open(f"{WEB}/login")
        self.fill("#email", email)
        self.fill("#password", password)
        self.press("Log in")

    def signed_up(self, email: str) -> None:
        """Registers and logs in through the forms; on the feed afterwards."""
        self.register(email)
        # On the login page the registration leads to.
        self.fill("#email", email)
        self.fill("#password", DEFAULT_PASSWORD)
        self.press("Log in")
        assert self.path == f"{WEB}/", self.text()

    def log_out(self) -> None:
        self.press("Log out", within="header")

    def write_post(self, title: str, content: str = "Some content", publish: bool = True) -> int:
        """Writes a post through the editor; its id, read from the post's page the browser is sent to."""
        self.open(f"{WEB}/posts/new")
        self.fill("#title", title)
        self.fill("#content", content)
        box = self.find("#published")
        if box.is_selected() != publish:
            box.click()
        self.press("Post")
        assert self.path.startswith(f"{WEB}/posts/"), self.text()
        return int(self.path.rsplit("/", 1)[1])

    def script(self, source: str, *args: object) -> object:
        return self.browser.execute_script(source, *args)
