from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from postboard.orm import Base, UTCDateTime, utc_now

LOGIN_SESSION_ID_LENGTH = 32
SHA256_HEX_LENGTH = 64


class LoginSession(Base):
    """A login session: the chain of refresh tokens started by one login, and the access tokens issued
    from it (they carry its id as `sid`). Revoking it deletes the row, which ends every one of them."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(LOGIN_SESSION_ID_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now)
    # The absolute end of the login session, however often it is refreshed.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Only the current refresh token is valid; any older one presented again is a replay.
    refresh_token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    refresh_token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Writes made through the login session while a read replica is configured: a replica whose copy of
    # the row has the primary's count has replayed every one of them (see auth/reads.py).
    write_count: Mapped[int] = mapped_column(BigInteger(), default=0, server_default="0")


class RetiredRefreshToken(Base):
    """A refresh token that was traded in for a new pair, kept until it would have expired: presented
    again, it proves that the login session's tokens were copied. A refresh token that was never issued proves
    nothing (anyone can make one up from a login session id, which every access token shows)."""

    __tablename__ = "retired_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), primary_key=True)
    login_session_id: Mapped[str] = mapped_column(
        ForeignKey("login_sessions.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
