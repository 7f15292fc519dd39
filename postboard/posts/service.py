"""Posts: who may see and change which, and the queries that read them."""

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager, joinedload

from postboard.db import is_storable_id
from postboard.errors import NOT_OWNER, Forbidden, NotFound, post_not_found_for_read, post_not_found_for_write
from postboard.posts.models import Post
from postboard.posts.schemas import PostCreate
from postboard.users.models import User
from postboard.votes.models import Vote


def visible_to(user_id: int) -> ColumnElement[bool]:
    """Every published post, and the user's own drafts: others' drafts do not exist for them."""
    return or_(Post.published, Post.owner_id == user_id)


def _posts_with_votes() -> Select[Post, int]:
    # Owner and vote count come in the same statement as the posts: one query per page, whatever its size.
    vote_count = select(func.count()).where(Vote.post_id == Post.id).scalar_subquery()
    return select(Post, vote_count).join(Post.owner).options(contains_eager(Post.owner))


async def list_posts(
    session: AsyncSession, viewer_id: int, *, limit: int, skip: int, search: str
) -> list[tuple[Post, int]]:
    newest_first = (Post.created_at.desc(), Post.id.desc())
    # The page's ids first, read off the (created_at, id) index: rows skipped by the offset are only
    # walked past, and votes are counted and owners joined for the page's rows alone.
    page = select(Post.id).where(visible_to(viewer_id)).order_by(*newest_first).limit(limit).offset(skip)
    if search:
        page = page.where(Post.title.icontains(search, autoescape=True))
    page_ids = page.subquery()
    query = _posts_with_votes().join(page_ids, page_ids.c.id == Post.id).order_by(*newest_first)
    rows = await session.execute(query)
    return [(post, votes) for post, votes in rows]


async def get_post(session: AsyncSession, viewer_id: int, post_id: int) -> tuple[Post, int]:
    if is_storable_id(post_id):
        query = _posts_with_votes().where(Post.id == post_id, visible_to(viewer_id))
        row = (await session.execute(query)).one_or_none()
        if row is not None:
            post, votes = row
            return post, votes
    raise NotFound(post_not_found_for_read(post_id))


async def is_visible(session: AsyncSession, viewer_id: int, post_id: int) -> bool:
    if not is_storable_id(post_id):
        return False
    found = await session.scalar(select(Post.id).where(Post.id == post_id, visible_to(viewer_id)))
    return found is not None


async def create_post(session: AsyncSession, owner: User, new_post: PostCreate) -> Post:
    post = Post(**new_post.model_dump(), owner=owner)
    session.add(post)
    await session.flush()
    return post


async def _post_to_change(session: AsyncSession, user: User, post_id: int) -> Post:
    """The post, locked until the transaction ends, if it exists for the user and is theirs."""
    post = None
    if is_storable_id(post_id):
        query = (
            select(Post)
            .where(Post.id == post_id, visible_to(user.id))
            .options(joinedload(Post.owner, innerjoin=True))
            .with_for_update(of=Post)
        )
        post = await session.scalar(query)
    if post is None:
        raise NotFound(post_not_found_for_write(post_id))
    if post.owner_id != user.id:
        raise Forbidden(NOT_OWNER)
    return post


async def replace_post(session: AsyncSession, user: User, post_id: int, replacement: PostCreate) -> Post:
    post = await _post_to_change(session, user, post_id)
    for field, value in replacement.model_dump().items():
        setattr(post, field, value)
    await session.flush()
    return post


async def delete_post(session: AsyncSession, user: User, post_id: int) -> None:
    post = await _post_to_change(session, user, post_id)
    # The database's ON DELETE CASCADE removes the post's votes in the same statement.
    await session.delete(post)
    await session.flush()
