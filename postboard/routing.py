from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match

_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])
# What a login form, a refresh token or a registration can need, percent- or JSON-escaped, many times over.
SMALL_BODY_MAX_BYTES = 16 * 1024
_SMALL_BODY_ATTRIBUTE = "postboard_small_body"


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


def small_body(endpoint: _Endpoint) -> _Endpoint:
    """Marks an endpoint whose request body is refused with 413 past SMALL_BODY_MAX_BYTES, before anything
    parses it. An anonymous form or token has no business being large, and parsing a megabyte of form
    holds up every other request for milliseconds, even when its fields are then refused for their length."""
    setattr(endpoint, _SMALL_BODY_ATTRIBUTE, True)
    return endpoint


def small_body_paths(routes: Sequence[BaseRoute]) -> list[str]:
    """The paths of the routes whose endpoints are marked `small_body`."""
    paths = []
    for route in routes:
        if isinstance(route, APIRoute) and getattr(route.endpoint, _SMALL_BODY_ATTRIBUTE, False):
            if route.param_convertors:
                raise ValueError(f"small_body is matched by exact path; {route.path} has parameters")
            paths.append(route.path)
    return paths


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


async def method_not_allowed(request: Request, _error: Exception) -> JSONResponse:
    """The 405, with every method the path is routed for in `Allow`: Starlette's own names only the
    methods of the first route that matches the path, so GET /posts/ hid POST."""
    allowed = [method for method in _METHODS if _is_routed(request, method)]
    return JSONResponse(
        {"detail": "Method Not Allowed"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": ", ".join(allowed)},
    )


def _is_routed(request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)
