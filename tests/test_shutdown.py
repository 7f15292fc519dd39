"""SIGTERM under load: a real `postboard serve`, with one worker and with two (the signal sent to the
parent, as a supervisor does), under a steady client load and with slow uploads in flight.

What must hold: the requests already accepted complete (the slow uploads, finished after the signal, are
answered 201; no request made before the signal loses its connection); new connections are refused once
the signal is taken; the process exits within GRACEFUL_SHUTDOWN_SECONDS, even with a request that would
never finish.
"""

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import TEST_SECRET_KEY, fresh_email
from tests.live_server import register_and_log_in, serve_process
from tests.outage_load import Load
from tests.services import new_postgres_database

GRACEFUL_SHUTDOWN_SECONDS = 5
# The deadline is the behaviour under test; this margin is for what follows it (the app's lifespan
# shutdown, the interpreter's exit, the parent noticing its workers' exit) on a busy 2-core machine.
EXIT_MARGIN_SECONDS = 5
CLIENT_THREADS = 4
STEADY_SECONDS = 2
IN_FLIGHT = 8  # slow uploads under way when the signal comes
FINISH_AFTER_SECONDS = 1  # they finish this long after it, well within the grace period
# How long the signal may take to be taken: the parent looks at its signals every half second.
SIGNAL_TAKEN_SECONDS = 1


class SlowUpload:
    """A POST /posts/ whose head and first half of the body are sent now, and the rest when told."""

    def __init__(self, port: int, token: str) -> None:
        body = json.dumps({"title": "Sent slowly", "content": "x" * 4000}).encode()
        head = (
            f"POST /posts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._connection = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._connection.sendall(head + body[: len(body) // 2])
        self._rest = body[len(body) // 2 :]

    def finish(self) -> bytes:
        """Sends the rest, and returns the status line of the answer (empty if the connection was lost)."""
        try:
            self._connection.sendall(self._rest)
            answer = b""
            while b"\r\n" not in answer and (chunk := self._connection.recv(4096)):
                answer += chunk
        except ConnectionError:
            return b""
        finally:
            self._connection.close()
        return answer.partition(b"\r\n")[0]

    def abandon(self) -> None:
        self._connection.close()


def _a_new_connection_is_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker", "2-workers"])
def test_sigterm_under_load_completes_what_was_accepted_and_exits_in_time(
    tmp_path: Path, workers: int
) -> None:
    settings = {
        "SECRET_KEY": TEST_SECRET_KEY,
        "RATE_LIMITS": "off",
        "GRACEFUL_SHUTDOWN_SECONDS": str(GRACEFUL_SHUTDOWN_SECONDS),
    }
    with (
        new_postgres_database() as url,
        serve_process(tmp_path, "--workers", str(workers), DATABASE_URL=url, **settings) as server,
    ):
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            token = register_and_log_in(client, fresh_email())
        load = Load(server.base_url, CLIENT_THREADS)
        with load.running():
            time.sleep(STEADY_SECONDS)
            uploads = [SlowUpload(server.port, token) for _ in range(IN_FLIGHT)]
            never_finished = SlowUpload(server.port, token)  # the grace period ends it
            time.sleep(0.5)  # every upload's head is read: its request is accepted, waiting for the body
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(SIGNAL_TAKEN_SECONDS)
            refused = _a_new_connection_is_refused(server.port)
            time.sleep(max(0.0, signalled + FINISH_AFTER_SECONDS + SIGNAL_TAKEN_SECONDS - time.monotonic()))
            answers = [upload.finish() for upload in uploads]
        exit_code = server.process.wait(timeout=GRACEFUL_SHUTDOWN_SECONDS + EXIT_MARGIN_SECONDS + 30)
        exited_after = time.monotonic() - signalled
        never_finished.abandon()
        log = server.log_path.read_text()

    before_signal = [answer for answer in load.answers if answer.started < signalled]
    lost = [answer for answer in before_signal if not answer.succeeded]
    after_signal = [answer for answer in load.answers if answer.started >= signalled]
    print(
        f"\nSIGTERM test, {workers} worker(s): {len(before_signal)} requests before the signal, "
        f"{len(lost)} of them failed; {answers.count(b'HTTP/1.1 201 Created')} of {IN_FLIGHT} slow uploads "
        f"answered 201 after it; {len(after_signal)} requests after it; new connection refused: {refused}; "
        f"exited {exit_code} after {exited_after:.2f} s"
    )
    assert before_signal, "no request before the signal: the test proves nothing"
    assert not lost, f"requests made before SIGTERM failed: {lost[:10]}"
    assert answers == [b"HTTP/1.1 201 Created"] * IN_FLIGHT, f"{answers}\n{log}"
    assert refused, f"a new connection was accepted after SIGTERM\n{log}"
    assert all(answer.succeeded or answer.status is None for answer in after_signal), after_signal
    # uvicorn ends a single process by the signal it was stopped with, once it has shut down, as a
    # supervisor expects; the parent of several workers returns.
    assert exit_code in (0, -signal.SIGTERM), log
    assert exited_after <= SIGNAL_TAKEN_SECONDS + GRACEFUL_SHUTDOWN_SECONDS + EXIT_MARGIN_SECONDS, log
