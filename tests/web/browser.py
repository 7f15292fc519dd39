"""What the web app's tests share: reading a page's CSRF token, and registering and logging in through
the forms as a browser would (cookies kept by the httpx client)."""

import re
from urllib.parse import urlencode

import httpx

from tests.helpers import DEFAULT_PASSWORD

WEB = "/web"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: httpx.Response) -> str:
    """The CSRF token of the page's first form."""
    match = _CSRF_FIELD.search(page.text)
    assert match is not None, page.text
    return match.group(1)


async def submit(client: httpx.AsyncClient, form_page: str, action: str, **fields: str) -> httpx.Response:
    """Opens `form_page` and posts `fields` to `action` with the CSRF token it shows."""
    page = await client.get(form_page)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_token(page), **fields})


async def web_register(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    return await submit(client, f"{WEB}/register", f"{WEB}/register", email=email, password=password)


async def web_log_in(
    client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD
) -> httpx.Response:
    return await submit(client, f"{WEB}/login", f"{WEB}/login", email=email, password=password)


async def signed_in(client: httpx.AsyncClient, email: str, password: str = DEFAULT_PASSWORD) -> None:
    """Registers `email` and logs in through the forms; the client then holds the session cookie."""
    registered = await web_register(client, email, password)
    assert registered.status_code == 303, registered.text
    logged_in = await web_log_in(client, email, password)
    assert logged_in.status_code == 303, logged_in.text
    assert logged_in.headers["location"] == f"{WEB}/"


async def write_post(
    client: httpx.AsyncClient, title: str, content: str = "Some content", publish: bool = True
) -> int:
    """Writes a post through the editor; its id, read from where the browser is sent."""
    fields = {"title": title, "content": content, **({"published": "on"} if publish else {})}
    response = await submit(client, f"{WEB}/posts/new", f"{WEB}/posts/new", **fields)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{WEB}/posts/")
    return int(location.rsplit("/", 1)[1])


def login_redirect(page: str, notice: str | None = None) -> str:
    """Where a GET of `page` is sent without a live session: the login form, which sends it back after."""
    return f"{WEB}/login?{urlencode({**({'notice': notice} if notice else {}), 'next': page})}"
