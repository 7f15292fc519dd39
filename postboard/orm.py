"""What the models are made of: the declarative base, its naming convention, and the shared column types."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, Index
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Ids are 32-bit integers in both engines: a larger one can name no row, so it is answered as missing.
MAX_ID = 2**31 - 1
MAX_OFFSET = 2**63 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    pass


Base.metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both engines (SQLite stores none and hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def only_on(dialect: str, index: Index) -> Index:
    """An index that only `dialect` has (a type of index the other engine lacks); autogenerate skips it
    elsewhere through `postboard.migrations.include_object`."""
    index.info["only_on"] = dialect
    return index.ddl_if(dialect=dialect)


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_storable_id(value: int) -> bool:
    return 0 < value <= MAX_ID
