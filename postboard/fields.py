"""Constraints shared by request schemas."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer


def _reject_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text; refusing it here keeps such input a 422, never a database error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NulFreeStr = Annotated[str, AfterValidator(_reject_nul)]


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


# "+00:00" rather than pydantic's "Z": the course's clients parse with datetime.fromisoformat, which on
# Python before 3.11 rejects "Z".
Timestamp = Annotated[datetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]
