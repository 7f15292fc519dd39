from typing import Annotated

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from postboard.fields import REJECT_NUL, REQUIRE_ENCODABLE, EncodableStr, Timestamp
from postboard.patterns import Published, not_under_domains
from postboard.users.emails import normalize_email
from postboard.users.models import EMAIL_MAX_LENGTH, Role

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 256

# The length is checked first: parsing a megabyte-long address takes the validator half a second.
NormalizedEmail = Annotated[
    str,
    StringConstraints(max_length=EMAIL_MAX_LENGTH),
    REQUIRE_ENCODABLE,
    REJECT_NUL,
    AfterValidator(normalize_email),
    Field(json_schema_extra={"format": "email"}),
    # What `format: email` leaves unsaid: no address at a special-use domain (RFC 6761: .test, .invalid, ...).
    Published(not_under_domains(email_validator.SPECIAL_USE_DOMAIN_NAMES)),
]


class UserCreate(BaseModel):
    email: NormalizedEmail
    password: EncodableStr = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class UserUpdate(BaseModel):
    """The fields an account may change about itself; anything else (id, hash, timestamps) is refused."""

    model_config = ConfigDict(extra="forbid")

    email: NormalizedEmail | None = None
    current_password: EncodableStr = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: EncodableStr = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    new_password: EncodableStr = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class AccountDeletion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: EncodableStr = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    # Stored emails were validated on the way in; re-validating each one on every read would cost time.
    email: str = Field(json_schema_extra={"format": "email"})
    created_at: Timestamp


class MeOut(UserOut):
    """The caller's own account: what only its owner sees besides what everyone does."""

    role: Role
    email_verified: bool = Field(description="Whether a mailed link proved the address to be the owner's")
    pending_email: str | None = Field(
        json_schema_extra={"format": "email"},
        description="With REQUIRE_VERIFIED_EMAIL: the new address an email change waits to verify",
    )
