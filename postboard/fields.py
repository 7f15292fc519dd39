"""Constraints shared by request schemas."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer


def _require_encodable(value: str) -> str:
    # JSON's "\ud800" escape yields a lone surrogate, which no database stores and no hasher can encode.
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no unpaired surrogates)") from None
    return value


def _reject_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text: refused here, it is a 422 rather than a database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


REQUIRE_ENCODABLE = AfterValidator(_require_encodable)
REJECT_NUL = AfterValidator(_reject_nul)
EncodableStr = Annotated[str, REQUIRE_ENCODABLE]
StorableStr = Annotated[EncodableStr, REJECT_NUL]
# A bound put on StorableStr is checked after its validators, and worded for lists ("at most 300 items after
# validation"); Annotated[str, StringConstraints(max_length=n), REQUIRE_ENCODABLE, REJECT_NUL] checks it
# first, before any costly work, and says "at most n characters".


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


# "+00:00" rather than pydantic's "Z": the course's clients parse with datetime.fromisoformat, which on
# Python before 3.11 rejects "Z".
Timestamp = Annotated[datetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]
