"""bench/open_loop.py: a stall counts against every request due during it; other load can run beside it."""

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from open_loop import HttpClient, Target, run_open_loop

RATE = 200  # requests/s
DURATION = 1.5  # seconds
STALL_SECONDS = 0.3
STALLED_REQUEST = 100  # due half a second in
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _StallingServer(asyncio.Protocol):
    """Answers each GET at once, except that the STALLED_REQUEST-th blocks the whole server first."""

    received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            _StallingServer.received += 1
            if _StallingServer.received == STALLED_REQUEST:
                time.sleep(STALL_SECONDS)  # a blocked event loop: a GC pause, a slow synchronous call
            self.transport.write(RESPONSE)


@pytest.fixture
def stalling_server() -> Iterator[int]:
    """The port of a stalling server, in a thread of its own so that its stall does not stop the client."""
    _StallingServer.received = 0
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_StallingServer, "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(server.wait_closed())
        loop.close()


async def test_a_stall_is_latency_of_every_request_due_during_it(stalling_server: int) -> None:
    target = Target.from_url(f"http://127.0.0.1:{stalling_server}/")

    report = await run_open_loop(target, RATE, DURATION)

    assert report.scheduled == len(report.latencies) == RATE * DURATION
    assert report.errors == 0
    assert report.latencies[-1] >= STALL_SECONDS
    assert report.percentile(99) >= 0.2
    assert report.percentile(50) < 0.1
    # The ~60 requests due during the stall waited from their intended times: the first ones most. A
    # closed-loop client would have sent them after the stall and timed one slow request only.
    waited = [latency for latency in report.latencies if latency >= 0.1]
    assert len(waited) >= 0.5 * (STALL_SECONDS - 0.1) * RATE


async def test_a_closed_loop_runs_beside_the_open_loop(stalling_server: int) -> None:
    target = Target.from_url(f"http://127.0.0.1:{stalling_server}/")
    client = HttpClient(target.host, target.port, max_connections=1)
    statuses = []

    async def closed_loop(requests: int) -> None:
        for _ in range(requests):
            statuses.append(await client.request(target.request))

    try:
        report, _ = await asyncio.gather(run_open_loop(target, RATE, 0.5), closed_loop(50))
    finally:
        await client.close()

    assert len(report.latencies) == report.scheduled
    assert statuses == [200] * 50
