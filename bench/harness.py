"""What the bench scripts share: scratch databases, servers pinned to a CPU, wrk, users, and RESULTS.md.

The machine is shared and noisy, so every bench measures its baseline in the same run as Postboard and
reports ratios; these helpers keep the set-up of both sides identical.
"""

import asyncio
import os
import platform
import re
import secrets
import shlex
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from argparse import ArgumentParser, Namespace, RawDescriptionHelpFormatter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import make_url

from postboard.config import Settings
from postboard.seed import DEMO_PASSWORD

BENCH = Path(__file__).resolve().parent
POSTGRES_ADMIN_URL = os.environ.get(
    "POSTBOARD_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
POSTBOARD = (sys.executable, "-m", "postboard")
POSTBOARD_SERVE = (*POSTBOARD, "serve", "--host", "127.0.0.1", "--workers", "1")  # `--port N` is appended
SEED = "2026"  # the same seed, the same rows, run after run
SEEDED_PASSWORD = DEMO_PASSWORD  # every seeded user's
START_TIMEOUT_SECONDS = 30
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


def seed(database_url: str, *, users: int, posts: int, votes: int) -> None:
    """Migrates and fills the database with `postboard seed` (users share SEEDED_PASSWORD)."""
    counts = ("--users", str(users), "--posts", str(posts), "--votes", str(votes))
    run_postboard("seed", *counts, "--seed", SEED, database_url=database_url)


def user_emails(database_url: str, count: int) -> list[str]:
    """The emails of the first COUNT users, oldest first: the seeded ones in a freshly seeded database."""
    rows = query(database_url, "SELECT email FROM users ORDER BY id LIMIT $1", count)
    if len(rows) < count:
        raise SystemExit(f"the database holds {len(rows)} users, not {count}")
    return [email for (email,) in rows]


# Servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without Postboard's settings nor OpenTelemetry's (an exported OTLP
    endpoint would add telemetry's cost to what is measured), plus SETTINGS."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in _POSTBOARD_SETTINGS and not name.startswith("OTEL_")
    }
    return {**inherited, **settings}


def can_pin() -> bool:
    return shutil.which("taskset") is not None and len(_USABLE_CPUS) >= 2


def server_cpus() -> set[int]:
    """The CPUs a server started by `serving` on SERVER_CPU runs on."""
    return {SERVER_CPU} if can_pin() else set(_USABLE_CPUS)


def pin_this_process(cpu: int) -> None:
    """Runs this process, and the threads and processes it starts from now on, on CPU where the machine
    allows: a load generator in Python on the load's core. A process started afterwards sees only that
    CPU, so it cannot tell whether the machine pins: give it its CPUs explicitly (`server_cpus()`)."""
    if can_pin():
        os.sched_setaffinity(0, {cpu})


def postboard_settings(database_url: str, *, rate_limits: bool, **settings: str) -> dict[str, str]:
    """The environment of a bench's `postboard serve`: a random key, tokens that outlive any run, and
    throttling as the bench states; SETTINGS add to it."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "ACCESS_TOKEN_EXPIRE_MINUTES": "1440",  # the lifetime costs nothing per request
        "RATE_LIMITS": "on" if rate_limits else "off",
        **settings,
    }


def pinned(command: Sequence[str], cpu: int | None) -> list[str]:
    """The command run on one CPU where the machine allows (taskset execs it: the pid stays the same)."""
    if cpu is None or not can_pin():
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


@dataclass
class Server:
    host: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def peak_rss_mib(self) -> float:
        """The most memory the server process has held (VmHWM), read while it still runs."""
        return self.memory_kib("VmHWM") / 1024

    def memory_kib(self, field: str) -> int:
        """A memory figure of the server process from /proc/<pid>/status, e.g. VmRSS (now) or VmHWM (peak)."""
        self._require_single_process()
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        if match is None:
            raise SystemExit(f"no {field} in /proc/{self.process.pid}/status")
        return int(match.group(1))

    def _require_single_process(self) -> None:
        """The app must run in the process started (one uvicorn worker), or its RSS would not be the app's."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists() and children.read_text().split():
            raise SystemExit(
                f"the server {self.url} runs child processes; measure its memory with one worker"
            )


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, all threads) that a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])  # the stat file's 14th and 15th fields
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def connections_accepted(database_url: str) -> int | None:
    """How many connections PostgreSQL has accepted to the database since its statistics began, this
    query's own included; None on SQLite."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return None
    [(sessions,)] = query(
        database_url, "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(sessions)


def postgres_cpu_seconds() -> float:
    """The CPU time used so far by every PostgreSQL process of this machine, where the database under test
    runs: its backends are long-lived (pooled), so the difference over a run is that run's database work."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += cpu_seconds(int(comm.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue  # the process ended meanwhile
    return total


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
    server = Server("127.0.0.1", port, process)
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
    registered = httpx.post(f"{server_url}/users/", json={"email": email, "password": password}, timeout=30)
    if registered.status_code != 201:
        raise SystemExit(f"registering {email} answered {registered.status_code}: {registered.text}")
    user_id: int = registered.json()["id"]
    return user_id, log_in(server_url, email, password)


def log_in(server_url: str, email: str, password: str) -> str:
    """A bearer access token for an existing account on a running Postboard."""
    logged_in = httpx.post(f"{server_url}/login", data={"username": email, "password": password}, timeout=30)
    if logged_in.status_code != 200:
        raise SystemExit(f"logging in as {email} answered {logged_in.status_code}: {logged_in.text}")
    token: str = logged_in.json()["access_token"]
    return token


# The report


def median_and_range(values: Sequence[float], spec: str = ",.0f") -> str:
    """The median of VALUES, with their min-max when there are several: `1,234 (1,100-1,300)`."""
    median = format(statistics.median(values), spec)
    if len(values) == 1:
        return median
    return f"{median} ({min(values):{spec}}-{max(values):{spec}})"


def rates(results: Sequence[WrkResult]) -> str:
    """Requests/s of wrk runs: the median, with the min-max."""
    return median_and_range([result.requests_per_second for result in results])


def latencies(results: Sequence[WrkResult]) -> str:
    """The median p50 / p99 of wrk runs, in ms."""
    p50 = statistics.median(result.latency_ms["50%"] for result in results)
    p99 = statistics.median(result.latency_ms["99%"] for result in results)
    return f"{p50:.1f} / {p99:.1f}"


def report_heading(title: str) -> list[str]:
    """A report's first lines: its title, when and how it was run, on what."""
    return [
        f"## {title}",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python {shlex.join(sys.argv)}`.",
        "",
        *machine_lines(),
    ]


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


def bench_parser(description: str | None) -> ArgumentParser:
    """A bench's option parser, with its module docstring as the help's description."""
    return ArgumentParser(description=description, formatter_class=RawDescriptionHelpFormatter)


def add_seed_options(parser: ArgumentParser, *, users: int, posts: int, votes: int) -> None:
    """--users, --posts and --votes for `seed`, with these defaults."""
    for table, default in (("users", users), ("posts", posts), ("votes", votes)):
        parser.add_argument(f"--{table}", type=int, default=default, help=f"seeded (default {default:,})")


def add_output_options(parser: ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument(
        "--no-write", action="store_true", help=f"print only; leave {BENCH.name}/RESULTS.md alone"
    )


def publish(text: str, name: str, options: Namespace) -> None:
    """Prints the report, and puts it in section NAME of the file `add_output_options` named."""
    print(text)
    if not options.no_write:
        write_section(options.output, name, text)
        print(f"\nwritten to {options.output}", file=sys.stderr)


# RESULTS.md's last section, written by hand from the others: how far the measured figures carry.
_LAST_SECTION = "<!-- capacity:begin -->"


def write_section(results_path: Path, name: str, body: str) -> None:
    """Puts BODY between this bench's markers in RESULTS_PATH, replacing what an earlier run wrote there."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = f"{begin}\n{body.strip()}\n{end}"
    text = results_path.read_text() if results_path.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + section + rest.split(end, 1)[1]
    elif _LAST_SECTION in text:  # a new section goes before the one written by hand, which stays last
        before, rest = text.split(_LAST_SECTION, 1)
        text = before + section + "\n\n" + _LAST_SECTION + rest
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results_path.write_text(text)
