"""Email verification and password reset: users.email_verified_at and users.pending_email, and
account_tokens, the links mailed to an account's owner (stored as SHA-256 hashes only).

Existing accounts start unverified: nothing so far proved that their addresses are their owners'.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from postboard.orm import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, never by batch: a batch copies `users` on SQLite, and dropping the old copy would cascade to
    # every table that refers to it.
    op.add_column("users", sa.Column("email_verified_at", UTCDateTime(), nullable=True))
    op.add_column("users", sa.Column("pending_email", sa.String(length=320), nullable=True))
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_tokens")),
    )
    op.create_index(op.f("ix_account_tokens_user_id"), "account_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_table("account_tokens")
    op.drop_column("users", "pending_email")
    op.drop_column("users", "email_verified_at")
