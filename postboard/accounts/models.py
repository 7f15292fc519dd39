from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from postboard.auth.models import SHA256_HEX_LENGTH
from postboard.orm import Base, UTCDateTime, utc_now
from postboard.users.models import EMAIL_MAX_LENGTH


class TokenPurpose(StrEnum):
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFICATION = "email_verification"


PURPOSE_MAX_LENGTH = 32


class AccountToken(Base):
    """A link mailed to an account's owner (reset the password, verify an address): only its SHA-256 is
    kept, and it is good once, for its purpose, until it expires."""

    __tablename__ = "account_tokens"

    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(PURPOSE_MAX_LENGTH))
    # The address the link was mailed to: following it proves that this address is the owner's.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
