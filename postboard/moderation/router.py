"""The admins' routes, under /admin, and members' reports of posts."""

from typing import Annotated, Any

from fastapi import Query, Response, status
from pydantic import StringConstraints

from postboard.auth.dependencies import AuthenticatedRoute, CurrentAdmin, CurrentUser
from postboard.errors import Conflict, Forbidden, NotFound, Unauthorized, Unavailable
from postboard.fields import REJECT_NUL, REQUIRE_ENCODABLE, PathId
from postboard.moderation import service
from postboard.moderation.models import AuditEntry, PostReport
from postboard.moderation.schemas import (
    AuditEntryOut,
    ModeratedAccountOut,
    ReasonIn,
    ReportedPostOut,
    ReportOut,
)
from postboard.openapi import responses
from postboard.orm import MAX_OFFSET
from postboard.patterns import NO_NUL, Published
from postboard.request_db import Db
from postboard.routing import CollectionRouter
from postboard.users.models import EMAIL_MAX_LENGTH

# Every admin route answers 401 without a live login and 403 to a member.
admin_router = CollectionRouter(
    prefix="/admin",
    tags=["Admin"],
    responses=responses(Unauthorized, Forbidden, Unavailable),
    route_class=AuthenticatedRoute,
)
report_router = CollectionRouter(
    prefix="/posts",
    tags=["Posts"],
    responses=responses(Unauthorized, Unavailable),
    route_class=AuthenticatedRoute,
)

Limit = Annotated[int, Query(ge=1, le=100)]
Skip = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
EmailSearch = Annotated[
    str, StringConstraints(max_length=EMAIL_MAX_LENGTH), REQUIRE_ENCODABLE, REJECT_NUL, Published(NO_NUL)
]


@report_router.post(
    "/{id}/report",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportOut,
    responses=responses(Forbidden, NotFound, Conflict, body=True),
)
async def report_post(id: PathId, report: ReasonIn, db: Db, user: CurrentUser) -> PostReport:
    """Reports a post to the admins, once per post (409 for a second report); not one's own (403)."""
    return await service.report_post(db, user, id, report.reason)


@admin_router.get("/users", response_model=list[ModeratedAccountOut])
async def list_accounts(
    db: Db,
    admin: CurrentAdmin,
    search: Annotated[EmailSearch, Query(description="Case-insensitive substring of the email")] = "",
    limit: Limit = 20,
    skip: Skip = 0,
) -> list[dict[str, Any]]:
    """Every account, newest first, with its role, whether it is suspended, and how many posts it has."""
    return await service.list_accounts(db, search=search, limit=limit, skip=skip)


@admin_router.post(
    "/users/{id}/suspend",
    response_model=ModeratedAccountOut,
    responses=responses(NotFound, Conflict, body=True),
)
async def suspend_account(id: PathId, action: ReasonIn, db: Db, admin: CurrentAdmin) -> dict[str, Any]:
    """Ends every login session of the account at once, refuses its logins with 403 "Account suspended",
    and hides its posts from everyone but admins until it is reinstated. An admin cannot be suspended
    (409: make it a member first), nor can the caller suspend themselves (403); 409 if already suspended."""
    return await service.suspend_account(db, admin, id, action.reason)


@admin_router.post(
    "/users/{id}/reinstate",
    response_model=ModeratedAccountOut,
    responses=responses(NotFound, Conflict, body=True),
)
async def reinstate_account(id: PathId, action: ReasonIn, db: Db, admin: CurrentAdmin) -> dict[str, Any]:
    """The account may log in again and its posts are shown again; 409 if it is not suspended."""
    return await service.reinstate_account(db, admin, id, action.reason)


@admin_router.delete(
    "/posts/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(NotFound, body=True),
)
async def delete_post(id: PathId, action: ReasonIn, db: Db, admin: CurrentAdmin) -> None:
    """Deletes any post with its votes and reports; the owner's other posts stay."""
    await service.delete_post(db, admin, id, action.reason)


@admin_router.get("/reports", response_model=list[ReportedPostOut])
async def list_reported_posts(
    db: Db, admin: CurrentAdmin, limit: Limit = 20, skip: Skip = 0
) -> list[dict[str, Any]]:
    """The report queue: reported posts, most reported first (then most recently reported), each with its
    reports."""
    return await service.list_reported_posts(db, limit=limit, skip=skip)


@admin_router.delete(
    "/reports/{id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=responses(NotFound, body=True),
)
async def dismiss_reports(id: PathId, action: ReasonIn, db: Db, admin: CurrentAdmin) -> None:
    """Dismisses every report of post `id`, which stays as it is; 404 if it has none."""
    await service.dismiss_reports(db, admin, id, action.reason)


@admin_router.get("/audit-log", response_model=list[AuditEntryOut])
async def list_audit_log(db: Db, admin: CurrentAdmin, limit: Limit = 20, skip: Skip = 0) -> list[AuditEntry]:
    """Every admin action and role change, newest first: who, what, when, the target as it was, and why."""
    return await service.list_audit_log(db, limit=limit, skip=skip)
