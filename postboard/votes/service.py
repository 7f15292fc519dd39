"""Votes: one per user and post, added with dir 1 and taken back with dir 0."""

from typing import cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.errors import (
    VOTE_ADDED,
    VOTE_DELETED,
    VOTE_NOT_FOUND,
    Conflict,
    NotFound,
    already_voted,
    post_not_found_for_vote,
)
from postboard.orm import is_storable_id
from postboard.posts.service import is_visible
from postboard.queries import insert_ignoring_duplicates
from postboard.users.models import User
from postboard.votes.models import Vote
from postboard.votes.schemas import VoteIn


async def cast_vote(db: AsyncSession, user: User, vote: VoteIn) -> str:
    """The confirmation message for the vote added or taken back."""
    if vote.dir == 1:
        await _add_vote(db, user, vote.post_id)
        return VOTE_ADDED
    await _take_back_vote(db, user, vote.post_id)
    return VOTE_DELETED


async def _add_vote(db: AsyncSession, user: User, post_id: int) -> None:
    if not await is_visible(db, user.id, post_id):
        raise NotFound(post_not_found_for_vote(post_id))
    # The primary key settles races: of identical concurrent votes exactly one inserts a row.
    insert = insert_ignoring_duplicates(db, Vote).values(post_id=post_id, user_id=user.id)
    try:
        result = cast(CursorResult[object], await db.execute(insert))
    except IntegrityError:
        # The post was deleted between the check above and the insert.
        raise NotFound(post_not_found_for_vote(post_id)) from None
    if result.rowcount == 0:
        raise Conflict(already_voted(user.id, post_id))


async def _take_back_vote(db: AsyncSession, user: User, post_id: int) -> None:
    """A vote of one's own can always be taken back, even from a post its author has since unpublished:
    it would otherwise count on, out of its voter's reach. The post's count follows (a trigger keeps it)."""
    if is_storable_id(post_id) and await _delete_vote(db, user, post_id):
        return
    # Nothing to take back: a post the caller cannot see gets the answer a missing post gets.
    if await is_visible(db, user.id, post_id):
        raise NotFound(VOTE_NOT_FOUND)
    raise NotFound(post_not_found_for_vote(post_id))


async def _delete_vote(db: AsyncSession, user: User, post_id: int) -> bool:
    statement = delete(Vote).where(Vote.post_id == post_id, Vote.user_id == user.id)
    result = cast(CursorResult[object], await db.execute(statement))
    return result.rowcount > 0
