"""bench/closed_loop.py: each client waits for its answer before sending again; answers carry their body."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from closed_loop import run_closed_loop
from open_loop import HttpClient, Target

ANSWER_SECONDS = 0.01
CLIENTS = 4
DURATION = 0.3


class _SlowServer:
    """Answers each request after ANSWER_SECONDS, with its path as the body; counts those in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                await asyncio.sleep(ANSWER_SECONDS)
                self.in_flight -= 1
                body = head.split(b" ")[1]  # the path
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def slow_server() -> AsyncIterator[tuple[_SlowServer, int]]:
    server = _SlowServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    async with listening:
        yield server, listening.sockets[0].getsockname()[1]


async def test_each_client_sends_again_only_once_answered(slow_server: tuple[_SlowServer, int]) -> None:
    server, port = slow_server
    requests = [Target.from_url(f"http://127.0.0.1:{port}/{client}").request for client in range(CLIENTS)]

    report = await run_closed_loop("127.0.0.1", port, requests.__getitem__, CLIENTS, DURATION)

    assert server.most_in_flight == CLIENTS
    assert report.refused(200) == 0
    answered = report.statuses[200]
    assert len(report.latencies) == answered
    assert report.latencies[0] >= ANSWER_SECONDS
    # At most one answer per client per ANSWER_SECONDS; a loaded test machine may give fewer.
    assert CLIENTS <= answered <= CLIENTS * (DURATION / ANSWER_SECONDS + 1)
    assert report.rate(200) == pytest.approx(answered / report.elapsed)


async def test_an_exchange_gives_the_answers_body(slow_server: tuple[_SlowServer, int]) -> None:
    _, port = slow_server
    client = HttpClient("127.0.0.1", port)
    try:
        answers = await asyncio.gather(
            *(client.exchange(Target.from_url(f"http://127.0.0.1:{port}/{n}").request) for n in range(3))
        )
    finally:
        await client.close()

    assert answers == [(200, b"/0"), (200, b"/1"), (200, b"/2")]
