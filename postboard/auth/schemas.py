from pydantic import BaseModel, ConfigDict, Field

from postboard.fields import EncodableStr, StorableStr


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class TokenData(BaseModel):
    """What a verified access token says: whose it is."""

    id: int


class UserLogin(BaseModel):
    """The OAuth2 password form; `username` is the email. Other OAuth2 fields (scope, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    username: StorableStr = Field(min_length=1, description="The account's email")
    password: EncodableStr = Field(min_length=1)
