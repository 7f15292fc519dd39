"""The web app joined to the application: its routes, its stylesheet, and the keys of its cookies."""

import json
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from postboard.config import Settings
from postboard.headers import is_web_path
from postboard.routing import method_not_allowed
from postboard.web import account_pages, admin_pages, email_pages, post_pages, session_pages
from postboard.web.messages import NOT_FOUND_PAGE, WRONG_METHOD
from postboard.web.pages import STATIC_DIRECTORY, STATIC_URL, render
from postboard.web.sessions import CookieSigner, web_cookies

# For install_routes, beside the API's routers (the size cap must learn which take small bodies).
WEB_ROUTERS: list[APIRouter] = [
    post_pages.router,
    session_pages.router,
    account_pages.router,
    email_pages.router,
    admin_pages.router,
]


def install_web(app: FastAPI, settings: Settings, secret_key: str) -> None:
    app.state.web_cookie_signer = CookieSigner(secret_key)
    # Browsers drop a Secure cookie on plain HTTP, so only where people reach Postboard over HTTPS.
    app.state.web_cookies = web_cookies(
        settings.public_url is not None and settings.public_url.scheme == "https"
    )
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIRECTORY), name="web-static")
    # The other handlers' answers (an unreachable database or Redis: 503; the unexpected: 500) become pages
    # under /web, saying what the API says. Wrapped before the two below, which make pages of their own.
    for key, api_handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _as_page_under_web(api_handler)
    # An address under /web that names no page, or not for that method, is answered with a page; the API's
    # keep their JSON.
    app.add_exception_handler(status.HTTP_404_NOT_FOUND, _not_found)
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed)


# What a page keeps of the API's answer besides its status: Retry-After, X-Request-ID, and the security
# headers that the 500 handler sets itself; not the JSON body's type and length.
_BODY_HEADERS = frozenset({"content-type", "content-length"})


def _as_page_under_web(api_handler: Any) -> Any:
    """`api_handler`, whose JSON `{"detail": <message>}` becomes an error page under /web."""

    async def handle(request: Request, error: Exception) -> Response:
        answer: Response = await api_handler(request, error)
        if not is_web_path(request.url.path) or not isinstance(answer, JSONResponse):
            return answer
        body = json.loads(bytes(answer.body))
        message = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(message, str):
            return answer
        if "request_id" in body:
            message = f"{message} (request {body['request_id']})"
        page = render(
            "error.html",
            answer.status_code,
            title=HTTPStatus(answer.status_code).phrase,
            message=message,
            session=None,
        )
        for name, value in answer.headers.items():
            if name not in _BODY_HEADERS:
                page.headers[name] = value
        return page

    return handle


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
