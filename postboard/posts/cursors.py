"""Keyset pagination: a cursor names the last post of a page, and the next page starts after it."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from postboard.orm import MAX_ID
from postboard.patterns import decimal_at_most

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_LAST_MICROSECOND = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // _MICROSECOND
# "<microseconds since the epoch>_<post id>", each as str(int) writes it and within what the server can hold:
# opaque to clients, who only pass back what Link gave them. Published in OpenAPI as the parameter's pattern.
CURSOR_PATTERN = f"^({decimal_at_most(_LAST_MICROSECOND)})_({decimal_at_most(MAX_ID)})$"
_CURSOR = re.compile(CURSOR_PATTERN)
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
    return PageCursor(_EPOCH + microseconds * _MICROSECOND, post_id)
