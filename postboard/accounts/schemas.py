from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from postboard.accounts.account_tokens import ACCOUNT_TOKEN_MAX_LENGTH
from postboard.fields import EncodableStr
from postboard.users.schemas import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, NormalizedEmail

# Any text: what is not a live token of ours, malformed included, gets the one 400 of a bad link; only what
# is far too long to be any token is refused as invalid input.
LinkToken = Annotated[
    str,
    StringConstraints(max_length=ACCOUNT_TOKEN_MAX_LENGTH),
    Field(description="The `token` parameter of the mailed link"),
]


class PasswordForgotten(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: NormalizedEmail


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken
    new_password: EncodableStr = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class EmailVerification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: LinkToken


class Accepted(BaseModel):
    """A mail is on its way (or, for an unknown address, is not: the answer is the same)."""

    message: str
