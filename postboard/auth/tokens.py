"""Access tokens: JWTs signed with HS256, carrying the user id the course's clients read."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from postboard.auth.schemas import TokenData

ALGORITHM = "HS256"
# Tolerated clock difference between the host that issued a token and the one checking it.
CLOCK_LEEWAY = timedelta(seconds=10)
REQUIRED_CLAIMS = ["exp", "iat", "sub", "user_id"]


class InvalidToken(Exception):
    """The token cannot be trusted: malformed, tampered, expired, wrongly signed, or missing a claim."""


@dataclass(frozen=True)
class TokenConfig:
    secret_key: str
    lifetime: timedelta


def create_access_token(user_id: int, config: TokenConfig) -> str:
    issued_at = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "user_id": user_id,
        "iat": issued_at,
        "exp": issued_at + config.lifetime,
    }
    return jwt.encode(claims, config.secret_key, algorithm=ALGORITHM)


def verify_access_token(token: str, config: TokenConfig) -> TokenData:
    try:
        claims = jwt.decode(
            token,
            config.secret_key,
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
            leeway=CLOCK_LEEWAY,
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from None
    user_id = claims["user_id"]
    # bool is an int in Python; a token saying `"user_id": true` was not made here.
    if type(user_id) is not int or claims["sub"] != str(user_id):
        raise InvalidToken("user_id must be an integer matching sub")
    return TokenData(id=user_id)
