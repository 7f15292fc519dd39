"""An open-loop HTTP load generator: requests leave at a fixed rate whatever the server does.

Request i is due at t0 + i/rate, and its latency is counted from that intended time, not from when it was
actually sent: when the server stalls, the requests due during the stall show the wait as latency instead of
being quietly sent later (no coordinated omission, unlike wrk's closed loop). Connections are kept alive and
reused; when every one is busy a new one is opened, up to --connections-max, and beyond that requests wait
in line, still timed from their intended time.

    .venv/bin/python bench/open_loop.py http://127.0.0.1:8000/ --rate 500 --duration 30 --cpu 1
    .venv/bin/python bench/open_loop.py http://127.0.0.1:8000/posts/ --rate 200 --duration 10 \\
        --method POST --header 'Content-Type: application/json' --header "Authorization: Bearer $TOKEN" \\
        --body '{"title": "t", "content": "c"}'

As a library, `run_open_loop(target, rate, duration)` is a coroutine, so a scenario script can run other
load beside it in the same event loop, e.g. a closed loop of logins through its own `HttpClient`:

    reads, _ = await asyncio.gather(run_open_loop(read, 500, 30), login_storm(HttpClient(...)))
"""

import argparse
import asyncio
import math
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop

# What a request ends with: the response's status, or the name of the error that lost it.
Outcome = int | str
# Called with the outcome and the response's body (empty when the request was lost).
OnDone = Callable[[Outcome, bytes], None]
DRAIN_SECONDS = 10.0  # how long answers are awaited once every request is sent


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    request: bytes  # a whole HTTP/1.1 request, sent as is

    @classmethod
    def from_url(
        cls, url: str, method: str = "GET", headers: Sequence[str] = (), body: bytes = b""
    ) -> "Target":
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"an http:// URL is needed, not {url!r}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return cls(parts.hostname, parts.port or 80, request)


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time, the first one as soon as it is made."""

    def __init__(self, client: "HttpClient", first_request: bytes, on_done: OnDone) -> None:
        self._client = client
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._first_request = first_request
        self._on_done: OnDone | None = on_done
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same methods.
        self._transport = cast(asyncio.Transport, transport)
        self._client._made(self)
        self._transport.write(self._first_request)

    def send(self, request: bytes, on_done: OnDone) -> None:
        assert self._transport is not None
        assert self._on_done is None
        self._on_done = on_done
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._finish(type(error).__name__)
            self.close()

    def on_body(self, body: bytes) -> None:  # called by the parser
        self._body.append(body)

    def on_message_complete(self) -> None:  # called by the parser
        self._finish(self._parser.get_status_code(), b"".join(self._body))
        self._body.clear()
        if self._parser.should_keep_alive():
            self._client._reuse(self)
        else:
            self.close()

    def connection_lost(self, error: Exception | None) -> None:
        self._finish(type(error).__name__ if error else "connection closed")
        self._client._lost(self)

    def _finish(self, outcome: Outcome, body: bytes = b"") -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done(outcome, body)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abandon(self) -> None:
        """Closes without reporting the request in flight, whose outcome was already given up on."""
        self._on_done = None
        self.close()


class HttpClient:
    """Keep-alive connections to one server, opened when all are busy, up to a maximum; then requests wait."""

    def __init__(self, host: str, port: int, max_connections: int = 256) -> None:
        self._host, self._port, self._max_connections = host, port, max_connections
        self._idle: list[_Connection] = []
        self._connections: set[_Connection] = set()
        self._opening = 0
        self._waiting: deque[tuple[bytes, OnDone]] = deque()
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, request: bytes, on_done: OnDone) -> None:
        """Sends REQUEST once a connection is free; ON_DONE gets its status or the error that lost it."""
        if self._idle:
            self._idle.pop().send(request, on_done)
        elif len(self._connections) + self._opening < self._max_connections:
            self._open(request, on_done)
        else:
            self._waiting.append((request, on_done))

    async def request(self, request: bytes) -> Outcome:
        """One request, awaited: for closed loops."""
        outcome, _ = await self.exchange(request)
        return outcome

    async def exchange(self, request: bytes) -> tuple[Outcome, bytes]:
        """One request, awaited: its outcome and the response's body."""
        answered: asyncio.Future[tuple[Outcome, bytes]] = asyncio.get_running_loop().create_future()

        def on_done(outcome: Outcome, body: bytes) -> None:
            if not answered.done():  # an awaiting task that was cancelled no longer wants it
                answered.set_result((outcome, body))

        self.send(request, on_done)
        return await answered

    def _open(self, request: bytes, on_done: OnDone) -> None:
        self._opening += 1
        task = asyncio.get_running_loop().create_task(self._connect(request, on_done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, request: bytes, on_done: OnDone) -> None:
        loop = asyncio.get_running_loop()
        try:
            # The connection counts as open from its connection_made, which uvloop may call after this.
            await loop.create_connection(lambda: _Connection(self, request, on_done), self._host, self._port)
        except OSError as error:
            self._opening -= 1
            on_done(type(error).__name__, b"")
            self._next_waiting()

    def _made(self, connection: _Connection) -> None:
        self._opening -= 1
        self._connections.add(connection)

    def _reuse(self, connection: _Connection) -> None:
        if self._waiting:
            connection.send(*self._waiting.popleft())
        else:
            self._idle.append(connection)

    def _lost(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if connection in self._idle:
            self._idle.remove(connection)
        self._next_waiting()

    def _next_waiting(self) -> None:
        """A connection's place came free: the next waiting request gets a new one."""
        if self._waiting:
            self._open(*self._waiting.popleft())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._waiting.clear()
        for connection in list(self._connections):
            connection.abandon()
        await asyncio.sleep(0)  # lets the transports finish closing


def percentile(ordered: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of the sorted ORDERED (NaN when there are none)."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


@dataclass
class LatencyReport:
    rate: float  # asked for, requests/s
    scheduled: int
    latencies: list[float] = field(default_factory=list)  # seconds from intended send to answer, sorted
    send_lags: list[float] = field(default_factory=list)  # seconds from intended to actual send, sorted
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)  # requests lost, by error
    elapsed: float = 0.0  # from the first intended send to the last answer

    @property
    def errors(self) -> int:
        non_2xx = sum(count for status, count in self.statuses.items() if not 200 <= status < 300)
        return non_2xx + sum(self.transport_errors.values())

    @property
    def achieved_rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, percent: float, values: Sequence[float] | None = None) -> float:
        """The nearest-rank percentile of the latencies (or of VALUES), in seconds."""
        return percentile(self.latencies if values is None else values, percent)

    def summary(self) -> str:
        milliseconds = {
            name: self.percentile(percent) * 1000
            for name, percent in (("p50", 50), ("p90", 90), ("p99", 99), ("p99.9", 99.9), ("max", 100))
        }
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        lost = ", ".join(f"{error}: {count}" for error, count in self.transport_errors.most_common())
        lag = self.percentile(99, self.send_lags) * 1000
        return "\n".join(
            [
                f"requests: {self.scheduled} scheduled at {self.rate:g}/s, {len(self.latencies)} answered "
                f"({self.achieved_rate:,.1f}/s achieved), {self.errors} errors",
                f"statuses: {statuses or 'none'}" + (f"; lost: {lost}" if lost else ""),
                "latency ms from the intended send: "
                + ", ".join(f"{k} {v:.2f}" for k, v in milliseconds.items()),
                f"send lag p99 {lag:.2f} ms (the generator's own lateness: large means it is the bottleneck)",
            ]
        )


class _Recorder:
    """Collects each request's outcome; `finished` is set once every scheduled request has one."""

    def __init__(self, report: LatencyReport, started: float) -> None:
        self.report, self._started = report, started
        self._outstanding = report.scheduled
        self.finished = asyncio.Event()

    def done(self, intended: float, outcome: Outcome, _body: bytes) -> None:
        now = time.perf_counter()  # not loop.time(): uvloop's counts whole milliseconds
        if isinstance(outcome, int):
            self.report.latencies.append(now - intended)
            self.report.statuses[outcome] += 1
            self.report.elapsed = now - self._started
        else:
            self.report.transport_errors[outcome] += 1
        self._outstanding -= 1
        if self._outstanding == 0:
            self.finished.set()

    def unanswered(self) -> None:
        if self._outstanding:
            self.report.transport_errors[f"no answer within {DRAIN_SECONDS:g} s of the last send"] += (
                self._outstanding
            )


async def run_open_loop(
    target: Target, rate: float, duration: float, connections_max: int = 256
) -> LatencyReport:
    """Sends round(rate * duration) requests, request i at t0 + i/rate, and times each from that moment."""
    report = LatencyReport(rate=rate, scheduled=round(rate * duration))
    client = HttpClient(target.host, target.port, connections_max)
    started = time.perf_counter()
    recorder = _Recorder(report, started)
    try:
        await _send_on_schedule(client, target.request, recorder, started)
        try:
            await asyncio.wait_for(recorder.finished.wait(), DRAIN_SECONDS)
        except TimeoutError:
            recorder.unanswered()
    finally:
        await client.close()
    report.latencies.sort()
    report.send_lags.sort()
    return report


async def _send_on_schedule(client: HttpClient, request: bytes, recorder: _Recorder, started: float) -> None:
    report = recorder.report
    sent = 0
    while sent < report.scheduled:
        now = time.perf_counter()
        # Every request whose time has come, in one go: a late wake-up never lowers the rate sent.
        due = min(report.scheduled, math.floor((now - started) * report.rate) + 1)
        while sent < due:
            intended = started + sent / report.rate
            report.send_lags.append(now - intended)
            client.send(request, partial(recorder.done, intended))
            sent += 1
        if sent < report.scheduled:
            await asyncio.sleep(started + sent / report.rate - time.perf_counter())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="http://host:port/path?query")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds of sending (default 10)")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'; repeatable")
    parser.add_argument("--body", default="", help="the request body, sent as is")
    parser.add_argument("--connections-max", type=int, default=256, help="open connections at most (256)")
    parser.add_argument("--cpu", type=int, help="run pinned to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    target = Target.from_url(args.url, args.method, args.header, args.body.encode())
    print(uvloop.run(run_open_loop(target, args.rate, args.duration, args.connections_max)).summary())


if __name__ == "__main__":
    main()
