"""What OpenAPI says of the errors a route can answer."""

from typing import Any

from fastapi import status
from pydantic import BaseModel

from postboard.errors import DomainError


class ErrorDetail(BaseModel):
    detail: str


_RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}


def responses(*errors: type[DomainError], body: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entry for the domain errors a route can raise; `body` adds the 400 that
    FastAPI itself answers to a body it cannot decode (not UTF-8, nested too deeply) and the 413 for a
    body over the size limit."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        documented[error.status_code] = {"model": ErrorDetail, "description": error.description}
        if error.has_retry_after:
            documented[error.status_code]["headers"] = {"Retry-After": _RETRY_AFTER}
    if body:
        undecodable = "Undecodable body"
        if status.HTTP_400_BAD_REQUEST in documented:  # the route's own 400 too
            undecodable = f"{documented[status.HTTP_400_BAD_REQUEST]['description']}, or an undecodable body"
        documented[status.HTTP_400_BAD_REQUEST] = {"model": ErrorDetail, "description": undecodable}
        documented[status.HTTP_413_CONTENT_TOO_LARGE] = {
            "model": ErrorDetail,
            "description": "Body over the size limit",
        }
    return documented
