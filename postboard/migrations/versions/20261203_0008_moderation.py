"""Moderation: users' role and suspension, members' reports of posts, and the audit log of admin actions.

Every existing account becomes a member; `postboard set-role` makes an admin. The partial index holds only
suspended accounts, which every listing of posts leaves out.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from postboard.orm import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUSPENDED = sa.text("suspended_at IS NOT NULL")


def upgrade() -> None:
    # The CHECK goes with the column: SQLite adds it in place, where a table-level one would copy `users`,
    # and dropping the old copy would cascade to every table that refers to it.
    role_check = sa.CheckConstraint("role IN ('member', 'admin')", name=op.f("ck_users_role"))
    op.add_column(
        "users", sa.Column("role", sa.String(length=16), role_check, server_default="member", nullable=False)
    )
    op.add_column("users", sa.Column("suspended_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_users_suspended", "users", ["id"], postgresql_where=_SUSPENDED, sqlite_where=_SUSPENDED
    )
    op.create_table(
        "post_reports",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("reporter_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_reports_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["users.id"], name=op.f("fk_post_reports_reporter_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", "reporter_id", name=op.f("pk_post_reports")),
    )
    op.create_index(op.f("ix_post_reports_reporter_id"), "post_reports", ["reporter_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_log_actor_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_created_at"), "audit_log", ["created_at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("post_reports")
    op.drop_index("ix_users_suspended", table_name="users")
    op.drop_column("users", "suspended_at")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_users_role"), "users", type_="check")
    op.drop_column("users", "role")
