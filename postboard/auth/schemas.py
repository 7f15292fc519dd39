from pydantic import BaseModel, ConfigDict, Field

from postboard.auth.tokens import TOKEN_MAX_LENGTH
from postboard.fields import EncodableStr, StorableStr
from postboard.users.models import EMAIL_MAX_LENGTH
from postboard.users.schemas import PASSWORD_MAX_LENGTH


class Token(BaseModel):
    """The course's `access_token` and `token_type`, with the access token's lifetime and a refresh token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Single-use: POST it to /token/refresh for a new pair")


class UserLogin(BaseModel):
    """The OAuth2 password form; `username` is the email. Other OAuth2 fields (scope, ...) are ignored.

    The lengths are capped before anything else looks at the values: no account has a longer email or
    password, and parsing a megabyte-long "email" would hold up every other request.
    """

    model_config = ConfigDict(extra="ignore")

    username: StorableStr = Field(
        min_length=1, max_length=EMAIL_MAX_LENGTH, description="The account's email"
    )
    password: EncodableStr = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Anything that is not one of our refresh tokens, an access token included, is a 401; only what is far
    # too long to be any token is refused as invalid input.
    refresh_token: StorableStr = Field(min_length=1, max_length=TOKEN_MAX_LENGTH)
