from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


class CollectionRouter(APIRouter):
    """Serves a collection at both `/posts/` and `/posts`, answering each directly: clients of the course
    use both, and a redirect would drop their Authorization header or turn a POST into a GET."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        if path == "/":
            super().add_api_route("", endpoint, **{**kwargs, "include_in_schema": False})
