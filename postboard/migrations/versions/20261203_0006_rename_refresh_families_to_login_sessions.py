"""Rename refresh_families to login_sessions, with its index and constraints: the code calls what a login
starts a login session, and "session" alone means the database's.

Renames only: PostgreSQL changes the catalog, and SQLite rewrites the references to the table in other
tables' foreign keys itself. SQLite cannot rename an index, so it is made again, from a table that holds at
most a few hundred rows per account; its constraint names live in the table's own SQL, which only a copy
of the table could change, so SQLite keeps the old ones (they are not compared).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (old, new) constraint names on PostgreSQL, by table (as named while they are renamed), as the naming
# convention derives them from the table names.
_CONSTRAINTS = {
    "login_sessions": [
        ("pk_refresh_families", "pk_login_sessions"),
        ("fk_refresh_families_user_id_users", "fk_login_sessions_user_id_users"),
    ],
    "retired_refresh_tokens": [
        (
            "fk_retired_refresh_tokens_login_session_id_refresh_families",
            "fk_retired_refresh_tokens_login_session_id_login_sessions",
        )
    ],
}


def upgrade() -> None:
    op.rename_table("refresh_families", "login_sessions")
    _rename_index("ix_refresh_families_user_id", "ix_login_sessions_user_id")
    _rename_constraints(reverse=False)


def downgrade() -> None:
    _rename_constraints(reverse=True)
    _rename_index("ix_login_sessions_user_id", "ix_refresh_families_user_id")
    op.rename_table("login_sessions", "refresh_families")


def _rename_index(old: str, new: str) -> None:
    """An index of login_sessions (the table's name while its constraints and index are renamed)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER INDEX "{old}" RENAME TO "{new}"')
    else:
        op.drop_index(old, table_name="login_sessions")
        op.create_index(new, "login_sessions", ["user_id"])


def _rename_constraints(*, reverse: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, renames in _CONSTRAINTS.items():
        for old, new in renames:
            source, target = (new, old) if reverse else (old, new)
            op.execute(f'ALTER TABLE "{table}" RENAME CONSTRAINT "{source}" TO "{target}"')
