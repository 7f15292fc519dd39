"""The web app joined to the application: its routes, its stylesheet, and the keys of its cookies."""

from fastapi import APIRouter, FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from postboard.config import Settings
from postboard.headers import is_web_path
from postboard.routing import method_not_allowed
from postboard.web import account_pages, post_pages, session_pages
from postboard.web.messages import NOT_FOUND_PAGE, WRONG_METHOD
from postboard.web.pages import STATIC_DIRECTORY, STATIC_URL, render
from postboard.web.sessions import CookieSigner

# For install_routes, beside the API's routers (the size cap must learn which take small bodies).
WEB_ROUTERS: list[APIRouter] = [post_pages.router, session_pages.router, account_pages.router]


def install_web(app: FastAPI, settings: Settings, secret_key: str) -> None:
    app.state.web_cookie_signer = CookieSigner(secret_key)
    # Browsers drop a Secure cookie on plain HTTP, so only where people reach Postboard over HTTPS.
    app.state.web_secure_cookies = settings.public_url is not None and settings.public_url.scheme == "https"
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIRECTORY), name="web-static")
    # An address under /web that names no page, or not for that method, is answered with a page; the API's
    # keep their JSON.
    app.add_exception_handler(status.HTTP_404_NOT_FOUND, _not_found)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed)


async def _not_found(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if not is_web_path(request.url.path):
        return await http_exception_handler(request, error)
    return render("error.html", error.status_code, title="Not found", message=NOT_FOUND_PAGE, session=None)


async def _method_not_allowed(request: Request, error: Exception) -> Response:
    api_answer = await method_not_allowed(request, error)
    if not is_web_path(request.url.path):
        return api_answer
    page = render("error.html", 405, title="Method not allowed", message=WRONG_METHOD, session=None)
    page.headers["Allow"] = api_answer.headers["Allow"]
    return page
