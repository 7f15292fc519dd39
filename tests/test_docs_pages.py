"""/docs and /redoc as HTML: every file they load is Postboard's own, and is served with its license.
tests/test_docs_in_browser.py checks that the pages work in a browser."""

import re

import httpx
import pytest

from postboard.docs_pages import STATIC_DIRECTORY

# The vendored files and the licenses that must travel with them (postboard/static/README.md).
LICENSES = ["swagger-ui/LICENSE", "swagger-ui/NOTICE", "redoc/LICENSE"]


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages_load_only_files_that_postboard_serves(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)

    urls = asset_urls(page.text)
    assert urls
    for url in urls:
        assert url.startswith("/"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url


async def test_the_docs_pages_are_not_in_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert not {"/docs", "/redoc", "/favicon.ico"} & set(paths)


async def test_the_favicon_is_a_png(client: httpx.AsyncClient) -> None:
    response = await client.get("/favicon.ico")

    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")


@pytest.mark.parametrize("license_file", LICENSES)
def test_the_vendored_files_ship_with_their_licenses(license_file: str) -> None:
    assert (STATIC_DIRECTORY / license_file).read_text().strip()
