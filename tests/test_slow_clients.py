"""`postboard serve` closes a connection whose request head or body arrives too slowly ("slowloris"), and
only that: a request sent slowly but within the deadline is answered."""

import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import DEFAULT_PASSWORD
from tests.live_server import serving

HEAD_TIMEOUT_SECONDS = 3
BODY_TIMEOUT_SECONDS = 3
# A busy machine may run the server's timer, or notice the close, a little late.
MARGIN_SECONDS = 3
HELLO = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-client-test\r\n\r\n"
EMAIL = "slow@example.com"


@dataclass(frozen=True)
class Server:
    client: httpx.Client
    log_path: Path

    def connect(self) -> socket.socket:
        port = self.client.base_url.port
        assert port is not None
        return socket.create_connection(("127.0.0.1", port), timeout=10)


@dataclass(frozen=True)
class Trickled:
    closed_after: float | None  # seconds, or None when the connection was still open at the end
    answer: bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = {
        "REQUEST_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_SECONDS),
        "REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
    }
    with serving(tmp_path_factory.mktemp("slow"), **settings) as (client, log_path):
        yield Server(client, log_path)


def trickle(connection: socket.socket, data: bytes, watch_seconds: float) -> Trickled:
    """Sends `data` one byte a second, then waits, watching for `watch_seconds` in all for the server to
    close the connection."""
    started = time.monotonic()
    answer = b""
    unsent = iter(data)
    while (elapsed := time.monotonic() - started) < watch_seconds:
        byte = next(unsent, None)
        try:
            if byte is not None:
                connection.sendall(bytes([byte]))
            readable, _, _ = select.select([connection], [], [], 1.0)
            chunk = connection.recv(4096) if readable else None
        except ConnectionError:
            return Trickled(elapsed, answer)
        if chunk == b"":
            return Trickled(time.monotonic() - started, answer)
        answer += chunk or b""
    return Trickled(None, answer)


def receive(connection: socket.socket) -> bytes:
    chunk = connection.recv(4096)
    if not chunk:
        pytest.fail("the server closed the connection before answering")
    return chunk


def read_answer(connection: socket.socket) -> bytes:
    """One whole answer with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(connection)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += receive(connection)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("sent", [HELLO, b""], ids=["one byte a second", "nothing"])
def test_a_request_head_that_does_not_arrive_in_time_is_cut_off(server: Server, sent: bytes) -> None:
    with server.connect() as connection:
        trickled = trickle(connection, sent, watch_seconds=HEAD_TIMEOUT_SECONDS + MARGIN_SECONDS)

    assert trickled.closed_after is not None, "the connection was still open"
    assert trickled.answer == b""
    assert server.client.get("/").status_code == 200  # the server serves others meanwhile


def test_a_body_sent_one_byte_a_second_is_cut_off_before_it_is_used(server: Server) -> None:
    body = json.dumps({"email": EMAIL, "password": DEFAULT_PASSWORD}).encode()
    head = (
        b"POST /users/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )

    with server.connect() as connection:
        connection.sendall(head)
        trickled = trickle(connection, body, watch_seconds=BODY_TIMEOUT_SECONDS + MARGIN_SECONDS)

    assert trickled.closed_after is not None, "the connection was still open"
    assert trickled.answer == b""
    login = server.client.post("/login", data={"username": EMAIL, "password": DEFAULT_PASSWORD})
    assert login.status_code == 403, "the registration must not have been made"
    assert "Traceback" not in server.log_path.read_text()


def test_a_slow_head_within_the_deadline_is_answered_each_time_on_a_kept_alive_connection(
    server: Server,
) -> None:
    pieces = [HELLO[:10], HELLO[10:20], HELLO[20:40], HELLO[40:]]
    pause_seconds = HEAD_TIMEOUT_SECONDS / 2 / (len(pieces) - 1)

    with server.connect() as connection:
        connection.sendall(HELLO)
        first = read_answer(connection)
        # Idle for less than the keep-alive timeout, then a head over half the deadline: the connection
        # is older than the deadline by then, which is counted per request.
        time.sleep(HEAD_TIMEOUT_SECONDS / 2 + 0.5)
        for piece in pieces:
            connection.sendall(piece)
            time.sleep(pause_seconds)
        second = read_answer(connection)

    for answer in (first, second):
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert answer.endswith(b'{"message":"Hello World"}')
