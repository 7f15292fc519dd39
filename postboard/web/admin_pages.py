"""The admins' page: the report queue, accounts (search, suspend, reinstate) and the audit log; the
services of the /admin routes, each action with its reason. Others get the 403 page."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.dependencies import check_is_admin, user_in_live_login_session
from postboard.errors import ADMINS_ONLY, Conflict, Forbidden, NotFound
from postboard.fields import PathId
from postboard.headers import WEB_PREFIX
from postboard.moderation import service
from postboard.moderation.router import EmailSearch
from postboard.moderation.schemas import ReasonIn
from postboard.request_db import app_database
from postboard.users.models import User
from postboard.web.forms import problems, read_session_form, signed_in_write
from postboard.web.messages import NOTICES
from postboard.web.pages import redirect, render
from postboard.web.routing import SignedIn, WebRoute
from postboard.web.sessions import WebSession

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=WebRoute)
ADMIN_PAGE = f"{WEB_PREFIX}/admin"
ACCOUNTS_PAGE = f"{ADMIN_PAGE}/accounts"
AUDIT_PAGE = f"{ADMIN_PAGE}/audit-log"
PAGE_SIZE = 20
MAX_PAGE = 100_000
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
_LABELS = {"reason": "Reason"}


@asynccontextmanager
async def _admin_read(request: Request, session: WebSession) -> AsyncIterator[AsyncSession]:
    """A read for an admin: the role read from the database now, as the API's admin routes read it."""
    async with app_database(request).orm_session(writes=False) as db, db.begin():
        check_is_admin(await user_in_live_login_session(db, session.caller))
        yield db


@asynccontextmanager
async def _admin_write(request: Request, session: WebSession) -> AsyncIterator[tuple[AsyncSession, User]]:
    async with signed_in_write(request, session) as (db, user):
        check_is_admin(user)
        yield db, user


def _skip(page: int) -> int:
    return (page - 1) * PAGE_SIZE


def _admin_page(template: str, session: WebSession, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("errors", [])
    context.setdefault("notice", None)
    return render(template, status_code, session=session, **context)


@router.get("/admin")
async def report_queue(
    request: Request, session: SignedIn, page: PageNumber = 1, notice: str = ""
) -> Response:
    return await _queue_page(request, session, page, notice=NOTICES.get(notice))


async def _queue_page(
    request: Request, session: WebSession, page: int, status_code: int = 200, **context: Any
) -> Response:
    async with _admin_read(request, session) as db:
        reported = await service.list_reported_posts(db, limit=PAGE_SIZE + 1, skip=_skip(page))
    return _admin_page(
        "admin_reports.html",
        session,
        status_code,
        reported=reported[:PAGE_SIZE],
        page=page,
        has_next=len(reported) > PAGE_SIZE,
        **context,
    )


@router.get("/admin/accounts")
async def accounts(
    request: Request,
    session: SignedIn,
    page: PageNumber = 1,
    search: Annotated[EmailSearch, Query()] = "",
    notice: str = "",
) -> Response:
    return await _accounts_page(request, session, page, search, notice=NOTICES.get(notice))


async def _accounts_page(
    request: Request, session: WebSession, page: int, search: str, status_code: int = 200, **context: Any
) -> Response:
    async with _admin_read(request, session) as db:
        found = await service.list_accounts(db, search=search, limit=PAGE_SIZE + 1, skip=_skip(page))
    return _admin_page(
        "admin_accounts.html",
        session,
        status_code,
        accounts=found[:PAGE_SIZE],
        page=page,
        has_next=len(found) > PAGE_SIZE,
        search=search,
        **context,
    )


@router.get("/admin/audit-log")
async def audit_log(request: Request, session: SignedIn, page: PageNumber = 1) -> Response:
    async with _admin_read(request, session) as db:
        entries = await service.list_audit_log(db, limit=PAGE_SIZE + 1, skip=_skip(page))
    return _admin_page(
        "admin_audit.html", session, entries=entries[:PAGE_SIZE], page=page, has_next=len(entries) > PAGE_SIZE
    )


async def _reason(request: Request, session: WebSession) -> ReasonIn:
    """The form's reason, its CSRF token checked; a ValidationError if the reason is refused."""
    fields = await read_session_form(request, session)
    return ReasonIn(reason=fields.get("reason", ""))


@router.post("/admin/posts/{id}/delete")
async def delete_post(request: Request, session: SignedIn, id: PathId) -> Response:
    """From the report queue or from the post's own page; back to the queue."""
    return await _act_on_queue(request, session, id, service.delete_post, "post-removed")


@router.post("/admin/reports/{id}/dismiss")
async def dismiss_reports(request: Request, session: SignedIn, id: PathId) -> Response:
    return await _act_on_queue(request, session, id, service.dismiss_reports, "reports-dismissed")


# An admin action on a post of the queue: (db, admin, post id, reason).
QueueAction = Callable[[AsyncSession, User, int, str], Awaitable[None]]


async def _act_on_queue(
    request: Request, session: WebSession, post_id: int, act: QueueAction, notice: str
) -> Response:
    """Does `act` with the form's reason, then back to the queue with `notice`; a refused reason is shown
    on the queue's page."""
    try:
        action = await _reason(request, session)
    except ValidationError as error:
        return await _queue_page(
            request, session, 1, status.HTTP_422_UNPROCESSABLE_CONTENT, errors=problems(error, _LABELS)
        )
    async with _admin_write(request, session) as (db, admin):
        await act(db, admin, post_id, action.reason)
    return redirect(f"{ADMIN_PAGE}?notice={notice}")


@router.post("/admin/accounts/{id}/suspend")
async def suspend_account(request: Request, session: SignedIn, id: PathId) -> Response:
    return await _change_account(request, session, id, suspend=True)


@router.post("/admin/accounts/{id}/reinstate")
async def reinstate_account(request: Request, session: SignedIn, id: PathId) -> Response:
    return await _change_account(request, session, id, suspend=False)


async def _change_account(
    request: Request, session: WebSession, account_id: int, *, suspend: bool
) -> Response:
    """Suspends or reinstates; a refusal (a reason missing, an admin, oneself, no change) is shown on the
    accounts page."""
    try:
        action = await _reason(request, session)
        async with _admin_write(request, session) as (db, admin):
            if suspend:
                await service.suspend_account(db, admin, account_id, action.reason)
            else:
                await service.reinstate_account(db, admin, account_id, action.reason)
    except ValidationError as error:
        return await _accounts_page(request, session, 1, "", 422, errors=problems(error, _LABELS))
    except (Conflict, NotFound) as error:
        return await _accounts_page(request, session, 1, "", error.status_code, errors=[error.detail])
    except Forbidden as error:
        if error.detail == ADMINS_ONLY:  # not an admin: the 403 page, with nothing of the accounts
            raise
        return await _accounts_page(request, session, 1, "", error.status_code, errors=[error.detail])
    return redirect(f"{ACCOUNTS_PAGE}?notice={'suspended' if suspend else 'reinstated'}")
