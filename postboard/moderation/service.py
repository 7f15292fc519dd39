"""Moderation: members report posts; admins suspend and reinstate accounts, delete posts, dismiss reports,
and read who did what. Each admin action writes its audit log entry in the action's own transaction."""

from collections import defaultdict
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.auth.service import end_all_login_sessions
from postboard.errors import (
    ALREADY_SUSPENDED,
    CANNOT_PROMOTE_SUSPENDED,
    CANNOT_REPORT_OWN_POST,
    CANNOT_SUSPEND_AN_ADMIN,
    CANNOT_SUSPEND_ONESELF,
    NOT_SUSPENDED,
    Conflict,
    Forbidden,
    NotFound,
    already_reported,
    no_account_with_email,
    no_reports,
    post_not_found_for_read,
    post_not_found_for_write,
    user_not_found,
)
from postboard.moderation.models import AuditAction, AuditEntry, PostReport, TargetType
from postboard.orm import is_storable_id, utc_now
from postboard.posts.models import PostRow
from postboard.posts.service import visible_to
from postboard.queries import LIKE_ESCAPE, insert_ignoring_duplicates, like_literally
from postboard.users.models import Role, User
from postboard.users.rows import lock_user


def _record(
    db: AsyncSession,
    actor: User | None,
    action: AuditAction,
    target: User | PostRow,
    reason: str,
) -> None:
    """Adds the audit log entry of an action to the action's transaction; `actor` None is the command
    line."""
    if isinstance(target, User):
        target_type, described = TargetType.ACCOUNT, target.email
    else:
        target_type, described = TargetType.POST, target.title
    db.add(
        AuditEntry(
            actor_id=None if actor is None else actor.id,
            actor_email=None if actor is None else actor.email,
            action=action.value,
            target_type=target_type.value,
            target_id=target.id,
            target=described,
            reason=reason,
        )
    )


# --- reports, by members -------------------------------------------------------------------------------


async def report_post(db: AsyncSession, reporter: User, post_id: int, reason: str) -> PostReport:
    """One report per member and post (409 for a second); a post the reporter cannot see is 404."""
    owner_id = None
    if is_storable_id(post_id):
        visible = select(PostRow.owner_id).where(PostRow.id == post_id, visible_to(reporter.id))
        owner_id = await db.scalar(visible)
    if owner_id is None:
        raise NotFound(post_not_found_for_read(post_id))
    if owner_id == reporter.id:
        raise Forbidden(CANNOT_REPORT_OWN_POST)
    created_at = utc_now()
    # The primary key settles races: of one member's concurrent reports of a post exactly one is added.
    insert = insert_ignoring_duplicates(db, PostReport).values(
        post_id=post_id, reporter_id=reporter.id, reason=reason, created_at=created_at
    )
    try:
        result = cast(CursorResult[object], await db.execute(insert))
    except IntegrityError:  # the post was deleted since it was read
        raise NotFound(post_not_found_for_read(post_id)) from None
    if result.rowcount == 0:
        raise Conflict(already_reported(post_id))
    return PostReport(post_id=post_id, reporter_id=reporter.id, reason=reason, created_at=created_at)


# --- accounts ------------------------------------------------------------------------------------------

_POST_COUNT = (
    select(func.count())
    .where(PostRow.owner_id == User.id)
    .correlate(User)
    .scalar_subquery()
    .label("post_count")
)
_ACCOUNT_COLUMNS = (
    User.id,
    User.email,
    User.email_verified_at.is_not(None).label("email_verified"),
    User.role,
    User.created_at,
    User.suspended_at,
    _POST_COUNT,
)


async def list_accounts(db: AsyncSession, *, search: str, limit: int, skip: int) -> list[dict[str, Any]]:
    """Newest first; `search` is a case-insensitive substring of the email, matched literally."""
    query = (
        select(*_ACCOUNT_COLUMNS).order_by(User.created_at.desc(), User.id.desc()).limit(limit).offset(skip)
    )
    if search:
        query = query.where(User.email.icontains(like_literally(search), escape=LIKE_ESCAPE))
    return [dict(row) for row in (await db.execute(query)).mappings()]


async def _account_row(db: AsyncSession, account_id: int) -> dict[str, Any]:
    row = (await db.execute(select(*_ACCOUNT_COLUMNS).where(User.id == account_id))).mappings().one()
    return dict(row)


async def _lock_account(db: AsyncSession, account_id: int) -> User:
    account = await lock_user(db, account_id) if is_storable_id(account_id) else None
    if account is None:
        raise NotFound(user_not_found(account_id))
    return account


async def suspend_account(db: AsyncSession, admin: User, account_id: int, reason: str) -> dict[str, Any]:
    """Ends every login session of the account at once (its access and refresh tokens die with them),
    refuses its logins, and hides its posts from all but admins, until it is reinstated."""
    if account_id == admin.id:
        raise Forbidden(CANNOT_SUSPEND_ONESELF)
    account = await _lock_account(db, account_id)
    if account.role == Role.ADMIN:
        raise Conflict(CANNOT_SUSPEND_AN_ADMIN)
    if account.suspended_at is not None:
        raise Conflict(ALREADY_SUSPENDED)
    account.suspended_at = utc_now()
    await end_all_login_sessions(db, account.id)
    _record(db, admin, AuditAction.SUSPEND, account, reason)
    await db.flush()
    return await _account_row(db, account.id)


async def reinstate_account(db: AsyncSession, admin: User, account_id: int, reason: str) -> dict[str, Any]:
    account = await _lock_account(db, account_id)
    if account.suspended_at is None:
        raise Conflict(NOT_SUSPENDED)
    account.suspended_at = None
    _record(db, admin, AuditAction.REINSTATE, account, reason)
    await db.flush()
    return await _account_row(db, account.id)


async def set_role(db: AsyncSession, email: str, role: Role) -> bool:
    """Gives the account `role`, from the command line; whether that changed it. A suspended account
    cannot be made an admin (admins cannot be suspended): it is reinstated first."""
    account = await db.scalar(select(User).where(User.email == email).with_for_update())
    if account is None:
        raise NotFound(no_account_with_email(email))
    if account.role == role:
        return False
    if role == Role.ADMIN and account.suspended_at is not None:
        raise Conflict(CANNOT_PROMOTE_SUSPENDED)
    previous, account.role = account.role, role.value
    _record(db, None, AuditAction.SET_ROLE, account, f"{previous} to {role.value}, from the command line")
    await db.flush()
    return True


# --- posts and their reports ---------------------------------------------------------------------------


async def _lock_post(db: AsyncSession, post_id: int) -> PostRow | None:
    """Any post, a draft or a suspended account's too, locked until the transaction ends."""
    if not is_storable_id(post_id):
        return None
    post: PostRow | None = await db.scalar(select(PostRow).where(PostRow.id == post_id).with_for_update())
    return post


async def delete_post(db: AsyncSession, admin: User, post_id: int, reason: str) -> None:
    """The owner's other posts stay. Its votes and reports go with it (ON DELETE CASCADE)."""
    post = await _lock_post(db, post_id)
    if post is None:
        raise NotFound(post_not_found_for_write(post_id))
    _record(db, admin, AuditAction.DELETE_POST, post, reason)
    await db.delete(post)
    await db.flush()


async def dismiss_reports(db: AsyncSession, admin: User, post_id: int, reason: str) -> None:
    """Deletes every report of the post, which stays; 404 if it has none."""
    post = await _lock_post(db, post_id)
    if post is None or not await _delete_reports(db, post.id):
        raise NotFound(no_reports(post_id))
    _record(db, admin, AuditAction.DISMISS_REPORTS, post, reason)
    await db.flush()


async def _delete_reports(db: AsyncSession, post_id: int) -> int:
    result = await db.execute(delete(PostReport).where(PostReport.post_id == post_id))
    return cast(CursorResult[object], result).rowcount


_REPORT_COUNTS = (
    select(
        PostReport.post_id,
        func.count().label("report_count"),
        func.max(PostReport.created_at).label("last_reported_at"),
    )
    .group_by(PostReport.post_id)
    .subquery()
)
_REPORTED_POSTS = (
    select(
        _REPORT_COUNTS.c.post_id,
        _REPORT_COUNTS.c.report_count,
        _REPORT_COUNTS.c.last_reported_at,
        PostRow.title,
        PostRow.published,
        PostRow.owner_id,
        User.email.label("owner_email"),
        User.suspended_at.is_not(None).label("owner_suspended"),
    )
    .join(PostRow, PostRow.id == _REPORT_COUNTS.c.post_id)
    .join(User, User.id == PostRow.owner_id)
    .order_by(
        _REPORT_COUNTS.c.report_count.desc(),
        _REPORT_COUNTS.c.last_reported_at.desc(),
        _REPORT_COUNTS.c.post_id.desc(),
    )
)


async def list_reported_posts(db: AsyncSession, *, limit: int, skip: int) -> list[dict[str, Any]]:
    """Most reported first, each with its reports: two queries, whatever the page size."""
    rows = (await db.execute(_REPORTED_POSTS.limit(limit).offset(skip))).mappings().all()
    reports: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if rows:
        page = [row["post_id"] for row in rows]
        query = (
            select(PostReport.post_id, PostReport.reporter_id, PostReport.reason, PostReport.created_at)
            .where(PostReport.post_id.in_(page))
            .order_by(PostReport.created_at, PostReport.reporter_id)
        )
        for report in (await db.execute(query)).mappings():
            reports[report["post_id"]].append(dict(report))
    return [{**row, "reports": reports[row["post_id"]]} for row in rows]


_NEWEST_ENTRIES_FIRST = (AuditEntry.created_at.desc(), AuditEntry.id.desc())


async def list_audit_log(db: AsyncSession, *, limit: int, skip: int) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(*_NEWEST_ENTRIES_FIRST).limit(limit).offset(skip)
    return list(await db.scalars(query))
