"""Rendering the web app's pages: Jinja2 templates, autoescaped, and the answers that carry them."""

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import status
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from postboard.headers import WEB_PREFIX
from postboard.moderation.models import REASON_MAX_LENGTH

TEMPLATES_DIRECTORY = Path(__file__).parent / "templates"
STATIC_DIRECTORY = Path(__file__).parent / "static"
STATIC_URL = f"{WEB_PREFIX}/static"
WEB_HOME = f"{WEB_PREFIX}/"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# Autoescaping for every template: titles, contents and emails are people's text, never markup. Each
# template is compiled once, on its first use: the templates ship with the package, so no page asks the
# file system whether its template changed (auto_reload), a stat per template and per include.
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIRECTORY),
    auto_reload=False,
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["when"] = _when
_environment.globals.update(web=WEB_PREFIX, static=STATIC_URL, reason_max=REASON_MAX_LENGTH)


def render(template: str, status_code: int = status.HTTP_200_OK, **context: Any) -> HTMLResponse:
    """The page; never cached: pages show one person's view (their drafts, their votes, their tokens)."""
    html = _environment.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def redirect(path: str) -> RedirectResponse:
    """303: the browser follows with a GET, so reloading the page it lands on posts nothing again."""
    return RedirectResponse(
        path, status_code=status.HTTP_303_SEE_OTHER, headers={"Cache-Control": "no-store"}
    )
