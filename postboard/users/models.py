from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from postboard.orm import Base, UTCDateTime, utc_now

# RFC 5321 caps an address at 254 octets; the column leaves room for the full 320 some validators allow.
EMAIL_MAX_LENGTH = 320


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Always stored lower-cased, so the unique index makes emails unique in any letter case.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, server_default=func.now())
    # When a mailed link proved that the address is the owner's; None until then (and after an email change).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # With REQUIRE_VERIFIED_EMAIL, an email change waits here until its link is followed.
    pending_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH), default=None)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
