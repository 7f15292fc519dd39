"""The database's schema compared with the models'."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from postboard.migrations import include_object
from postboard.models import Base


def schema_differences(connection: Connection) -> list[Any]:
    """What the database lacks or has beyond the models: tables, columns, indexes, foreign keys."""
    options = {"include_object": include_object(connection.dialect.name)}
    return list(compare_metadata(MigrationContext.configure(connection, opts=options), Base.metadata))
