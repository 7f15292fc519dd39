from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from postboard.orm import Base, UTCDateTime, utc_now

# RFC 5321 caps an address at 254 octets; the column leaves room for the full 320 some validators allow.
EMAIL_MAX_LENGTH = 320
ROLE_MAX_LENGTH = 16


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(role.value) for role in Role)})", name="role"),
        # The few suspended accounts, which every listing of posts leaves out: found without a scan.
        Index(
            "ix_users_suspended",
            "id",
            postgresql_where=text("suspended_at IS NOT NULL"),
            sqlite_where=text("suspended_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Always stored lower-cased, so the unique index makes emails unique in any letter case.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, server_default=func.now())
    # Read from the database at every admin request, never carried in a token: a demotion counts at once.
    role: Mapped[str] = mapped_column(
        String(ROLE_MAX_LENGTH), default=Role.MEMBER.value, server_default=Role.MEMBER.value
    )
    # Set while an admin has suspended the account: it cannot log in, and its posts are hidden.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When a mailed link proved that the address is the owner's; None until then (and after an email change).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # With REQUIRE_VERIFIED_EMAIL, an email change waits here until its link is followed.
    pending_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH), default=None)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


def awaits_verification(email_verified: bool, pending_email: str | None) -> bool:
    """Whether an account's email, or the one it is changing to, has yet to be verified: what the web
    app's banner shows."""
    return not email_verified or pending_email is not None
