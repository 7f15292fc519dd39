"""Whether a failed login takes as long for an unknown email as for a known one, through `postboard serve`.

An attacker who can tell the two apart learns which emails have accounts. Postboard verifies a dummy
Argon2id hash for unknown emails, so both do the same work; this measures the median latency of each kind
of failed login, interleaved in one run so that machine noise hits both alike, and reports their ratio.
The target is within 15% (a ratio between 0.87 and 1.15). A successful login is timed too, for scale.

    .venv/bin/python bench/login_timing.py                          # SQLite, 500 attempts each way
    .venv/bin/python bench/login_timing.py --database postgresql --attempts 1000 --workers 2
"""

import argparse
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import harness
import httpx

TARGET_RATIO = 1.15
PASSWORD = "the right password"


@contextmanager
def _server(database_url: str, workers: int, folder: Path) -> Iterator[httpx.Client]:
    environment = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "RATE_LIMITS": "off",  # every attempt must reach the password check
    }
    command = (*harness.POSTBOARD, "serve", "--workers", str(workers))
    with (
        harness.serving(command, environment, folder / "serve.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def _timed_login(client: httpx.Client, email: str, password: str, expected_status: int) -> float:
    started = time.perf_counter()
    response = client.post("/login", data={"username": email, "password": password})
    elapsed = time.perf_counter() - started
    if response.status_code != expected_status:
        raise SystemExit(f"login as {email} answered {response.status_code}: {response.text}")
    return elapsed


def measure(client: httpx.Client, attempts: int) -> dict[str, list[float]]:
    email = f"known-{uuid.uuid4().hex[:8]}@example.com"
    registered = client.post("/users/", json={"email": email, "password": PASSWORD})
    if registered.status_code != 201:
        raise SystemExit(f"registration failed: {registered.text}")
    kinds: dict[str, Callable[[], float]] = {
        "unknown email": lambda: _timed_login(client, f"nobody-{uuid.uuid4().hex}@example.com", "guess", 403),
        "known email, wrong password": lambda: _timed_login(client, email, "guess", 403),
        "known email, right password": lambda: _timed_login(client, email, PASSWORD, 200),
    }
    for attempt in kinds.values():  # warm-up: connections, caches, the first rehash check
        attempt()
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(attempts):
        for kind, attempt in kinds.items():  # interleaved, so noise lands on every kind alike
            timings[kind].append(attempt())
    return timings


def main(args: argparse.Namespace) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        harness.scratch_database(args.database) as database_url,
        _server(database_url, args.workers, Path(folder)) as client,
    ):
        timings = measure(client, args.attempts)
    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    print(f"{args.database}, {args.workers} worker(s), {args.attempts} attempts of each kind, interleaved")
    for kind, values in timings.items():
        p90 = statistics.quantiles(values, n=10)[-1] * 1000
        print(f"  {kind:30} median {medians[kind]:7.2f} ms   p90 {p90:7.2f} ms")
    ratio = medians["unknown email"] / medians["known email, wrong password"]
    verdict = "within" if 1 / TARGET_RATIO <= ratio <= TARGET_RATIO else "OUTSIDE"
    print(f"unknown / known (wrong password) median ratio: {ratio:.3f} ({verdict} the 15% target)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--attempts", type=int, default=500, help="timed attempts of each kind")
    parser.add_argument("--workers", type=int, default=1)
    main(parser.parse_args())
