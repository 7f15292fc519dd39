"""The database's schema compared with the models'."""

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from postboard.models import Base


def schema_differences(connection: Connection) -> list[Any]:
    """What the database lacks or has beyond the models: tables, columns, indexes, foreign keys."""
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; the PostgreSQL-only trigram index is compared there.
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))
