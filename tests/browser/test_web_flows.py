"""The web app as a person uses it, in a real headless Chromium against a real `postboard serve`, on SQLite
and on PostgreSQL: every flow of issue 12's "What a person can do", the errors told in the page, two
people at once, two tabs of one browser, a form without its CSRF token, the keyboard alone; checks of
accessibility that a browser can make; and the README's screenshots."""

import itertools
import os
import re
import uuid
from pathlib import Path

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from postboard.posts.models import TITLE_MAX_LENGTH
from postboard.web.messages import FORBIDDEN_FORM, NOTICES
from tests.browser.driver import console_errors, fetched_urls, waiting
from tests.browser.web import WEB, Person, Server
from tests.helpers import DEFAULT_PASSWORD, NEW_PASSWORD
from tests.live_server import register_and_log_in

# `make screenshots` sets it to docs/screenshots, the README's; other runs write theirs to a temporary
# folder (the pages show the time, so every run's pictures differ from the committed ones).
SCREENSHOTS_VARIABLE = "POSTBOARD_SCREENSHOTS"
DESKTOP = (1280, 900)
PHONE = (390, 844)
SESSION_COOKIE = "postboard_session"

UNLABELLED_FIELDS = """
return [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter(field => !(field.labels && field.labels.length) && !field.getAttribute("aria-label"))
  .map(field => field.outerHTML)"""
HEADING_LEVELS = """
return [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")].map(heading => Number(heading.tagName[1]))"""
FOCUS_STYLE = """
const style = getComputedStyle(arguments[0]);
return [style.outlineStyle, style.outlineWidth, style.outlineColor, style.boxShadow].join(" ")"""


def new_email(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def new_word() -> str:
    """A word no other test's titles hold, to find this test's posts by."""
    return f"w{uuid.uuid4().hex[:10]}"


def api_token(server: Server, email: str) -> dict[str, str]:
    """Registers `email` through the API; the headers of its bearer token."""
    return {"Authorization": f"Bearer {register_and_log_in(server.client, email)}"}


def api_post(
    server: Server, headers: dict[str, str], title: str, published: bool = True, content: str = ""
) -> int:
    body = {"title": title, "content": content or f"About {title}", "published": published}
    created = server.client.post("/posts/", json=body, headers=headers)
    assert created.status_code == 201, created.text
    post_id: int = created.json()["id"]
    return post_id


def titles(person: Person) -> list[str]:
    return [heading.text for heading in person.all("article.post h2")]


def vote_form(person: Person, post_id: int) -> WebElement:
    return person.find(f'form.vote[action$="/posts/{post_id}/vote"]')


def emulate(browser: Chrome, size: tuple[int, int]) -> None:
    """A viewport of `size` (CSS pixels), a phone's (the page's viewport meta honoured) below 500 wide."""
    width, height = size
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500},
    )


def press_keys(browser: Chrome, *keys: str) -> None:
    """Keys typed into whatever has the focus: no element is clicked or addressed."""
    ActionChains(browser).send_keys(*keys).perform()


def tab_to(browser: Chrome, css: str) -> None:
    """Presses Tab until the element matching `css` has the focus."""
    for _ in range(20):
        press_keys(browser, Keys.TAB)
        if browser.execute_script("return document.activeElement.matches(arguments[0])", css):
            return
    pytest.fail(f"Tab never reached {css}")


def assert_sound_page(person: Person, server: Server) -> None:
    """What a browser can check of a page: labelled fields, headings in order, nothing fetched from
    elsewhere, no console error (a failed request, a CSP violation, a script error)."""
    assert person.script(UNLABELLED_FIELDS) == [], person.path
    levels = person.script(HEADING_LEVELS)
    assert isinstance(levels, list)
    assert levels[:1] == [1], (person.path, levels)
    assert all(level <= before + 1 for before, level in itertools.pairwise(levels)), levels
    elsewhere = [url for url in fetched_urls(person.browser) if not url.startswith(f"{server.base_url}/")]
    assert elsewhere == [], person.path
    assert console_errors(person.browser) == [], person.path


def assert_fits(person: Person) -> None:
    """No horizontal scrolling: the page is no wider than the window."""
    widths = person.script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert isinstance(widths, list)
    scroll_width, inner_width = widths
    assert scroll_width <= inner_width, (person.path, scroll_width, inner_width)


# --- screenshots first: the feed then holds their posts alone ---------------------------------------------


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # the same pages on PostgreSQL: once is enough
def test_screenshots_of_the_feed_a_post_and_the_account_at_desktop_and_phone_widths(
    server: Server, alice: Person, tmp_path: Path
) -> None:
    grace = api_token(server, "grace@example.com")
    ada = "ada@example.com"
    alice.register(ada)
    alice.log_in(ada)
    api_post(server, grace, "Notes on the Analytical Engine")
    api_post(server, grace, "A draft nobody else sees", published=False)
    alice.write_post("Compilers, and why we need them", "Programs that write programs.\n\nMore soon.")
    post_id = api_post(
        server,
        grace,
        "Hello from the web app",
        content="Postboard has pages for people now: the feed, posts, drafts, votes and your account, "
        "in any browser, with or without JavaScript.\n\nVote with one click; the count updates in place.",
    )
    alice.open(f"{WEB}/posts/{post_id}")
    alice.find(f'form.vote[action$="/posts/{post_id}/vote"] button').click()
    alice.wait_text(".vote .count", "1 vote")
    screenshots = Path(os.environ.get(SCREENSHOTS_VARIABLE) or tmp_path)
    screenshots.mkdir(parents=True, exist_ok=True)
    for page, path in [
        ("feed", f"{WEB}/"),
        ("post", f"{WEB}/posts/{post_id}"),
        ("account", f"{WEB}/account"),
    ]:
        for width_name, size in [("desktop", DESKTOP), ("phone", PHONE)]:
            emulate(alice.browser, size)
            alice.open(path)
            alice.find("main h1")
            assert_fits(alice)
            assert alice.browser.save_screenshot(str(screenshots / f"{page}-{width_name}.png"))
    assert console_errors(alice.browser) == []


# --- the root, registration, logging in and out ----------------------------------------------------------


def test_a_browser_opening_the_root_lands_on_the_web_app_and_api_clients_keep_the_json(
    server: Server, alice: Person
) -> None:
    alice.open("/")
    assert alice.path == f"{WEB}/login?next=%2Fweb%2F"  # the web app, which asks to log in first
    assert alice.text("h1") == "Log in"
    assert server.client.get("/").json() == {"message": "Hello World"}


def test_register_log_in_and_log_out(alice: Person) -> None:
    email = new_email("alice")
    alice.register(email)
    assert alice.path == f"{WEB}/login?notice=registered"
    assert alice.text(".notice") == NOTICES["registered"]

    alice.log_in(email)
    assert alice.path == f"{WEB}/"
    assert alice.text("h1") == "Feed"
    assert "My account" in alice.text("header")

    alice.log_out()
    assert alice.text(".notice") == NOTICES["logged-out"]
    alice.open(f"{WEB}/")
    assert alice.path == f"{WEB}/login?next=%2Fweb%2F"
    assert "Log out" not in alice.text("header")


def test_registration_and_login_with_the_keyboard_alone(alice: Person) -> None:
    email = new_email("keys")
    browser = alice.browser
    alice.open(f"{WEB}/register")
    tab_to(browser, "#email")
    press_keys(browser, email)
    tab_to(browser, "#password")
    press_keys(browser, DEFAULT_PASSWORD, Keys.ENTER)
    alice.wait_text(".notice", NOTICES["registered"])

    tab_to(browser, "#email")
    press_keys(browser, email, Keys.TAB, DEFAULT_PASSWORD, Keys.TAB)
    assert browser.execute_script("return document.activeElement.textContent") == "Log in"
    press_keys(browser, Keys.ENTER)
    alice.wait_text("main h1", "Feed")
    assert alice.path == f"{WEB}/"


def test_a_wrong_password_then_a_throttled_login_tell_the_wait(server: Server, alice: Person) -> None:
    email = new_email("throttled")
    api_token(server, email)
    alice.log_in(email, "not the password at all")
    assert alice.text("[role=alert]").endswith("Invalid Credentials")
    assert alice.find("#email").get_attribute("value") == email
    assert alice.find("#password").get_attribute("value") == ""

    # The server's budget is 3 failed logins a minute per account (conftest.SERVER_SETTINGS).
    for _ in range(5):
        alice.log_in(email, "not the password at all")
        if "Too many" in alice.text("[role=alert]"):
            break
    assert alice.status == 429
    assert re.search(
        r"Too many failed login attempts, try again later \(wait \d+ seconds\)\.", alice.text("[role=alert]")
    )
    # The right password waits too.
    alice.log_in(email)
    assert alice.path == f"{WEB}/login"
    assert "Too many" in alice.text("[role=alert]")


# --- the feed, a post's page, writing -------------------------------------------------------------------


def test_the_feed_newest_first_with_author_votes_pages_and_search(server: Server, alice: Person) -> None:
    email, word = new_email("feed"), new_word()
    headers = api_token(server, email)
    ids = [api_post(server, headers, f"{word} number {n}") for n in range(1, 13)]
    voter = api_token(server, new_email("voter"))
    assert server.client.post("/vote/", json={"post_id": ids[-1], "dir": 1}, headers=voter).status_code == 201
    alice.log_in(email)

    assert titles(alice) == [f"{word} number {n}" for n in range(12, 2, -1)]  # ten, newest first
    newest = alice.find("article.post")
    assert f"by {email}" in newest.find_element("css selector", ".meta").text
    assert vote_form(alice, ids[-1]).text.startswith("1 vote")
    assert vote_form(alice, ids[-1]).find_element("css selector", "button").text == "Vote"  # not mine
    assert vote_form(alice, ids[-2]).text.startswith("0 votes")

    alice.follow("Older posts")
    assert alice.path == f"{WEB}/?page=2"
    assert titles(alice)[:2] == [f"{word} number 2", f"{word} number 1"]
    alice.follow("Newer posts")
    assert titles(alice)[0] == f"{word} number 12"

    alice.fill("#search", f"{word} number 1")  # 1, 10, 11 and 12
    alice.press("Search")
    assert titles(alice) == [f"{word} number {n}" for n in (12, 11, 10, 1)]
    assert alice.all("nav.pages a") == []
    alice.fill("#search", new_word())
    alice.press("Search")
    assert "No post title matches your search." in alice.text()


def test_a_post_has_its_own_page_and_a_missing_one_a_real_404(server: Server, alice: Person) -> None:
    email, word = new_email("reader"), new_word()
    post_id = api_post(server, api_token(server, email), f"{word} to read")
    alice.log_in(email)
    alice.fill("#search", word)
    alice.press("Search")
    alice.follow(f"{word} to read")
    assert alice.path == f"{WEB}/posts/{post_id}"
    assert alice.text("h1") == f"{word} to read"
    assert alice.text(".content") == f"About {word} to read"
    assert f"by {email}" in alice.text(".meta")

    for missing in [f"{WEB}/posts/{post_id + 100_000}", f"{WEB}/no-such-page"]:
        alice.open(missing)
        assert alice.status == 404
        assert alice.text("h1") == "Not found"
        assert alice.browser.title == "Not found - Postboard"
        alice.follow("Back to the feed")
        assert alice.text("h1") == "Feed"


def test_write_publish_or_keep_a_draft_edit_and_delete_after_confirming(alice: Person) -> None:
    word = new_word()
    alice.signed_up(new_email("writer"))
    post_id = alice.write_post(f"{word} first", "Written in a browser")
    assert alice.text("h1") == f"{word} first"
    assert "Draft" not in alice.text(".meta")

    alice.follow("Edit")
    assert alice.find("#title").get_attribute("value") == f"{word} first"
    alice.fill("#title", f"{word} edited")
    alice.find("#published").click()  # unticked: back to a draft
    alice.press("Save")
    assert alice.path == f"{WEB}/posts/{post_id}"
    assert alice.text("h1") == f"{word} edited"
    assert "Draft" in alice.text(".meta")
    draft_id = alice.write_post(f"{word} kept", publish=False)

    alice.follow("My drafts")
    assert titles(alice)[:2] == [f"{word} kept", f"{word} edited"]

    alice.open(f"{WEB}/posts/{post_id}")
    alice.follow("Delete")
    assert alice.text("h1") == "Delete the post?"
    alice.follow("Keep it")
    assert alice.path == f"{WEB}/posts/{post_id}"
    alice.follow("Delete")
    alice.press("Delete it")
    assert alice.path == f"{WEB}/?notice=deleted"
    assert alice.text(".notice") == NOTICES["deleted"]
    alice.open(f"{WEB}/posts/{post_id}")
    assert alice.status == 404
    alice.open(f"{WEB}/posts/{draft_id}")
    assert alice.status == 200


def test_a_title_too_long_is_told_in_the_page_with_the_values_kept(alice: Person) -> None:
    alice.signed_up(new_email("long"))
    alice.open(f"{WEB}/posts/new")
    # The field's maxlength stops a person typing more: a browser that ignores it is what the server hears.
    alice.script("document.getElementById('title').removeAttribute('maxlength')")
    alice.script("document.getElementById('title').value = 'x'.repeat(arguments[0])", TITLE_MAX_LENGTH + 1)
    alice.fill("#content", "Kept content")
    alice.press("Post")
    assert alice.status == 422
    assert "Title" in alice.text(".errors")
    assert str(TITLE_MAX_LENGTH) in alice.text(".errors")
    assert alice.find("#content").get_attribute("value") == "Kept content"
    assert len(alice.find("#title").get_attribute("value") or "") == TITLE_MAX_LENGTH + 1


# --- votes, two people ----------------------------------------------------------------------------------


def test_two_people_one_votes_on_the_others_post_with_one_click_and_no_reload(
    alice: Person, bob: Person
) -> None:
    word = new_word()
    bob.signed_up(new_email("bob"))
    post_id = bob.write_post(f"{word} by bob")
    alice.signed_up(new_email("alice"))
    alice.fill("#search", word)
    alice.press("Search")
    alice.script("window.stillThisPage = true")

    form = vote_form(alice, post_id)
    form.find_element("css selector", "button").click()
    alice.wait_text(f'form.vote[action$="/posts/{post_id}/vote"] .count', "1 vote")
    button = vote_form(alice, post_id).find_element("css selector", "button")
    waiting(alice.browser).until(lambda _: button.text == "Take back my vote")
    assert button.get_attribute("aria-pressed") == "true"
    assert alice.script("return window.stillThisPage") is True  # updated in place: no page was loaded

    bob.open(f"{WEB}/posts/{post_id}")
    assert bob.text(".vote .count") == "1 vote"
    assert bob.text(".vote button") == "Vote"  # the vote is Alice's, not his

    button.click()
    alice.wait_text(f'form.vote[action$="/posts/{post_id}/vote"] .count', "0 votes")
    waiting(alice.browser).until(lambda _: button.text == "Vote")
    assert alice.script("return window.stillThisPage") is True
    alice.browser.refresh()
    assert vote_form(alice, post_id).text.startswith("0 votes")
    assert console_errors(alice.browser) == []


def test_a_draft_stays_invisible_to_the_other_user(alice: Person, bob: Person) -> None:
    word = new_word()
    alice.signed_up(new_email("alice"))
    draft_id = alice.write_post(f"{word} secret", publish=False)
    alice.open(f"{WEB}/")
    assert titles(alice)[0] == f"{word} secret"  # her own draft, marked
    assert "Draft" in alice.text("article.post .meta")

    bob.signed_up(new_email("bob"))
    assert f"{word} secret" not in titles(bob)
    bob.fill("#search", word)
    bob.press("Search")
    assert titles(bob) == []
    bob.follow("My drafts")
    assert f"{word} secret" not in titles(bob)
    bob.open(f"{WEB}/posts/{draft_id}")
    assert bob.status == 404
    assert f"{word} secret" not in bob.text()


def test_a_post_that_no_longer_exists_is_told(alice: Person, bob: Person) -> None:
    word = new_word()
    alice.signed_up(new_email("alice"))
    post_id = alice.write_post(f"{word} short-lived")
    bob.signed_up(new_email("bob"))
    bob.open(f"{WEB}/posts/{post_id}")

    alice.follow("Delete")
    alice.press("Delete it")

    # The script's request is answered 404, and the form is then sent as a page, which says why.
    bob.click_to_next_page(bob.find(".vote button"))
    assert bob.status == 404
    assert bob.text("h1") == "Not found"
    assert "post" in bob.text("[role=alert]").lower()


# --- sessions ------------------------------------------------------------------------------------------


def test_a_logout_in_one_tab_ends_the_session_in_another(alice: Person) -> None:
    alice.signed_up(new_email("tabs"))
    browser = alice.browser
    first_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    alice.open(f"{WEB}/account")
    assert alice.text("h1") == "My account"
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None

    browser.switch_to.window(first_tab)
    alice.log_out()

    browser.switch_to.window(browser.window_handles[1])
    alice.follow("Write a post")
    assert alice.path == f"{WEB}/login?next=%2Fweb%2Fposts%2Fnew"
    # Even the cookie kept from before the logout names a session that has ended.
    browser.add_cookie({key: cookie[key] for key in ("name", "value", "path", "httpOnly")})
    alice.open(f"{WEB}/account")
    assert alice.path == f"{WEB}/login?notice=ended&next=%2Fweb%2Faccount"
    assert alice.text(".notice") == NOTICES["ended"]


def test_a_form_posted_without_its_csrf_token_is_refused(alice: Person) -> None:
    word = new_word()
    alice.signed_up(new_email("csrf"))
    alice.open(f"{WEB}/posts/new")
    alice.fill("#title", f"{word} forged")
    alice.script("document.querySelector('main form input[name=csrf_token]').remove()")
    alice.press("Post")
    assert alice.status == 403
    assert alice.text("[role=alert]") == FORBIDDEN_FORM

    alice.open(f"{WEB}/?search={word}")
    assert titles(alice) == []  # nothing was written, and the session goes on


def test_change_email_and_password_ends_the_other_sessions(alice: Person, bob: Person) -> None:
    email, changed = new_email("account"), new_email("changed")
    alice.signed_up(email)
    bob.log_in(email)  # the same account, in another browser
    assert bob.text("h1") == "Feed"

    alice.follow("My account")
    alice.fill("#new-email", changed)
    alice.fill("#email-password", "not the password at all")
    alice.press("Change my email")
    assert alice.status == 403
    assert "The current password is incorrect" in alice.text("#email-heading + .errors")
    assert alice.find("#new-email").get_attribute("value") == changed
    alice.fill("#email-password", DEFAULT_PASSWORD)
    alice.press("Change my email")
    assert alice.text(".notice") == NOTICES["email-changed"]
    assert f"Signed in as {changed}" in alice.text()

    alice.fill("#current-password", DEFAULT_PASSWORD)
    alice.fill("#new-password", NEW_PASSWORD)
    alice.press("Change my password")
    assert alice.text(".notice") == NOTICES["password-changed"]
    bob.open(f"{WEB}/account")
    assert bob.text(".notice") == NOTICES["ended"]

    alice.log_in(changed, DEFAULT_PASSWORD)
    assert alice.text("[role=alert]").endswith("Invalid Credentials")
    alice.log_in(changed, NEW_PASSWORD)
    assert alice.text("h1") == "Feed"


def test_deleting_the_account_asks_for_the_password(alice: Person) -> None:
    email, word = new_email("leaving"), new_word()
    alice.signed_up(email)
    post_id = alice.write_post(f"{word} goes too")
    alice.follow("My account")
    alice.fill("#delete-password", "not the password at all")
    alice.press("Delete my account")
    assert "The current password is incorrect" in alice.text("#delete-heading ~ .errors")
    alice.fill("#delete-password", DEFAULT_PASSWORD)
    alice.press("Delete my account")
    assert alice.text(".notice") == NOTICES["account-deleted"]

    alice.log_in(email)
    assert alice.text("[role=alert]").endswith("Invalid Credentials")
    alice.signed_up(new_email("after"))
    alice.open(f"{WEB}/posts/{post_id}")
    assert alice.status == 404


# --- accessibility ---------------------------------------------------------------------------------------


def test_every_page_has_labelled_fields_ordered_headings_fits_a_phone_and_stays_on_this_site(
    server: Server, alice: Person
) -> None:
    alice.open(f"{WEB}/login")
    assert_sound_page(alice, server)
    alice.open(f"{WEB}/register")
    assert_sound_page(alice, server)
    alice.signed_up(new_email("pages"))
    post_id = alice.write_post(f"{new_word()} with a rather long title " + "word " * 30)
    alice.write_post(f"{new_word()} draft", publish=False)
    pages = [
        f"{WEB}/",
        f"{WEB}/?search=nothing-matches-this",
        f"{WEB}/posts/{post_id}",
        f"{WEB}/posts/{post_id}/edit",
        f"{WEB}/posts/{post_id}/delete",
        f"{WEB}/posts/new",
        f"{WEB}/drafts",
        f"{WEB}/account",
        f"{WEB}/no-such-page",
    ]
    # At a phone's width, where a page is likeliest not to fit (the screenshots' test checks the feed, a
    # post and the account page at a desktop's width too).
    emulate(alice.browser, PHONE)
    for path in pages:
        alice.open(path)
        alice.find("main h1")
        assert_fits(alice)
        if path.endswith("no-such-page"):
            console_errors(alice.browser)  # the page's own 404, logged as a failed load
        assert_sound_page(alice, server)


def test_the_focus_is_visible(alice: Person) -> None:
    browser = alice.browser
    alice.open(f"{WEB}/login")
    for element_id in ("email", "password"):
        field = alice.find(f"#{element_id}")
        browser.execute_script("arguments[0].blur()", field)
        unfocused = browser.execute_script(FOCUS_STYLE, field)
        tab_to(browser, f"#{element_id}")
        assert browser.execute_script(FOCUS_STYLE, field) != unfocused, element_id
    button = alice.find("main button")
    unfocused = browser.execute_script(FOCUS_STYLE, button)
    press_keys(browser, Keys.TAB)
    assert browser.switch_to.active_element == button
    assert browser.execute_script(FOCUS_STYLE, button) != unfocused
    link = alice.find("header a.brand")
    unfocused = browser.execute_script(FOCUS_STYLE, link)
    tab_to(browser, "header a.brand")
    assert browser.execute_script(FOCUS_STYLE, link) != unfocused
