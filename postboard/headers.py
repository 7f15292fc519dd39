"""The security headers every answer carries, in one place for the middleware and the 500 handler."""

_BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Every answer but the two docs pages is data, which needs no sources.
_API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The docs pages load everything from Postboard's own /static (postboard/docs_pages.py), and talk to
# Postboard only: the OpenAPI document, and the requests that Authorize and "Try it out" send.
_SAME_ORIGIN_PAGE = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    # Swagger UI draws its icons from data: URLs, which fetch nothing and run nothing.
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
]
_SWAGGER_UI_CONTENT_SECURITY_POLICY = "; ".join(_SAME_ORIGIN_PAGE)
_REDOC_CONTENT_SECURITY_POLICY = "; ".join(
    [
        *(directive for directive in _SAME_ORIGIN_PAGE if not directive.startswith("style-src")),
        # ReDoc (styled-components) writes its styles into <style> elements as it renders: they cannot be
        # hashed ahead. Styles run no script; scripts stay limited to our own files.
        "style-src 'self' 'unsafe-inline'",
        # ReDoc's search index runs in a Web Worker that it starts from a blob: URL of its own script.
        "worker-src blob:",
    ]
)
_PAGE_CONTENT_SECURITY_POLICIES = {
    "/docs": _SWAGGER_UI_CONTENT_SECURITY_POLICY,
    "/redoc": _REDOC_CONTENT_SECURITY_POLICY,
}
# The web app (postboard/web/): its own files only, no inline script or style, and its forms post only here.
WEB_PREFIX = "/web"
_WEB_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def is_web_path(path: str) -> bool:
    return path == WEB_PREFIX or path.startswith(WEB_PREFIX + "/")


def _content_security_policy(path: str) -> str:
    if is_web_path(path):
        return _WEB_CONTENT_SECURITY_POLICY
    return _PAGE_CONTENT_SECURITY_POLICIES.get(path, _API_CONTENT_SECURITY_POLICY)


def security_headers(path: str, authenticated: bool) -> dict[str, str]:
    """nosniff, no referrer, no framing, no sources for data; and `Cache-Control: no-store` on answers to
    authenticated requests, which may hold private data."""
    headers = dict(_BASE_HEADERS)
    headers["Content-Security-Policy"] = _content_security_policy(path)
    if authenticated:
        headers["Cache-Control"] = "no-store"
    return headers


RawHeaders = list[tuple[bytes, bytes]]


def _raw(headers: dict[str, str]) -> RawHeaders:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


# The sets the middleware adds, encoded once: (docs page, the web app or None, authenticated?) -> headers.
_RAW_SECURITY_HEADERS = {
    (page, authenticated): _raw(security_headers(page or "/", authenticated))
    for page in (None, WEB_PREFIX, *_PAGE_CONTENT_SECURITY_POLICIES)
    for authenticated in (False, True)
}


def raw_security_headers(path: str, authenticated: bool) -> RawHeaders:
    """`security_headers` as ASGI header pairs (lower-case names), without encoding them per answer."""
    page = WEB_PREFIX if is_web_path(path) else path if path in _PAGE_CONTENT_SECURITY_POLICIES else None
    return _RAW_SECURITY_HEADERS[(page, authenticated)]
