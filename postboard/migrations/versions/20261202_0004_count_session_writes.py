"""Count the writes made through each login session, for reading them back from a replica.

A read replica lags behind the primary. A caller's reads go to it only once its copy of the caller's login
session shows every write made through that session, which `refresh_families.write_count` counts. A
column with a constant default is added without rewriting the table (PostgreSQL 11 and later).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refresh_families") as refresh_families:
        refresh_families.add_column(
            sa.Column("write_count", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("refresh_families") as refresh_families:
        refresh_families.drop_column("write_count")
