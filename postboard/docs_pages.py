"""/docs (Swagger UI) and /redoc (ReDoc), with every asset served by Postboard itself.

FastAPI's own pages load their scripts from a public CDN, which leaves a blank page on a machine without
internet, and write an inline script, which a strict Content-Security-Policy forbids. These pages load
only files of postboard/static (see its README for their versions and licenses).
"""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_DIRECTORY = Path(__file__).parent / "static"
STATIC_URL = "/static"
FAVICON = STATIC_DIRECTORY / "favicon.png"

_SWAGGER_UI_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Postboard - Swagger UI</title>
<link rel="icon" type="image/png" href="/favicon.ico">
<link rel="stylesheet" href="{STATIC_URL}/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="{STATIC_URL}/swagger-postboard.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{STATIC_URL}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{STATIC_URL}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Postboard - ReDoc</title>
<link rel="icon" type="image/png" href="/favicon.ico">
<link rel="stylesheet" href="{STATIC_URL}/redoc-postboard.css">
</head>
<body>
<noscript>ReDoc needs JavaScript to show the API's documentation.</noscript>
<redoc spec-url="/openapi.json"></redoc>
<script src="{STATIC_URL}/redoc/redoc.standalone.js"></script>
</body>
</html>
"""

docs_router = APIRouter(include_in_schema=False)


@docs_router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return HTMLResponse(_SWAGGER_UI_PAGE)


@docs_router.get("/redoc")
async def redoc() -> HTMLResponse:
    return HTMLResponse(_REDOC_PAGE)


@docs_router.get("/favicon.ico")
async def favicon() -> FileResponse:
    """Browsers ask for /favicon.ico whatever the page says; a PNG under that name is understood by all."""
    return FileResponse(FAVICON, media_type="image/png")


def install_docs(app: FastAPI) -> None:
    """The app must be created with `docs_url=None, redoc_url=None`, so that these pages take their place."""
    # Joined to the app's own routes, as postboard.routing.install_routes does, and for the same reason.
    app.router.routes.extend(docs_router.routes)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIRECTORY), name="static")
