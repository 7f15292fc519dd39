from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from postboard.fields import REJECT_BLANK, StorableStr, Timestamp
from postboard.moderation.models import REASON_MAX_LENGTH, AuditAction, TargetType
from postboard.patterns import NOT_BLANK_NO_NUL, Published
from postboard.users.models import Role

Reason = Annotated[
    StorableStr,
    Field(min_length=1, max_length=REASON_MAX_LENGTH),
    REJECT_BLANK,
    Published(NOT_BLANK_NO_NUL),
]


class ReasonIn(BaseModel):
    """Why: a member's report of a post, or an admin's action, which the audit log keeps."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    post_id: int
    reason: str
    created_at: Timestamp


class ModeratedAccountOut(BaseModel):
    """An account as admins see it."""

    id: int
    email: str = Field(json_schema_extra={"format": "email"})
    email_verified: bool
    role: Role
    created_at: Timestamp
    # When it was suspended; null while it is not.
    suspended_at: Timestamp | None
    post_count: int


class ReportReasonOut(BaseModel):
    reporter_id: int
    reason: str
    created_at: Timestamp


class ReportedPostOut(BaseModel):
    """A reported post in the admins' queue, with every report of it, oldest first."""

    post_id: int
    title: str
    published: bool
    owner_id: int
    owner_email: str = Field(json_schema_extra={"format": "email"})
    owner_suspended: bool
    report_count: int
    last_reported_at: Timestamp
    reports: list[ReportReasonOut]


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: Timestamp
    # Null for the command line (or an admin account deleted since: `actor_email` still names it).
    actor_id: int | None
    actor_email: str | None
    action: AuditAction
    target_type: TargetType
    target_id: int
    # The target as it was: a post's title, an account's email.
    target: str
    reason: str
