from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from postboard.orm import Base


class Vote(Base):
    __tablename__ = "votes"

    # The primary key leads with post_id, so it also serves counting a post's votes.
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
