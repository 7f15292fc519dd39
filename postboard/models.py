"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from postboard.accounts.models import AccountToken
from postboard.auth.models import LoginSession, RetiredRefreshToken
from postboard.moderation.models import AuditEntry, PostReport
from postboard.orm import Base
from postboard.posts.models import PostRow
from postboard.users.models import User
from postboard.votes.models import Vote

__all__ = [
    "AccountToken",
    "AuditEntry",
    "Base",
    "LoginSession",
    "PostReport",
    "PostRow",
    "RetiredRefreshToken",
    "User",
    "Vote",
]
