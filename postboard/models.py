"""Every table, imported in one place so that Alembic and the tests see the whole schema."""

from postboard.auth.models import RefreshFamily, RetiredRefreshToken
from postboard.orm import Base
from postboard.posts.models import Post
from postboard.users.models import User
from postboard.votes.models import Vote

__all__ = ["Base", "Post", "RefreshFamily", "RetiredRefreshToken", "User", "Vote"]
