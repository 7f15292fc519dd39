"""The security headers every answer carries, in one place for the middleware and the 500 handler."""

# Pages that load Swagger UI or ReDoc from a CDN; every other answer is data, which needs no sources.
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
_BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


def security_headers(path: str, authenticated: bool) -> dict[str, str]:
    """nosniff, no referrer, no framing, no sources for data; and `Cache-Control: no-store` on answers to
    authenticated requests, which may hold private data."""
    headers = dict(_BASE_HEADERS)
    if path not in _DOCS_PATHS:
        headers["Content-Security-Policy"] = _API_CONTENT_SECURITY_POLICY
    if authenticated:
        headers["Cache-Control"] = "no-store"
    return headers


RawHeaders = list[tuple[bytes, bytes]]


def _raw(headers: dict[str, str]) -> RawHeaders:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


# The four sets the middleware adds, encoded once: (docs page?, authenticated?) -> headers.
_RAW_SECURITY_HEADERS = {
    (docs, authenticated): _raw(security_headers("/docs" if docs else "/", authenticated))
    for docs in (False, True)
    for authenticated in (False, True)
}


def raw_security_headers(path: str, authenticated: bool) -> RawHeaders:
    """`security_headers` as ASGI header pairs (lower-case names), without encoding them per answer."""
    return _RAW_SECURITY_HEADERS[(path in _DOCS_PATHS, authenticated)]
