"""The application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from postboard.auth.dependencies import authentication_error
from postboard.auth.passwords import PasswordHasher
from postboard.auth.router import router as auth_router
from postboard.auth.tokens import TokenConfig
from postboard.config import Settings, load_secret_key
from postboard.db import Database
from postboard.errors import install_error_handlers
from postboard.posts.router import router as posts_router
from postboard.users.router import router as users_router
from postboard.votes.router import router as votes_router

logger = logging.getLogger("postboard")


class Message(BaseModel):
    message: str


async def check_database(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    # The course's console shows this line; its users look for it.
    logger.info("Database connection was successful!")


def create_app(settings: Settings) -> FastAPI:
    database = Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await check_database(database)
        yield
        await database.dispose()

    app = FastAPI(
        title="Postboard",
        version=version("postboard"),
        summary="A social posting API: register, log in, post and vote.",
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.database = database
    app.state.token_config = TokenConfig(load_secret_key(settings), settings.access_token_lifetime)
    app.state.password_hasher = PasswordHasher(settings.password_hashing_threads)
    install_error_handlers(app, authentication_error)
    for router in (posts_router, users_router, auth_router, votes_router):
        app.include_router(router)

    @app.get("/", response_model=Message, tags=["Root"])
    async def root() -> Message:
        """The course's greeting, which its clients' first test checks for; the API is described at /docs."""
        return Message(message="Hello World")

    return app
