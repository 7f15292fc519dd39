from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI


class CollectionRouter(APIRouter):
    """Serves a collection at both `/posts/` and `/posts`, answering each directly: clients of the course
    use both, and a redirect would drop their Authorization header or turn a POST into a GET."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        if path == "/":
            super().add_api_route("", endpoint, **{**kwargs, "include_in_schema": False})


def install_routes(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Serves the routers' routes in the order given, ahead of the docs pages that FastAPI added.

    FastAPI tries an app's routes in turn. `include_router` keeps each router as a branch that FastAPI
    0.165 matches twice, and checks for changes, at every request: about a third of a hello's cost, and
    more for each router passed. Postboard's routers set nothing that an inclusion would add (their
    prefix, tags and responses are their own), so their routes join the app's own list instead.
    tests/test_app.py checks that the OpenAPI schema is the one include_router would make.
    """
    docs_pages = list(app.router.routes)
    app.router.routes[:] = [*(route for router in routers for route in router.routes), *docs_pages]
