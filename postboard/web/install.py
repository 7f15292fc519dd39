"""The web app joined to the application: its routes, its stylesheet, and the keys of its cookies."""

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles

from postboard.config import Settings
from postboard.web import post_pages, session_pages
from postboard.web.pages import STATIC_DIRECTORY, STATIC_URL
from postboard.web.sessions import CookieSigner

# For install_routes, beside the API's routers (the size cap must learn which take small bodies).
WEB_ROUTERS: list[APIRouter] = [post_pages.router, session_pages.router]


def install_web(app: FastAPI, settings: Settings, secret_key: str) -> None:
    app.state.web_cookie_signer = CookieSigner(secret_key)
    # Browsers drop a Secure cookie on plain HTTP, so only where people reach Postboard over HTTPS.
    app.state.web_secure_cookies = settings.public_url is not None and settings.public_url.scheme == "https"
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIRECTORY), name="web-static")
