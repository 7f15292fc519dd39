"""The database as a request sees it: the app's `Database`, and an ORM session per request (`Db`)."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from postboard.db import Database


def app_database(request: Request) -> Database:
    """The database the app opened at start, for any part of a request that needs it."""
    database: Database = request.app.state.database
    return database


async def get_database(request: Request) -> Database:
    return app_database(request)


AppDatabase = Annotated[Database, Depends(get_database)]


def writes(request: Request) -> bool:
    """Whether the request may write: its transaction is a writing one, and its writes are counted."""
    return request.method not in ("GET", "HEAD")


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed after the route returns and before the response is sent."""
    database = app_database(request)
    async with database.orm_session(writes=writes(request)) as db, db.begin():
        yield db


# scope="function": commit before the response goes out, so a client that saw 201 can read what it made.
Db = Annotated[AsyncSession, Depends(get_db, scope="function")]
