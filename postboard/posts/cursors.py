"""Keyset pagination: a cursor names the last post of a page, and the next page starts after it."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from postboard.orm import MAX_ID

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# "<microseconds since the epoch>_<post id>": opaque to clients, who only pass back what Link gave them.
_CURSOR = re.compile(r"(\d{1,18})_(\d{1,10})")
NOT_A_CURSOR = "must be a cursor from the Link header of an earlier page"


@dataclass(frozen=True)
class PageCursor:
    """The position of a post in the newest-first order: its creation time, then its id."""

    created_at: datetime
    post_id: int

    def __str__(self) -> str:
        return f"{(self.created_at - _EPOCH) // _MICROSECOND}_{self.post_id}"


def parse_cursor(text: str) -> PageCursor:
    """The position `text` names; ValueError if it names none."""
    match = _CURSOR.fullmatch(text)
    if match is None:
        raise ValueError(NOT_A_CURSOR)
    microseconds, post_id = (int(part) for part in match.groups())
    try:
        created_at = _EPOCH + microseconds * _MICROSECOND
    except OverflowError:
        raise ValueError(NOT_A_CURSOR) from None
    if post_id > MAX_ID:
        raise ValueError(NOT_A_CURSOR)
    return PageCursor(created_at, post_id)
