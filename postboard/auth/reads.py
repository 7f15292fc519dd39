"""Reads on behalf of a caller, with the check that their login session is alive folded into the read.

A token only proves who logged in; logout, a password change or a replayed refresh token may have ended
that login since. Checking it with a query of its own costs a round trip per request, as much again as
reading a post. So a caller's read carries the check as an uncorrelated `EXISTS` (evaluated once by the
database): rows prove the session alive, and only an empty answer asks again, to tell a dead session
(401) from an empty page.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, select

from postboard.auth.models import RefreshFamily
from postboard.auth.tokens import Caller
from postboard.db import Database
from postboard.errors import INVALID_TOKEN, Unauthorized
from postboard.orm import UTCDateTime, utc_now
from postboard.reads import AnySelect, Row

# The parameters every caller's read takes: `user_id` is also the caller's id wherever a read needs it
# (whose drafts are visible, say).
_SESSION_ALIVE = exists().where(
    RefreshFamily.id == bindparam("session_id"),
    RefreshFamily.user_id == bindparam("user_id"),
    RefreshFamily.expires_at > bindparam("now", type_=UTCDateTime()),
)
_IS_ALIVE = select(_SESSION_ALIVE.label("alive"))


class CallerRead(NamedTuple):
    """A SELECT that answers only while the caller's login session is alive; build it once, at import."""

    statement: AnySelect


def caller_read(statement: AnySelect) -> CallerRead:
    """`statement` (which may use the `user_id` parameter), answering only for a live login session."""
    return CallerRead(statement.where(_SESSION_ALIVE))


def caller_id() -> Any:
    """The caller's user id inside a `caller_read` statement."""
    return bindparam("user_id")


async def read_as(database: Database, caller: Caller, read: CallerRead, **parameters: Any) -> Sequence[Row]:
    """The rows of `read` for the caller; 401 when their login session has ended."""
    session = _session_parameters(caller)
    rows = await database.fetch(read.statement, **session, **parameters)
    if not rows and not await _is_alive(database, session):
        raise Unauthorized(INVALID_TOKEN)
    return rows


async def session_is_alive(database: Database, caller: Caller) -> bool:
    return await _is_alive(database, _session_parameters(caller))


def _session_parameters(caller: Caller) -> dict[str, Any]:
    return {"user_id": caller.user_id, "session_id": caller.session_id, "now": utc_now()}


async def _is_alive(database: Database, session: dict[str, Any]) -> bool:
    alive: bool = (await database.fetch(_IS_ALIVE, **session))[0]["alive"]
    return alive
