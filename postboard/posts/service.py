"""Posts: who may see and change which, and the queries that read them."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, bindparam, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from postboard.auth.reads import CallerRead, CallerReads, caller_id, caller_read
from postboard.errors import NOT_OWNER, Forbidden, NotFound, post_not_found_for_read, post_not_found_for_write
from postboard.orm import UTCDateTime, is_storable_id
from postboard.posts.cursors import PageCursor
from postboard.posts.models import PostRow
from postboard.posts.schemas import PostCreate
from postboard.queries import one_of
from postboard.reads import Row
from postboard.users.models import User

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
_NEWEST_FIRST = (PostRow.created_at.desc(), PostRow.id.desc())
# `search` is matched literally: its wildcards are escaped with this character before it is bound.
_LIKE_ESCAPE = "/"


def visible_to(user_id: Any) -> ColumnElement[bool]:
    """Every published post, and the user's own drafts: others' drafts do not exist for them."""
    return or_(PostRow.published, PostRow.owner_id == user_id)


def _post_out(row: Row) -> dict[str, Any]:
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
    return {"Post": post, "votes": row["vote_count"]}


@dataclass(frozen=True)
class Page:
    """A page of posts as the API shows them, and where the next page starts if this one is full."""

    posts: list[dict[str, Any]]
    next_cursor: PageCursor | None


@cache
def listing_read(searching: bool, after_cursor: bool) -> CallerRead:
    """The listing's statement; one of four, each compiled once. The page's ids come first, read off the
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
        page = page.where(PostRow.title.icontains(bindparam("search"), escape=_LIKE_ESCAPE))
    if after_cursor:
        cursor = (bindparam("cursor_created_at", type_=UTCDateTime()), bindparam("cursor_id", type_=Integer))
        page = page.where(tuple_(PostRow.created_at, PostRow.id) < tuple_(*cursor))
    return caller_read(
        select(*_POST_COLUMNS)
        .join(User, User.id == PostRow.owner_id)
        .where(one_of(PostRow.id.expression, page))
        .order_by(*_NEWEST_FIRST)
    )


def _literally(text: str) -> str:
    """`text` as a LIKE pattern that matches only itself: `%` and `_` are not wildcards in a search."""
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


async def list_posts(
    as_caller: CallerReads, *, limit: int, skip: int, search: str, before: PageCursor | None
) -> Page:
    """Newest first; `before` continues after the last post of an earlier page (keyset pagination)."""
    parameters: dict[str, Any] = {"limit": limit, "skip": skip}
    if search:
        parameters["search"] = _literally(search)
    if before is not None:
        parameters.update(cursor_created_at=before.created_at, cursor_id=before.post_id)
    rows = await as_caller.fetch(listing_read(bool(search), before is not None), **parameters)
    last = rows[-1] if len(rows) == limit else None
    next_cursor = None if last is None else PageCursor(last["created_at"], last["id"])
    return Page([_post_out(row) for row in rows], next_cursor)


_POST_READ = caller_read(
    select(*_POST_COLUMNS)
    .join(User, User.id == PostRow.owner_id)
    .where(PostRow.id == bindparam("post_id", type_=Integer), visible_to(caller_id()))
)


async def get_post(as_caller: CallerReads, post_id: int) -> dict[str, Any]:
    rows: Sequence[Row] = []
    if is_storable_id(post_id):
        rows = await as_caller.fetch(_POST_READ, post_id=post_id)
    if not rows:
        raise NotFound(post_not_found_for_read(post_id))
    return _post_out(rows[0])


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
