"""Create retired_refresh_tokens: refresh tokens traded in for new ones, kept until they would expire.

Only a token that was really issued and since retired is evidence that a login session's tokens were
copied; a made-up one is a plain 401 and ends nothing. Refresh tokens retired before this migration are
unknown to it, so presenting one of them is a plain 401 too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from postboard.orm import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retired_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("login_session_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["login_session_id"],
            ["refresh_families.id"],
            name=op.f("fk_retired_refresh_tokens_login_session_id_refresh_families"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_retired_refresh_tokens")),
    )
    op.create_index(
        op.f("ix_retired_refresh_tokens_login_session_id"), "retired_refresh_tokens", ["login_session_id"]
    )


def downgrade() -> None:
    op.drop_table("retired_refresh_tokens")
