"""A closed-loop HTTP load: a fixed number of clients, each sending a request once its last is answered.

Where open_loop.py asks "how long does a request wait at this rate?", a closed loop asks "how much does the
server get through with this many callers?": it keeps the server saturated, as a crowd of users or a login
storm does. Each client's requests are timed from send to answer; every request sent before the end of the
run is awaited (up to DRAIN_SECONDS) and counted, and the rate is taken over the time until the last answer.

    report = await run_closed_loop("127.0.0.1", 8000, lambda client: request_bytes, clients=16, seconds=10)
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from open_loop import DRAIN_SECONDS, HttpClient, percentile

# The request a client sends next, given the client's number (0 .. clients - 1).
NextRequest = Callable[[int], bytes]


@dataclass
class ClosedLoopReport:
    latencies: list[float] = field(default_factory=list)  # seconds from send to answer, sorted
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)  # requests lost, by error
    elapsed: float = 0.0  # from the start to the last answer

    def rate(self, status: int) -> float:
        """Answers with STATUS per second."""
        return self.statuses[status] / self.elapsed if self.elapsed else 0.0

    def refused(self, expected_status: int) -> int:
        """Requests not answered with EXPECTED_STATUS: other statuses, and requests lost."""
        others = sum(count for status, count in self.statuses.items() if status != expected_status)
        return others + sum(self.transport_errors.values())

    def percentile(self, percent: float) -> float:
        return percentile(self.latencies, percent)

    def outcomes(self) -> str:
        """Every status and error with its count, e.g. `200: 512, ConnectionResetError: 1`."""
        counts = [*sorted(self.statuses.items()), *self.transport_errors.most_common()]
        return ", ".join(f"{outcome}: {count}" for outcome, count in counts) or "none"


async def run_closed_loop(
    host: str, port: int, next_request: NextRequest, clients: int, seconds: float
) -> ClosedLoopReport:
    """CLIENTS clients, one connection each, send NEXT_REQUEST(client) back to back for SECONDS."""
    report = ClosedLoopReport()
    connections = HttpClient(host, port, max_connections=clients)
    started = time.perf_counter()
    deadline = started + seconds
    in_flight = 0

    async def client_loop(client: int) -> None:
        nonlocal in_flight
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            in_flight += 1
            outcome = await connections.request(next_request(client))
            in_flight -= 1
            answered = time.perf_counter()
            if isinstance(outcome, str):
                report.transport_errors[outcome] += 1
                continue
            report.latencies.append(answered - sent)
            report.statuses[outcome] += 1
            report.elapsed = answered - started

    tasks = [asyncio.create_task(client_loop(client)) for client in range(clients)]
    try:
        await asyncio.wait(tasks, timeout=seconds + DRAIN_SECONDS)
    finally:
        await connections.close()  # first, so that no answer reaches a cancelled client
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled():
            task.result()  # a client's own failure, e.g. in NEXT_REQUEST, ends the run
    if in_flight:
        report.transport_errors[f"no answer within {DRAIN_SECONDS:g} s of the end"] += in_flight
    report.latencies.sort()
    return report
