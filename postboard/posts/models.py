from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, func, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from postboard.orm import Base, UTCDateTime, only_on, utc_now
from postboard.users.models import User

TITLE_MAX_LENGTH = 300
CONTENT_MAX_LENGTH = 20_000


class PostRow(Base):
    __tablename__ = "posts"
    __table_args__ = (
        # Serves the newest-first listing: the page is read off the index instead of sorting the table. On
        # PostgreSQL it also holds what the visibility filter reads, so skipped rows never touch the table.
        Index("ix_posts_created_at_id", "created_at", "id", postgresql_include=["published", "owner_id"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    content: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utc_now, server_default=func.now())
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Kept by database triggers on every insert into and delete from `votes` (see migration 0003).
    vote_count: Mapped[int] = mapped_column(default=0, server_default="0")

    # lazy="raise": every query says what it loads, so a listing can never fall into N+1 queries.
    owner: Mapped[User] = relationship(lazy="raise")


# `search` (SQLAlchemy's icontains: ILIKE on PostgreSQL) through pg_trgm; SQLite has no such index and scans.
only_on(
    "postgresql",
    Index(
        "ix_posts_title_trgm", PostRow.title, postgresql_using="gin", postgresql_ops={"title": "gin_trgm_ops"}
    ),
)
