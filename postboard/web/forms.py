"""Reading the web app's forms: their fields as text, their CSRF token checked, and pydantic's refusals
told as sentences."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.dependencies import check_may_post, user_in_live_login_session
from postboard.auth.service import count_write
from postboard.request_db import app_database
from postboard.users.models import User
from postboard.web.routing import cookie_signer, cookies_of
from postboard.web.sessions import CSRF_FIELD, WebSession

Fields = dict[str, str]


async def read_form(request: Request) -> Fields:
    """The form's text fields (a file part, which no form here has, is left out)."""
    form = await request.form()
    return {name: value for name, value in form.items() if isinstance(value, str)}


async def read_session_form(request: Request, session: WebSession) -> Fields:
    """The form of a signed-in browser, if it carries its session's CSRF token (else 403)."""
    fields = await read_form(request)
    cookie_signer(request).check_session_csrf(session.caller, fields.get(CSRF_FIELD))
    return fields


async def read_anonymous_form(request: Request) -> Fields:
    """A form posted before a login (log in, register), if its token matches the form cookie (else 403)."""
    fields = await read_form(request)
    cookie_signer(request).check_form_csrf(
        request.cookies.get(cookies_of(request).form), fields.get(CSRF_FIELD)
    )
    return fields


def problems(error: ValidationError, labels: dict[str, str]) -> list[str]:
    """One sentence per refused field, named by its label; never its value, which may be a password."""
    sentences = []
    for problem in error.errors(include_input=False, include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        sentences.append(f"{labels.get(field, field)} {_in_words(problem)}.")
    return sentences


def _in_words(problem: Any) -> str:
    """What is wrong with a field, said of it: pydantic's own words count "items" for a bounded string."""
    bounds = problem.get("ctx") or {}
    kind = problem["type"]
    if kind in ("too_long", "string_too_long"):
        return f"must be at most {bounds['max_length']} characters long"
    if kind in ("too_short", "string_too_short"):
        minimum = bounds["min_length"]
        return "must not be empty" if minimum == 1 else f"must be at least {minimum} characters long"
    message: str = problem["msg"]
    return message.removeprefix("Value error, ")


@asynccontextmanager
async def signed_in_write(
    request: Request, session: WebSession, posting: bool = False
) -> AsyncIterator[tuple[AsyncSession, User]]:
    """One transaction for a signed-in browser's write, with its user loaded while the login session is
    alive (else 401), as `CurrentUser` gives the API's writes (`PostingUser` when `posting`: writing a post
    or voting); committed on leaving, rolled back on an error, which the caller may then show in the page."""
    database = app_database(request)
    async with database.orm_session(writes=True) as db, db.begin():
        user = await user_in_live_login_session(db, session.caller)
        if posting:
            check_may_post(request, user)
        yield db, user
        if database.has_replica:
            await count_write(db, session.caller.login_session_id)
