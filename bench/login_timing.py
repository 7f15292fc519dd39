"""Whether a failed login takes as long for an unknown email as for a known one, through `postboard serve`.

An attacker who can tell the two apart learns which emails have accounts. Postboard verifies a dummy
Argon2id hash for unknown emails, so both do the same work; this measures the median latency of each kind
of failed login, interleaved in one run so that machine noise hits both alike, and reports their ratio.
The target is within 15% (a ratio between 0.87 and 1.15). A successful login is timed too, for scale.

    .venv/bin/python bench/login_timing.py                          # SQLite, 500 attempts each way
    .venv/bin/python bench/login_timing.py --database postgresql --attempts 1000 --workers 2
"""

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 1.15
PASSWORD = "the right password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"postboard_bench_{uuid.uuid4().hex[:12]}"
    _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_admin(statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@contextmanager
def _server(database_url: str, workers: int, folder: Path) -> Iterator[httpx.Client]:
    port = _free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "RATE_LIMITS": "off",  # every attempt must reach the password check
    }
    log = (folder / "serve.log").open("w")
    server = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "postboard", "serve", "--port", str(port), "--workers", str(workers)],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_until_up(client, server)
            yield client
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"serve exited with {server.returncode}")
        try:
            client.get("/")
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("serve did not start within 30 s")


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
        _database(args.database, Path(folder)) as database_url,
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
