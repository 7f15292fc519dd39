"""Reads on behalf of a caller, with the check that their login session is alive.

A token only proves who logged in; logout, a password change or a replayed refresh token may have ended
that login since. Checking it with a query of its own costs a round trip per request, as much again as
reading a post. So a caller's read carries the check as an uncorrelated `EXISTS` (evaluated once by the
database): rows prove the login session alive, and only an empty answer asks again, to tell a dead one
(401) from an empty page.

With a read replica, the login session is checked on the primary first, by a query of its own: the
replica lags, and would take an ended login session for alive until it replays the revocation. That check
also reads how many writes were made through the login session, and the read on the replica answers only
if the replica's copy of the login session counts as many: it has then replayed every one of them, so
callers always see their own writes, however far the replica lags. Others' writes reach them after the
replication lag, except where the replica finds nothing: that answer is asked again of the primary.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, bindparam, exists, select

from postboard.auth.models import LoginSession
from postboard.auth.tokens import Caller
from postboard.db import Database
from postboard.errors import INVALID_TOKEN, Unauthorized
from postboard.orm import UTCDateTime, utc_now
from postboard.reads import AnySelect, Row

# The caller's login session is alive: the conditions every caller's read carries, with the parameters
# that `login_session_parameters` gives. `user_id` is also the caller's id wherever a read needs it (whose
# drafts are visible, say).
LIVE_LOGIN_SESSION = (
    LoginSession.id == bindparam("login_session_id"),
    LoginSession.user_id == bindparam("user_id"),
    LoginSession.expires_at > bindparam("now", type_=UTCDateTime()),
)
_LOGIN_SESSION_ALIVE = exists().where(*LIVE_LOGIN_SESSION)
_IS_ALIVE = select(_LOGIN_SESSION_ALIVE.label("alive"))
_WRITE_COUNT = select(LoginSession.write_count).where(*LIVE_LOGIN_SESSION)
# On the replica: its copy of the login session has counted every write the primary had counted.
_REPLICA_HAS_THE_WRITES = exists().where(
    LoginSession.id == bindparam("login_session_id"),
    LoginSession.write_count >= bindparam("write_count", type_=BigInteger()),
)


class CallerRead(NamedTuple):
    """A SELECT made for a caller, in the two forms it runs in; build it once, at import."""

    statement: AnySelect  # answers only while the caller's login session is alive
    on_replica: AnySelect  # answers only once the replica has replayed the caller's writes
    unchecked: AnySelect  # as given, without either check: what bench/throughput.py weighs them against


def caller_read(statement: AnySelect) -> CallerRead:
    """`statement` (which may use the `user_id` parameter), as a read for a caller."""
    return CallerRead(
        statement.where(_LOGIN_SESSION_ALIVE), statement.where(_REPLICA_HAS_THE_WRITES), statement
    )


def caller_id() -> Any:
    """The caller's user id inside a `caller_read` statement."""
    return bindparam("user_id")


@dataclass(frozen=True)
class CallerReads:
    """What a request may read for its caller: whom its verified token names, and the database."""

    caller: Caller
    database: Database

    async def fetch(self, read: CallerRead, **parameters: Any) -> Sequence[Row]:
        """The rows of `read`; 401 when the caller's login session has ended."""
        login_session = login_session_parameters(self.caller)
        if self.database.has_replica:
            return await _read_beside_a_replica(self.database, login_session, read, parameters)
        rows = await self.database.fetch(read.statement, **login_session, **parameters)
        if not rows and not await _is_alive(self.database, login_session):
            raise Unauthorized(INVALID_TOKEN)
        return rows


async def _read_beside_a_replica(
    database: Database, login_session: dict[str, Any], read: CallerRead, parameters: dict[str, Any]
) -> Sequence[Row]:
    """The login session checked on the primary, then the rows from the replica if it has the caller's
    writes."""
    write_counts = await database.fetch(_WRITE_COUNT, **login_session)
    if not write_counts:
        raise Unauthorized(INVALID_TOKEN)
    write_count = write_counts[0]["write_count"]
    rows = await database.fetch_from_replica(
        read.on_replica, **login_session, **parameters, write_count=write_count
    )
    if rows:
        return rows
    # No rows: an empty answer, or a replica behind the caller's writes. Asking the replica which it was
    # would race with its replay, so the primary answers.
    return await database.fetch(read.statement, **login_session, **parameters)


async def login_session_is_alive(database: Database, caller: Caller) -> bool:
    return await _is_alive(database, login_session_parameters(caller))


def login_session_parameters(caller: Caller) -> dict[str, Any]:
    return {"user_id": caller.user_id, "login_session_id": caller.login_session_id, "now": utc_now()}


async def _is_alive(database: Database, login_session: dict[str, Any]) -> bool:
    alive: bool = (await database.fetch(_IS_ALIVE, **login_session))[0]["alive"]
    return alive
