"""Query helpers that the two engines spell differently."""

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from postboard.orm import Base
from postboard.reads import AnySelect

# A search is matched literally: its wildcards are escaped with this character before it is bound.
LIKE_ESCAPE = "/"


class _OneOf(ColumnElement[bool]):
    """`column IN (subquery)`, for a subquery that selects a handful of values (a page's ids, say)."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: SQLite needs no `= 1` after it
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own class attribute)
        ("column", InternalTraversal.dp_clauseelement),
        ("subquery", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], subquery: AnySelect) -> None:
        self.column = column
        self.subquery = subquery.scalar_subquery()


def one_of(column: ColumnElement[Any], few: AnySelect) -> ColumnElement[bool]:
    """Whether `column` is among the few values that the SELECT `few` returns.

    On PostgreSQL, `= ANY(ARRAY(subquery))` rather than `IN`: the planner makes an IN into a join, and for a
    prepared statement (asyncpg prepares every one) it does not know the subquery's LIMIT, takes it for a
    tenth of the table, and joins it to the whole table. The array is computed once, then looked up by
    index, whatever the plan assumes."""
    return _OneOf(column, few)


@compiles(_OneOf)
def _compile_in(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {compiler.process(element.subquery, **kw)}"


@compiles(_OneOf, "postgresql")
def _compile_any_array(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY{compiler.process(element.subquery, **kw)})"


def insert_ignoring_duplicates(db: AsyncSession, model: type[Base]) -> Insert:
    """An INSERT that skips rows whose key already exists; its rowcount says whether a row was added."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement: Insert = dialect.insert(model).on_conflict_do_nothing()
    return statement


def like_literally(text: str) -> str:
    """`text` as a LIKE pattern (escaped with LIKE_ESCAPE) that matches only itself: `%` and `_` are not
    wildcards in a search."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
