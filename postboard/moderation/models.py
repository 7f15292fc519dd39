"""What moderation keeps: members' reports of posts, and the audit log of what admins did."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from postboard.orm import Base, UTCDateTime, utc_now
from postboard.posts.models import TITLE_MAX_LENGTH
from postboard.users.models import EMAIL_MAX_LENGTH

# A sentence or a short paragraph: why a post was reported, or why an admin acted.
REASON_MAX_LENGTH = 500
ACTION_MAX_LENGTH = 32
TARGET_TYPE_MAX_LENGTH = 16
# The audit log's snapshot of its target: a post's title or an account's email, whichever is longer.
TARGET_MAX_LENGTH = max(TITLE_MAX_LENGTH, EMAIL_MAX_LENGTH)


class AuditAction(StrEnum):
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    DELETE_POST = "delete_post"
    DISMISS_REPORTS = "dismiss_reports"
    SET_ROLE = "set_role"


class TargetType(StrEnum):
    ACCOUNT = "account"
    POST = "post"


class PostReport(Base):
    """A member's report of a post. The primary key makes it one per member and post, under any race."""

    __tablename__ = "post_reports"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    reporter_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reason: Mapped[str] = mapped_column(String(REASON_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, server_default=func.now())


class AuditEntry(Base):
    """One admin action (or a role change from the command line), with snapshots of who and what: the
    actor's account and the target may be deleted later, and the entry must still say what happened."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utc_now, server_default=func.now(), index=True
    )
    # None: the command line (`postboard set-role`, `create-user --admin`), or an account since deleted.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH))
    action: Mapped[str] = mapped_column(String(ACTION_MAX_LENGTH))
    target_type: Mapped[str] = mapped_column(String(TARGET_TYPE_MAX_LENGTH))
    target_id: Mapped[int] = mapped_column(Integer())
    target: Mapped[str] = mapped_column(String(TARGET_MAX_LENGTH))
    reason: Mapped[str] = mapped_column(String(REASON_MAX_LENGTH))
