"""Posts: who may see and change which, and the queries that read them."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, and_, bindparam, exists, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload

from postboard.auth.reads import CallerRead, CallerReads, caller_id, caller_read
from postboard.errors import NOT_OWNER, Forbidden, NotFound, post_not_found_for_read, post_not_found_for_write
from postboard.orm import UTCDateTime, is_storable_id
from postboard.posts.cursors import PageCursor
from postboard.posts.models import PostRow
from postboard.posts.schemas import PostCreate
from postboard.queries import LIKE_ESCAPE, like_literally, one_of
from postboard.reads import Row
from postboard.users.models import Role, User
from postboard.votes.models import Vote

# A read post as the API shows it (PostOut): the post, its owner and its vote count, in one row.
_POST_COLUMNS = (
    PostRow.id,
    PostRow.title,
    PostRow.content,
    PostRow.published,
    PostRow.created_at,
    PostRow.owner_id,
    PostRow.vote_count,
    User.email.label("owner_email"),
    User.created_at.label("owner_created_at"),
)
# Whether the caller has voted on the post: the web app's pages show it, the API's answers do not.
_CALLER_VOTED = exists().where(Vote.post_id == PostRow.id, Vote.user_id == caller_id()).label("caller_voted")
_NEWEST_FIRST = (PostRow.created_at.desc(), PostRow.id.desc())
# Aliases: the statements that filter with them also join the posts' owners.
_SUSPENDED, _VIEWER = aliased(User), aliased(User)
_SUSPENDED_ACCOUNTS = select(_SUSPENDED.id).where(_SUSPENDED.suspended_at.is_not(None))


def visible_to(user_id: Any) -> ColumnElement[bool]:
    """Every published post, and the user's own drafts: others' drafts do not exist for them. Posts of
    suspended accounts are hidden from all but admins.

    Both subqueries are uncorrelated, so the database runs each once per statement (the few suspended
    accounts come off a partial index), not once per post: the listing stays as fast as without them."""
    viewer_is_admin = exists().where(_VIEWER.id == user_id, _VIEWER.role == Role.ADMIN.value)
    return and_(
        or_(PostRow.published, PostRow.owner_id == user_id),
        or_(viewer_is_admin, PostRow.owner_id.not_in(_SUSPENDED_ACCOUNTS)),
    )


def _post_out(row: Row, with_caller_vote: bool = False) -> dict[str, Any]:
    owner = {"id": row["owner_id"], "email": row["owner_email"], "created_at": row["owner_created_at"]}
    post = {
        "title": row["title"],
        "content": row["content"],
        "published": row["published"],
        "id": row["id"],
        "created_at": row["created_at"],
        "owner_id": row["owner_id"],
        "owner": owner,
    }
    if with_caller_vote:
        return {"Post": post, "votes": row["vote_count"], "voted": bool(row["caller_voted"])}
    return {"Post": post, "votes": row["vote_count"]}


@dataclass(frozen=True)
class Page:
    """A page of posts as the API shows them, and where the next page starts if this one is full."""

    posts: list[dict[str, Any]]
    next_cursor: PageCursor | None


@cache
def listing_read(searching: bool, after_cursor: bool, with_caller_vote: bool = False) -> CallerRead:
    """The listing's statement; one of eight, each compiled once. `with_caller_vote` adds whether the
    caller voted on each post, in the same statement. The page's ids come first, read off the
    (created_at, id) index: rows skipped by the offset are only walked past there, and owners are joined
    for the page's rows alone."""
    page = (
        select(PostRow.id)
        .where(visible_to(caller_id()))
        .order_by(*_NEWEST_FIRST)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("skip", type_=BigInteger))
    )
    if searching:
        page = page.where(PostRow.title.icontains(bindparam("search"), escape=LIKE_ESCAPE))
    if after_cursor:
        cursor = (bindparam("cursor_created_at", type_=UTCDateTime()), bindparam("cursor_id", type_=Integer))
        page = page.where(tuple_(PostRow.created_at, PostRow.id) < tuple_(*cursor))
    columns = (*_POST_COLUMNS, _CALLER_VOTED) if with_caller_vote else _POST_COLUMNS
    return caller_read(
        select(*columns)
        .join(User, User.id == PostRow.owner_id)
        .where(one_of(PostRow.id.expression, page))
        .order_by(*_NEWEST_FIRST)
    )


async def list_posts(
    as_caller: CallerReads,
    *,
    limit: int,
    skip: int,
    search: str,
    before: PageCursor | None,
    with_caller_vote: bool = False,
) -> Page:
    """Newest first; `before` continues after the last post of an earlier page (keyset pagination).
    `with_caller_vote`: each post also says (`voted`) whether the caller has voted on it."""
    parameters: dict[str, Any] = {"limit": limit, "skip": skip}
    if search:
        parameters["search"] = like_literally(search)
    if before is not None:
        parameters.update(cursor_created_at=before.created_at, cursor_id=before.post_id)
    read = listing_read(bool(search), before is not None, with_caller_vote)
    rows = await as_caller.fetch(read, **parameters)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = None if last is None else PageCursor(last["created_at"], last["id"])
    return Page([_post_out(row, with_caller_vote) for row in rows], next_cursor)


def _post_read(*columns: Any) -> CallerRead:
    return caller_read(
        select(*columns)
        .join(User, User.id == PostRow.owner_id)
        .where(PostRow.id == bindparam("post_id", type_=Integer), visible_to(caller_id()))
    )


_POST_READ = _post_read(*_POST_COLUMNS)
_POST_READ_WITH_CALLER_VOTE = _post_read(*_POST_COLUMNS, _CALLER_VOTED)


async def get_post(as_caller: CallerReads, post_id: int, with_caller_vote: bool = False) -> dict[str, Any]:
    """The post if the caller may see it (404 if not); `with_caller_vote` as for `list_posts`."""
    rows: Sequence[Row] = []
    if is_storable_id(post_id):
        read = _POST_READ_WITH_CALLER_VOTE if with_caller_vote else _POST_READ
        rows = await as_caller.fetch(read, post_id=post_id)
    if not rows:
        raise NotFound(post_not_found_for_read(post_id))
    return _post_out(rows[0], with_caller_vote)


# The caller's own drafts, newest first: nobody else's are visible to them.
_DRAFTS_READ = caller_read(
    select(*_POST_COLUMNS)
    .join(User, User.id == PostRow.owner_id)
    .where(PostRow.owner_id == caller_id(), PostRow.published.is_(False))
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit", type_=Integer))
    .offset(bindparam("skip", type_=BigInteger))
)


async def list_drafts(as_caller: CallerReads, *, limit: int, skip: int) -> list[dict[str, Any]]:
    rows = await as_caller.fetch(_DRAFTS_READ, limit=limit, skip=skip)
    return [_post_out(row) for row in rows]


async def is_visible(db: AsyncSession, viewer_id: int, post_id: int) -> bool:
    if not is_storable_id(post_id):
        return False
    found = await db.scalar(select(PostRow.id).where(PostRow.id == post_id, visible_to(viewer_id)))
    return found is not None


async def create_post(db: AsyncSession, owner: User, new_post: PostCreate) -> PostRow:
    post = PostRow(**new_post.model_dump(), owner=owner)
    db.add(post)
    await db.flush()
    return post


async def _post_to_change(db: AsyncSession, user: User, post_id: int) -> PostRow:
    """The post, locked until the transaction ends, if it exists for the user and is theirs."""
    post = None
    if is_storable_id(post_id):
        query = (
            select(PostRow)
            .where(PostRow.id == post_id, visible_to(user.id))
            .options(joinedload(PostRow.owner, innerjoin=True))
            .with_for_update(of=PostRow)
        )
        post = await db.scalar(query)
    if post is None:
        raise NotFound(post_not_found_for_write(post_id))
    if post.owner_id != user.id:
        raise Forbidden(NOT_OWNER)
    return post


async def replace_post(db: AsyncSession, user: User, post_id: int, replacement: PostCreate) -> PostRow:
    post = await _post_to_change(db, user, post_id)
    for field, value in replacement.model_dump().items():
        setattr(post, field, value)
    await db.flush()
    return post


async def delete_post(db: AsyncSession, user: User, post_id: int) -> None:
    post = await _post_to_change(db, user, post_id)
    # The database's ON DELETE CASCADE removes the post's votes in the same statement.
    await db.delete(post)
    await db.flush()
