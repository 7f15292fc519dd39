"""ASGI middleware for every response: security headers, and the request body size cap."""

import json
from collections.abc import Collection, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from postboard.errors import body_too_large
from postboard.headers import raw_security_headers

# Every request passes through both middlewares: they read the raw ASGI headers (lower-case byte names)
# instead of building Starlette's header objects.


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class SecurityHeaders:
    """Adds the security headers to every answer, leaving any a route set itself (its own caching)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authenticated = _header(scope, b"authorization") is not None
        await self.app(
            scope, receive, adding_headers(send, raw_security_headers(scope["path"], authenticated))
        )


def adding_headers(send: Send, extra_headers: Sequence[tuple[bytes, bytes]]) -> Send:
    """`send`, adding `extra_headers` (lower-case names) to the answer, save those it has already."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            headers.extend(header for header in extra_headers if header[0] not in present)
            message["headers"] = headers
        await send(message)

    return send_with_headers


class BodySizeLimit:
    """Answers 413 to a body over `max_bytes` (or over `small_max_bytes` at one of `small_body_paths`)
    before anything parses it: at once when Content-Length says so, else as soon as the bytes read pass
    the cap. The body is read here and handed on to the app.

    FastAPI 0.165 offers Starlette's RequestBodyLimitMiddleware (`max_body_size=` on the app or a route),
    but its 413 is the plain text "Content Too Large", not the contract's JSON detail; a route that answers
    without reading its body (a refused token) has that answer replaced by the plain 413 when the declared
    length is over; and a chunked body over the limit is only noticed once the route reads it. So this one
    stays.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        small_body_paths: Collection[str] = (),
        small_max_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.small_body_paths = frozenset(small_body_paths)
        self.small_max_bytes = min(max_bytes, small_max_bytes or max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is None and _header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # HTTP/1.1: a request with neither has no body
            return
        max_bytes = self.small_max_bytes if scope["path"] in self.small_body_paths else self.max_bytes
        # bytes.isdigit() knows ASCII digits only; a length that is not a number is the server's to refuse.
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _refuse(send, max_bytes)
            return
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app will see it
            received += len(message.get("body", b""))
            if received > max_bytes:
                await _refuse(send, max_bytes)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, max_bytes: int) -> None:
    body = json.dumps({"detail": body_too_large(max_bytes)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
