"""Constraints shared by request schemas."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

# The longest email address SMTP can carry (RFC 5321: 64 octets, "@", 255 octets).
EMAIL_MAX_LENGTH = 320


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


EncodableStr = Annotated[str, AfterValidator(_require_encodable)]
StorableStr = Annotated[EncodableStr, AfterValidator(_reject_nul)]


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


# "+00:00" rather than pydantic's "Z": the course's clients parse with datetime.fromisoformat, which on
# Python before 3.11 rejects "Z".
Timestamp = Annotated[datetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]
