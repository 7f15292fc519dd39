"""OpenAPI links: which answer's values a client passes to which next request.

They tell a reader (and a stateful tester such as schemathesis) how the operations chain: a created post's
id is the one to read, vote on, replace and delete; a login's tokens are the ones to refresh and log out
with. Declared here rather than on each route, since a link names its target by the operationId that
FastAPI derives from the route.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

_BEARER = "Bearer {$response.body#/access_token}"


@dataclass(frozen=True)
class Link:
    source: tuple[str, str, str]  # method, path, status of the answer the values come from
    name: str
    target: tuple[str, str]  # method, path of the operation they go to
    description: str
    parameters: dict[str, str] = field(default_factory=dict)
    request_body: dict[str, Any] | None = None


def _post_links(method: str, path: str, status: str, post_id: str, *, vote: bool = True) -> list[Link]:
    """From an answer that names a post (`post_id`, a runtime expression) to what can be done with it."""
    source = (method, path, status)
    by_id = {"path.id": post_id}
    links = [
        Link(source, "GetPost", ("get", "/posts/{id}"), "Read the post", by_id),
        Link(source, "ReplacePost", ("put", "/posts/{id}"), "Replace the post", by_id),
        Link(source, "DeletePost", ("delete", "/posts/{id}"), "Delete the post", by_id),
    ]
    if vote:
        links.append(
            Link(
                source,
                "VoteOnPost",
                ("post", "/vote/"),
                "Vote on the post",
                request_body={"post_id": post_id},
            )
        )
    return links


def _session_links(path: str) -> list[Link]:
    """From an answer with a pair of tokens to refreshing it and to logging out with it."""
    source = ("post", path, "200")
    return [
        Link(
            source,
            "Refresh",
            ("post", "/token/refresh"),
            "Exchange the refresh token for a new pair",
            request_body={"refresh_token": "$response.body#/refresh_token"},
        ),
        Link(
            source,
            "LogOut",
            ("post", "/logout"),
            "End this login session",
            {"header.Authorization": _BEARER},
        ),
    ]


LINKS = [
    *_post_links("post", "/posts/", "201", "$response.body#/id"),
    *_post_links("get", "/posts/{id}", "200", "$request.path.id"),
    *_post_links("put", "/posts/{id}", "200", "$response.body#/id"),
    # Not to another vote: a vote's 201 also answers a vote taken back, after which a post that its author
    # unpublished is gone for the caller, so a vote on it again is a 404 (see CONTRACT.md).
    *_post_links("post", "/vote/", "201", "$request.body#/post_id", vote=False),
    # After a delete the post reads as missing: 404.
    Link(
        ("delete", "/posts/{id}", "204"),
        "GetDeletedPost",
        ("get", "/posts/{id}"),
        "Read the deleted post: 404",
        {"path.id": "$request.path.id"},
    ),
    Link(
        ("post", "/users/", "201"),
        "LogIn",
        ("post", "/login"),
        "Log in to the new account",
        request_body={"username": "$response.body#/email", "password": "$request.body#/password"},
    ),
    *_session_links("/login"),
    *_session_links("/token/refresh"),
]


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with LINKS declared on the responses they start from."""
    paths = document["paths"]
    for link in LINKS:
        method, path, status = link.source
        target_method, target_path = link.target
        definition: dict[str, Any] = {
            "operationId": paths[target_path][target_method]["operationId"],
            "description": link.description,
        }
        if link.parameters:
            definition["parameters"] = link.parameters
        if link.request_body is not None:
            definition["requestBody"] = link.request_body
        response = paths[path][method]["responses"][status]
        response.setdefault("links", {})[link.name] = definition
    return document


def install_links(app: FastAPI) -> None:
    """Makes `app`'s OpenAPI document (built once, on first request) declare LINKS."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
