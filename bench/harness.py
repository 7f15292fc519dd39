"""What the bench scripts share: scratch databases, servers pinned to a CPU, wrk, users, and RESULTS.md.

The machine is shared and noisy, so every bench measures its baseline in the same run as Postboard and
reports ratios; these helpers keep the set-up of both sides identical.
"""

import argparse
import asyncio
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from postboard.config import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "POSTBOARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
POSTBOARD = (sys.executable, "-m", "postboard")
START_TIMEOUT_SECONDS = 30
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "aiosqlite", "pydantic")
# The server and the load generator each get a core of their own when the machine has two.
_USABLE_CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPU, LOAD_CPU = _USABLE_CPUS[0], _USABLE_CPUS[min(1, len(_USABLE_CPUS) - 1)]
# Settings a developer may have exported (RATE_LIMITS, REDIS_URL…): a bench states its own.
_POSTBOARD_SETTINGS = frozenset(name.upper() for name in Settings.model_fields)


# Scratch databases


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """A new, empty database, dropped afterwards: a `postgresql://` or `sqlite:///` URL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="postboard-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    name = f"postboard_bench_{uuid.uuid4().hex[:12]}"
    postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_admin(statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def query(database_url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of one statement, outside any server; `$1`-style parameters on both engines."""
    if make_url(database_url).get_backend_name() == "sqlite":
        # closing() closes; the connection's own context commits.
        with closing(sqlite3.connect(str(make_url(database_url).database))) as connection, connection:
            return connection.execute(re.sub(r"\$(\d+)", r"?\1", sql), args).fetchall()

    async def run() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(plain_postgres_url(database_url))
        try:
            return [tuple(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return asyncio.run(run())


def plain_postgres_url(database_url: str) -> str:
    """The URL asyncpg itself reads (SQLAlchemy's `+asyncpg` suffix removed)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_postboard(*args: str, database_url: str, stdin: str = "") -> None:
    """Runs `postboard ARGS…` on the database, failing the bench with its output when it fails."""
    done = subprocess.run(  # noqa: S603 (our own command)
        [*POSTBOARD, *args],
        env=environment(DATABASE_URL=database_url),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"postboard {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


# Servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without Postboard's settings, plus SETTINGS."""
    inherited = {name: value for name, value in os.environ.items() if name not in _POSTBOARD_SETTINGS}
    return {**inherited, **settings}


def can_pin() -> bool:
    return shutil.which("taskset") is not None and len(_USABLE_CPUS) >= 2


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """The command run on one CPU where the machine allows (taskset execs it: the pid stays the same)."""
    if cpu is None or not can_pin():
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def peak_rss_mib(self) -> float:
        """The most memory the server process has held (VmHWM), read while it still runs."""
        self._require_single_process()
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if match is None:
            raise SystemExit(f"no VmHWM in /proc/{self.process.pid}/status")
        return int(match.group(1)) / 1024

    def _require_single_process(self) -> None:
        """The app must run in the process started (one uvicorn worker), or its RSS would not be the app's."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists() and children.read_text().split():
            raise SystemExit(
                f"the server {self.url} runs child processes; measure its memory with one worker"
            )


@contextmanager
def serving(
    command: Sequence[str], env: dict[str, str], log_path: Path, cpu: int | None = None
) -> Iterator[Server]:
    """A server started with `--port <free port>` appended to COMMAND, up and answering `GET /`; it runs
    in LOG_PATH's folder, away from any `.env` in the checkout."""
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 (our own command)
            pinned([*command, "--port", str(port)], cpu),
            cwd=log_path.parent,
            env=environment(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_up(server, log_path)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_until_up(server: Server, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while time.monotonic() < deadline:
            exit_code = server.process.poll()
            if exit_code is not None:
                raise SystemExit(f"the server exited with {exit_code}:\n{log_path.read_text()}")
            try:
                client.get("/")
                return
            except httpx.TransportError:
                time.sleep(0.1)
    raise SystemExit(f"the server did not answer within {START_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")


# wrk


@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_second: float
    latency_ms: dict[str, float]  # "50%", "75%", "90%", "99%"
    non_2xx: int  # wrk counts 3xx as success too; no route here redirects
    socket_errors: int

    @property
    def unexpected_share(self) -> float:
        return self.non_2xx / self.requests if self.requests else 1.0


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages when missing and allowed."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit("wrk is not installed: install it (Debian/Ubuntu: sudo apt-get install wrk)")
    print("installing wrk: apt-get install -y wrk", file=sys.stderr)
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "wrk"]):
        subprocess.run(step, check=True, stdout=subprocess.DEVNULL)  # noqa: S603 (fixed commands)
    return shutil.which("wrk") or "wrk"


def wrk_command(
    url: str,
    *,
    connections: int,
    seconds: int,
    headers: Sequence[str] = (),
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> list[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    return command


def run_wrk(command: Sequence[str]) -> WrkResult:
    done = subprocess.run(  # noqa: S603 (our own command)
        pinned(command, LOAD_CPU), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout)


_WRK_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> WrkResult:
    requests = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    percentiles = re.findall(r"^\s+(\d+%)\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    latency = {percent: float(value) * _WRK_UNITS_MS[unit] for percent, value, unit in percentiles}
    if requests is None or rate is None or "99%" not in latency:
        raise SystemExit(f"cannot read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        requests=int(requests.group(1)),
        requests_per_second=float(rate.group(1)),
        latency_ms=latency,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


# Postboard accounts


def register_and_login(server_url: str, email: str, password: str) -> tuple[int, str]:
    """A new account on a running Postboard: its id, and a bearer access token."""
    with httpx.Client(base_url=server_url, timeout=30) as client:
        registered = client.post("/users/", json={"email": email, "password": password})
        if registered.status_code != 201:
            raise SystemExit(f"registering {email} answered {registered.status_code}: {registered.text}")
        logged_in = client.post("/login", data={"username": email, "password": password})
        if logged_in.status_code != 200:
            raise SystemExit(f"logging in as {email} answered {logged_in.status_code}: {logged_in.text}")
    user_id: int = registered.json()["id"]
    token: str = logged_in.json()["access_token"]
    return user_id, token


# The report


def machine_lines() -> list[str]:
    return [
        f"- CPU: {_cpu_model()}, {os.cpu_count()} cores"
        f" ({'server and load each pinned to a core with taskset' if can_pin() else 'not pinned'})",
        f"- Kernel: {platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"- PostgreSQL server: {_postgres_version()}; SQLite library: {sqlite3.sqlite_version}",
        "- Packages: " + ", ".join(f"{name} {version(name)}" for name in PACKAGES),
    ]


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown CPU"


def _postgres_version() -> str:
    async def run() -> str:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            server_version: str = await connection.fetchval("SHOW server_version")
            return server_version
        finally:
            await connection.close()

    try:
        return asyncio.run(run())
    except (OSError, asyncpg.PostgresError) as error:
        return f"unreachable ({type(error).__name__})"


def write_section(results_path: Path, name: str, body: str) -> None:
    """Puts BODY between this bench's markers in RESULTS_PATH, replacing what an earlier run wrote there."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    text = results_path.read_text() if results_path.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results_path.write_text(text)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--output and --no-write: where a bench puts its section of RESULTS.md, if anywhere."""
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")


def publish(text: str, section: str, options: argparse.Namespace) -> None:
    """Prints the report and, unless --no-write, puts it in its section of the --output file."""
    print(text)
    if not options.no_write:
        write_section(options.output, section, text)
        print(f"\nwritten to {options.output}", file=sys.stderr)
