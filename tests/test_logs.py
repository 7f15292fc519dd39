"""Log lines: access lines (method, path without its query, status, duration, user, client, request id),
auth events and errors carrying the request id, as JSON (LOG_FORMAT=json) or as readable text."""

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from postboard.access_log import ACCESS_LOGGER_NAME
from postboard.logs import TEXT_FORMAT, JsonFormatter, TextFormatter
from tests.helpers import Account, make_settings
from tests.live_server import register_and_log_in, serving


class Lines(logging.Handler):
    """The records of Postboard's loggers, formatted as `postboard serve` writes them."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def json(self, logger: str) -> list[dict[str, object]]:
        entries = [json.loads(line) for line in self.lines]
        return [entry for entry in entries if entry["logger"] == logger]


@pytest.fixture(params=["json", "text"])
def lines(request: pytest.FixtureRequest) -> Iterator[Lines]:
    formatter = (
        JsonFormatter() if request.param == "json" else TextFormatter(fmt=TEXT_FORMAT, use_colors=False)
    )
    yield from _collected(Lines(formatter))


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    yield from _collected(Lines(JsonFormatter()))


def _collected(handler: Lines) -> Iterator[Lines]:
    """`handler` on Postboard's loggers for the test's length."""
    logger = logging.getLogger("postboard")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_an_access_line_as_json(client: httpx.AsyncClient, alice: Account, json_lines: Lines) -> None:
    response = await client.get(
        "/posts/",
        params={"limit": "5", "token": "hide-me"},
        headers={**alice.headers, "X-Request-ID": "acc-1"},
    )

    assert response.status_code == 200
    [entry] = json_lines.json(ACCESS_LOGGER_NAME)
    duration = entry.pop("duration_ms")
    assert isinstance(duration, float)
    assert duration >= 0
    assert isinstance(entry.pop("time"), str)
    assert entry == {
        "level": "INFO",
        "logger": ACCESS_LOGGER_NAME,
        "message": "GET /posts/ 200",
        "request_id": "acc-1",
        "method": "GET",
        "path": "/posts/",
        "status": 200,
        "user_id": alice.id,
        "client": "127.0.0.1:123",
    }


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 200), ({"Authorization": "Bearer not-a-token"}, 401)],
    ids=["anonymous", "refused-token"],
)
async def test_an_access_line_names_no_user_unless_authenticated(
    client: httpx.AsyncClient, json_lines: Lines, headers: dict[str, str], status: int
) -> None:
    response = await client.get("/users/me" if headers else "/", headers=headers)

    assert response.status_code == status
    [entry] = json_lines.json(ACCESS_LOGGER_NAME)
    assert "user_id" not in entry
    assert entry["status"] == status


async def test_a_revoked_token_is_logged_without_its_user(
    client: httpx.AsyncClient, alice: Account, json_lines: Lines
) -> None:
    await client.post("/logout", headers=alice.headers)
    json_lines.lines.clear()

    response = await client.get("/users/me", headers=alice.headers)

    assert response.status_code == 401
    [entry] = json_lines.json(ACCESS_LOGGER_NAME)
    assert "user_id" not in entry


async def test_a_text_access_line_shows_the_request_id_and_hides_secret_parameters(
    client: httpx.AsyncClient, alice: Account
) -> None:
    handler = Lines(TextFormatter(fmt=TEXT_FORMAT, use_colors=False))
    logging.getLogger(ACCESS_LOGGER_NAME).addHandler(handler)
    try:
        await client.get("/posts/?limit=2&access_token=x", headers={**alice.headers, "X-Request-ID": "txt-1"})
    finally:
        logging.getLogger(ACCESS_LOGGER_NAME).removeHandler(handler)

    [line] = handler.lines
    assert line.startswith('INFO:     [txt-1] 127.0.0.1:123 - "GET /posts/?limit=2&[redacted] HTTP/1.1" 200 ')
    assert line.endswith(f"ms user={alice.id}")


async def test_auth_events_carry_the_request_id(
    client: httpx.AsyncClient, alice: Account, lines: Lines
) -> None:
    response = await client.post(
        "/login",
        data={"username": alice.email, "password": "wrong password"},
        headers={"X-Request-ID": "auth-1"},
    )

    assert response.status_code == 403
    [event] = [line for line in lines.lines if "login_failed" in line]
    assert "auth-1" in event
    if event.startswith("{"):
        assert json.loads(event)["request_id"] == "auth-1"
        assert json.loads(event)["event"] == "login_failed"
    else:
        assert event.startswith("WARNING:  [auth-1] auth event=login_failed")


def test_a_record_outside_a_request_has_no_request_id() -> None:
    record = logging.LogRecord("postboard", logging.INFO, __file__, 1, "started", None, None)

    assert json.loads(JsonFormatter().format(record))["request_id"] is None
    assert TextFormatter(fmt=TEXT_FORMAT, use_colors=False).format(record) == "INFO:     started"


def test_log_format_is_text_or_json() -> None:
    assert make_settings("sqlite+aiosqlite://").log_format == "text"
    assert make_settings("sqlite+aiosqlite://", log_format="json").log_format == "json"
    with pytest.raises(ValidationError, match="log_format"):
        make_settings("sqlite+aiosqlite://", log_format="xml")


def test_serve_writes_json_lines_with_log_format_json(tmp_path: Path) -> None:
    with serving(tmp_path, LOG_FORMAT="json") as (client, log_path):
        token = register_and_log_in(client, "json@example.com")
        listed = client.get(
            "/posts/?search=x&access_token=leak", headers={"Authorization": f"Bearer {token}"}
        )
        traced = client.get("/health", headers={"X-Request-ID": "live-json-1"})
    # `postboard serve` prints its migration report before logging starts; every other line is JSON.
    entries = [
        json.loads(line) for line in log_path.read_text().splitlines() if not line.startswith("postboard:")
    ]

    assert listed.status_code == 200
    assert {entry["logger"] for entry in entries} >= {
        "uvicorn.error",
        "postboard",
        "postboard.auth",
        ACCESS_LOGGER_NAME,
    }
    [listing] = [entry for entry in entries if entry.get("path") == "/posts/"]
    assert listing["message"] == "GET /posts/ 200"
    assert listing["status"] == 200
    assert isinstance(listing["user_id"], int)
    [health] = [entry for entry in entries if entry.get("path") == "/health"]
    assert health["request_id"] == traced.headers["x-request-id"] == "live-json-1"
    assert "leak" not in log_path.read_text()


def test_serve_writes_readable_text_with_the_request_id_by_default(tmp_path: Path) -> None:
    with serving(tmp_path) as (client, log_path):
        client.get("/health", headers={"X-Request-ID": "live-text-1"})
    log = log_path.read_text()

    assert "INFO:     [live-text-1] 127.0.0.1:" in log
    assert '"GET /health HTTP/1.1" 200 ' in log
    assert "INFO:     Application startup complete." in log
