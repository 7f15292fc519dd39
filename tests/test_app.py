"""The root route, the API description and its viewers, and the start-up log line."""

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from postboard.accounts.email_router import router as email_router
from postboard.accounts.router import router as accounts_router
from postboard.app import create_app, root_router
from postboard.auth.router import router as auth_router
from postboard.health import health_router
from postboard.moderation.router import admin_router, report_router
from postboard.openapi_links import add_links
from postboard.posts.router import router as posts_router
from postboard.votes.router import router as votes_router
from tests.helpers import make_settings

PROTECTED_OPERATIONS = [
    ("/posts/", "get"),
    ("/posts/", "post"),
    ("/posts/{id}", "get"),
    ("/posts/{id}", "put"),
    ("/posts/{id}", "delete"),
    ("/vote/", "post"),
    ("/users/{id}", "get"),
]
PUBLIC_OPERATIONS = [("/", "get"), ("/users/", "post"), ("/login", "post")]


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    schema: dict[str, Any] = response.json()
    return schema


def response_schema_ref(operation: dict[str, Any], status: str) -> str:
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    if schema.get("type") == "array":
        schema = schema["items"]
    ref: str = schema["$ref"]
    return ref


async def test_root_answers_a_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.json() == {"message": "Hello World"}


async def test_root_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"Authorization": "Bearer garbage"})

    assert response.status_code == 200


async def test_openapi_lists_the_course_routes_once(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]

    for path in ["/", "/posts/", "/posts/{id}", "/users/", "/users/{id}", "/vote/", "/login"]:
        assert path in paths, path
    # The slash-less twins are served but not described twice.
    for duplicate in ["/posts", "/users", "/vote", "/login/"]:
        assert duplicate not in paths, duplicate
    assert set(paths["/posts/"]) == {"get", "post"}
    assert set(paths["/posts/{id}"]) == {"get", "put", "delete"}
    assert set(paths["/users/"]) == {"post"}
    assert set(paths["/users/{id}"]) == {"get"}
    assert set(paths["/vote/"]) == {"post"}
    assert set(paths["/login"]) == {"post"}


async def test_openapi_security_scheme_is_oauth2_password_through_login(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    oauth2 = {name: scheme for name, scheme in schemes.items() if scheme["type"] == "oauth2"}

    assert len(oauth2) == 1, schemes
    ((name, scheme),) = oauth2.items()
    assert scheme["flows"]["password"]["tokenUrl"] == "login"
    # Swagger UI's Authorize button posts its form to that tokenUrl: /login takes the form.
    login = openapi["paths"]["/login"]["post"]
    assert "application/x-www-form-urlencoded" in login["requestBody"]["content"]
    assert response_schema_ref(login, "200").endswith("/Token")
    assert "403" in login["responses"]
    for path, method in PROTECTED_OPERATIONS:
        assert {name: []} in openapi["paths"][path][method].get("security", []), (path, method)


@pytest.mark.parametrize(("path", "method"), PROTECTED_OPERATIONS)
async def test_every_protected_operation_documents_401(
    openapi: dict[str, Any], path: str, method: str
) -> None:
    operation = openapi["paths"][path][method]

    assert "security" in operation
    assert "401" in operation["responses"]
    assert response_schema_ref(operation, "401").startswith("#/components/schemas/")


@pytest.mark.parametrize(("path", "method"), PUBLIC_OPERATIONS)
async def test_public_operations_need_no_token(openapi: dict[str, Any], path: str, method: str) -> None:
    operation = openapi["paths"][path][method]

    assert not operation.get("security")
    assert "401" not in operation["responses"]


async def test_openapi_describes_the_contract_schemas(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]

    for name in ["Token", "UserOut", "PostOut"]:
        assert name in schemas, name
    assert set(schemas["UserOut"]["properties"]) == {"id", "email", "created_at"}
    assert "password" not in str(schemas["UserOut"]).lower()
    assert set(schemas["Token"]["properties"]) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
    }
    assert set(schemas["PostOut"]["properties"]) == {"Post", "votes"}
    paths = openapi["paths"]
    assert response_schema_ref(paths["/users/"]["post"], "201").endswith("/UserOut")
    assert response_schema_ref(paths["/users/{id}"]["get"], "200").endswith("/UserOut")
    assert response_schema_ref(paths["/posts/"]["get"], "200").endswith("/PostOut")
    assert response_schema_ref(paths["/posts/{id}"]["get"], "200").endswith("/PostOut")


# Swagger UI is started by a script file (no inline script under the page's CSP), which names the document.
@pytest.mark.parametrize(
    ("path", "marker", "names_the_document"),
    [("/docs", "swagger", "/static/swagger-init.js"), ("/redoc", "redoc", "/redoc")],
)
async def test_api_viewers_answer_html(
    client: httpx.AsyncClient, path: str, marker: str, names_the_document: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert marker in response.text.lower()
    assert "/openapi.json" in (await client.get(names_the_document)).text


async def test_lifespan_logs_the_course_message(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="postboard")
    application = create_app(make_settings(database_url))

    async with application.router.lifespan_context(application):
        messages = [
            record.getMessage() for record in caplog.records if record.name.split(".")[0] == "postboard"
        ]

    assert "Database connection was successful!" in messages


def test_the_routes_are_described_as_include_router_would_describe_them() -> None:
    # install_routes puts the routers' routes in the app's own list instead of including the routers:
    # nothing of their description may be lost (a FastAPI upgrade that changed this would fail here).
    app = create_app(make_settings("sqlite+aiosqlite://"))
    reference = FastAPI(title=app.title, version=app.version, summary=app.summary)
    routers = (
        root_router,
        posts_router,
        accounts_router,
        auth_router,
        votes_router,
        email_router,
        report_router,
        admin_router,
        health_router,
    )
    for router in routers:
        reference.include_router(router)

    # Save the links between operations, which postboard/openapi_links.py adds to the document.
    assert app.openapi() == add_links(reference.openapi())


def test_the_most_requested_routes_are_tried_first() -> None:
    app = create_app(make_settings("sqlite+aiosqlite://"))

    paths = [getattr(route, "path", None) for route in app.router.routes]

    assert paths[:4] == ["/", "/posts/", "/posts", "/posts/{id}"]
    assert paths[-6:] == ["/openapi.json", "/docs", "/redoc", "/favicon.ico", "/static", "/web/static"]
