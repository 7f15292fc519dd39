"""Postboard with its listing served without authentication: what bench/throughput.py compares the real
listing with, to tell what authentication costs. Never a route the product exposes.

It is the app `postboard serve` runs (postboard.main's: the same settings, middleware, database, routes
and garbage-collection tuning), except that GET /posts/ is the product's endpoint with its `as_caller`
dependency swapped: no bearer token is verified, and the reads run for a fixed viewer without the
login-session check. Parameters, validation, statements, service and serialization are the product's.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postboard BASELINE_VIEWER_ID=1 \\
        .venv/bin/uvicorn --app-dir bench unauthenticated_app:app --no-server-header --no-proxy-headers

BASELINE_VIEWER_ID (default 1) is the user every listing is read for, as in bench/baseline_app.py.
"""

import inspect
import os
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from postboard import main
from postboard.auth.dependencies import AsCaller
from postboard.auth.reads import CallerRead, CallerReads
from postboard.auth.tokens import Caller
from postboard.posts.router import list_posts
from postboard.posts.schemas import PostOut
from postboard.reads import Row
from postboard.request_db import app_database

Endpoint = Callable[..., Coroutine[Any, Any, Any]]
VIEWER_ID = int(os.environ.get("BASELINE_VIEWER_ID", "1"))


class UncheckedReads(CallerReads):
    """Reads for the caller as they would run without a login session to check."""

    async def fetch(self, read: CallerRead, **parameters: Any) -> Sequence[Row]:
        return await self.database.fetch(read.unchecked, user_id=self.caller.user_id, **parameters)


async def viewer_reads(request: Request) -> CallerReads:
    return UncheckedReads(Caller(VIEWER_ID, login_session_id=""), app_database(request))


AsViewer = Annotated[CallerReads, Depends(viewer_reads)]


def as_viewer(endpoint: Endpoint) -> Endpoint:
    """`endpoint` with its caller dependency replaced by the fixed viewer's: FastAPI reads the parameters
    from `__signature__`, so everything else about them stays the product's."""

    async def unauthenticated(**arguments: Any) -> Any:
        return await endpoint(**arguments)

    signature = inspect.signature(endpoint)
    swapped = [
        parameter.replace(annotation=AsViewer) if parameter.annotation == AsCaller else parameter
        for parameter in signature.parameters.values()
    ]
    if swapped == list(signature.parameters.values()):
        raise TypeError(f"{endpoint.__name__} does not depend on AsCaller")
    unauthenticated.__signature__ = signature.replace(parameters=swapped)  # type: ignore[attr-defined]
    return unauthenticated


def serve_listing_unauthenticated(app: FastAPI) -> FastAPI:
    listing = APIRouter()
    listing.add_api_route("/posts/", as_viewer(list_posts), methods=["GET"], response_model=list[PostOut])
    # First, so that it answers GET /posts/ before the product's own route would.
    app.router.routes.insert(0, listing.routes[0])
    return app


app = serve_listing_unauthenticated(main.app)
