from pydantic import BaseModel, ConfigDict, Field

from postboard.fields import EncodableStr, StorableStr


class Token(BaseModel):
    """The course's `access_token` and `token_type`, with the access token's lifetime and a refresh token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Single-use: POST it to /token/refresh for a new pair")


class UserLogin(BaseModel):
    """The OAuth2 password form; `username` is the email. Other OAuth2 fields (scope, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    username: StorableStr = Field(min_length=1, description="The account's email")
    password: EncodableStr = Field(min_length=1)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No length limit here: anything that is not one of our tokens, an access token included, is a 401.
    refresh_token: StorableStr = Field(min_length=1)
