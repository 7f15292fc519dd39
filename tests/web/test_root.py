"""GET /: the course's JSON for API clients, a 303 to the web app for a browser that asks for HTML."""

import httpx
import pytest

from postboard.web.negotiation import prefers_html

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "application/json", "text/html, application/json", "application/json, text/html;q=0.5"],
)
async def test_api_clients_keep_the_greeting(client: httpx.AsyncClient, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    response = await client.get("/", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"message": "Hello World"}


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "text/html", "text/html, application/json;q=0.9"])
async def test_a_browser_is_sent_to_the_web_app(client: httpx.AsyncClient, accept: str) -> None:
    response = await client.get("/", headers={"Accept": accept})
    assert response.status_code == 303
    assert response.headers["location"] == "/web/"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/html;q=0", False),
        ("TEXT/HTML", True),
        ("text/*, application/json;q=0.5", False),  # text/html is named only through a range
        ("text/html;q=0.4, application/*;q=0.3", True),
        ("text/html;q=0.4, */*;q=0.5", False),
        ("text/html;q=bogus", False),
    ],
)
def test_prefers_html_weighs_the_ranges(accept: str, expected: bool) -> None:
    assert prefers_html(accept) is expected
