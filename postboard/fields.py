"""Constraints shared by request schemas and path parameters."""

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from postboard.patterns import NO_NUL, WHITE_SPACE, Published


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


_NOT_WHITE_SPACE = re.compile(f"[^{WHITE_SPACE}]")


def _reject_blank(value: str) -> str:
    if _NOT_WHITE_SPACE.search(value) is None:
        raise ValueError("must contain a character that is not white space")
    return value


REQUIRE_ENCODABLE = AfterValidator(_require_encodable)
REJECT_NUL = AfterValidator(_reject_nul)
# Published as patterns.NOT_BLANK_NO_NUL, with REJECT_NUL.
REJECT_BLANK = AfterValidator(_reject_blank)
EncodableStr = Annotated[str, REQUIRE_ENCODABLE]
# Lone surrogates are not in the pattern: JSON Schema strings are sequences of Unicode characters.
StorableStr = Annotated[EncodableStr, REJECT_NUL, Published(NO_NUL)]
# A bound put on StorableStr is checked after its validators, and worded for lists ("at most 300 items after
# validation"); Annotated[str, StringConstraints(max_length=n), REQUIRE_ENCODABLE, REJECT_NUL] checks it
# first, before any costly work, and says "at most n characters".

# ASCII digits without a leading zero: the one spelling of each id.
_PLAIN_ID = re.compile(r"0|[1-9][0-9]*")


def _require_plain_digits(value: object) -> object:
    # pydantic, like int(), also reads "1_0" as 10 and "+2", " 2", "\n2", "2.0", "02" as 2: one row under
    # many paths, which a proxy rule written for /posts/2 would not all cover.
    if isinstance(value, str) and _PLAIN_ID.fullmatch(value) is None:
        raise PydanticCustomError(
            "id_digits",
            "Input should be an id in plain digits 0-9, without sign, spaces, separators or leading zeros",
        )
    return value


# Every `{id}` in a path. The OpenAPI schema stays an integer (`Path` comes first: after the validator, its
# bound would be published as "ge" rather than "minimum"); an id past what the database stores is still
# parsed, and answers 404 like any missing row.
PathId = Annotated[int, Path(ge=0), BeforeValidator(_require_plain_digits)]


def _isoformat(moment: datetime) -> str:
    return moment.isoformat()


# "+00:00" rather than pydantic's "Z": the course's clients parse with datetime.fromisoformat, which on
# Python before 3.11 rejects "Z".
Timestamp = Annotated[datetime, PlainSerializer(_isoformat, return_type=str, when_used="json")]
