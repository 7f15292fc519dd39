"""Logins against the raw Argon2id verify rate, and reads during a login storm (target 4).

The target: login throughput at least 0.8 of the raw Argon2id verify rate of the same machine with the
same number of threads; while logins saturate the hash threads, `GET /posts/` p99 stays within 2 times its
unloaded p99, measured with the open-loop client. Both halves are measured against a baseline taken in the
same run, alternating:

- Raw verify rate: THREADS threads verify the password hash of a seeded account (made by Postboard's own
  hasher, so with its parameters) back to back, in a process pinned to the server's CPU; verifications/s.
- Login rate: `postboard serve` (one worker pinned to that CPU, PASSWORD_HASHING_THREADS=THREADS,
  RATE_LIMITS=off so that every attempt reaches the password check) gets a closed loop of CONCURRENCY
  logins with the right password, over the seeded users in turn, from the other CPU; successful logins/s.
  The ratio of the two is the first target (>= 0.8). Each side's CPU time is read too (the verifying
  process's, the server's): on a core shared with other processes the two sides may get unequal shares
  of it, which skews the ratio of rates per second but not that of rates per CPU-second, shown beside it.
- Reads: an open loop of `GET /posts/?limit=10` with a token at RATE requests/s, alone, then with the same
  login storm running beside it in the same client process; the ratio of the p99s is the second target
  (<= 2).

    .venv/bin/python bench/login.py                                    # PostgreSQL, 3 runs each: ~3 minutes
    .venv/bin/python bench/login.py --databases postgresql sqlite --threads 2 --rate 300
    .venv/bin/python bench/login.py --duration 3 --runs 1 --no-write  # a quick trial
"""

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from urllib.parse import urlencode

import harness
import uvloop
from closed_loop import ClosedLoopReport, run_closed_loop
from open_loop import LatencyReport, Target, run_open_loop
from pwdlib.hashers.argon2 import Argon2Hasher

SECTION = "login"
TARGET_LOGIN_RATIO = 0.8  # successful logins/s over raw verifies/s, at least
TARGET_READ_P99_RATIO = 2.0  # read p99 during a login storm over read p99 alone, at most
READ_PATH = "/posts/?limit=10"
FORM = "Content-Type: application/x-www-form-urlencoded"
CPU_SHARE_FLAGGED = 0.9  # of the server's CPU(s), got by the raw process or the server
SEND_LAG_FLAGGED_SECONDS = 0.005  # the open loop's own lateness, counted in its latencies
PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9), ("max", 100.0))


# The raw verify rate, in a process of its own on the server's CPU


@dataclass(frozen=True)
class Throughput:
    """What a run got done, in how long, and with how much CPU time of the process that did it."""

    done: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.done / self.seconds

    @property
    def per_cpu_second(self) -> float:
        """Unlike the rate per second, the same whatever share of its CPU the process got."""
        return self.done / self.cpu_seconds

    def cpu_share(self, cpus: int) -> float:
        return self.cpu_seconds / (self.seconds * cpus)


def raw_verifications(password_hash: str, password: str, threads: int, seconds: float) -> Throughput:
    """THREADS threads each verify PASSWORD_HASH back to back for SECONDS, with this process's CPU time.

    pwdlib's Argon2 verifier reads the parameters from the hash, so it does the work Postboard's does."""
    verifier = Argon2Hasher()
    started, cpu_started = time.perf_counter(), time.process_time()
    deadline = started + seconds

    def verify_until_deadline(_thread: int) -> int:
        verified = 0
        while time.perf_counter() < deadline:
            if not verifier.verify(password, password_hash):
                raise ValueError("the password does not match the hash")
            verified += 1
        return verified

    with ThreadPoolExecutor(threads) as pool:
        verified = sum(pool.map(verify_until_deadline, range(threads)))
    return Throughput(verified, time.perf_counter() - started, time.process_time() - cpu_started)


@contextmanager
def verifier_on_server_cpu() -> Iterator[ProcessPoolExecutor]:
    """A process on the server's CPUs, for raw_verifications: the bench itself runs on the load's, which the
    process inherits and leaves before any work."""
    with ProcessPoolExecutor(
        1,
        mp_context=get_context("spawn"),  # a fresh interpreter, not a fork of this one and its threads
        initializer=os.sched_setaffinity,
        initargs=(0, harness.server_cpus()),
    ) as executor:
        yield executor


# What the runs share


@dataclass(frozen=True)
class Fixtures:
    server: harness.Server
    password_hash: str  # every seeded account's
    logins: list[bytes]  # POST /login with the right password, one per seeded account
    read: Target  # GET /posts/?limit=10 with a token
    verifier: ProcessPoolExecutor


def login_requests(server_url: str, emails: Sequence[str]) -> list[bytes]:
    form = ({"username": email, "password": harness.SEEDED_PASSWORD} for email in emails)
    return [
        Target.from_url(f"{server_url}/login", "POST", [FORM], urlencode(fields).encode()).request
        for fields in form
    ]


async def login_storm(fixtures: Fixtures, options: argparse.Namespace) -> ClosedLoopReport:
    """CONCURRENCY clients logging in back to back, each as the next seeded account in turn."""
    logins = itertools.cycle(fixtures.logins)
    server = fixtures.server
    return await run_closed_loop(
        server.host, server.port, lambda _client: next(logins), options.concurrency, options.duration
    )


async def reads_during_storm(
    fixtures: Fixtures, options: argparse.Namespace
) -> tuple[LatencyReport, ClosedLoopReport]:
    return await asyncio.gather(
        run_open_loop(fixtures.read, options.rate, options.duration), login_storm(fixtures, options)
    )


def measure_raw(fixtures: Fixtures, options: argparse.Namespace) -> Throughput:
    job = fixtures.verifier.submit(
        raw_verifications, fixtures.password_hash, harness.SEEDED_PASSWORD, options.threads, options.duration
    )
    return job.result()


def measure_logins(fixtures: Fixtures, options: argparse.Namespace) -> tuple[Throughput, ClosedLoopReport]:
    cpu_started = fixtures.server.cpu_seconds()
    report = uvloop.run(login_storm(fixtures, options))
    cpu_seconds = fixtures.server.cpu_seconds() - cpu_started
    return Throughput(report.statuses[200], report.elapsed, cpu_seconds), report


@dataclass
class DatabaseResult:
    database: str
    password_hash: str
    raw: list[Throughput] = field(default_factory=list)
    logins: list[Throughput] = field(default_factory=list)  # successful ones; the server's CPU time
    login_reports: list[ClosedLoopReport] = field(default_factory=list)
    reads_alone: list[LatencyReport] = field(default_factory=list)
    reads_in_storm: list[LatencyReport] = field(default_factory=list)
    storms: list[ClosedLoopReport] = field(default_factory=list)

    @property
    def login_ratios(self) -> list[float]:
        """Successful logins/s over raw verifies/s, run pair by run pair."""
        return [login.per_second / raw.per_second for login, raw in zip(self.logins, self.raw, strict=True)]

    @property
    def login_ratios_per_cpu_second(self) -> list[float]:
        return [
            login.per_cpu_second / raw.per_cpu_second
            for login, raw in zip(self.logins, self.raw, strict=True)
        ]

    @property
    def p99_ratios(self) -> list[float]:
        return [
            storm.percentile(99) / alone.percentile(99)
            for storm, alone in zip(self.reads_in_storm, self.reads_alone, strict=True)
        ]


def alternate(run: int, steps: Sequence[Callable[[], None]]) -> None:
    """Runs the steps in order on even runs, backwards on odd ones, so that drift hits each side alike."""
    for step in steps if run % 2 == 0 else steps[::-1]:
        step()


def measure(fixtures: Fixtures, result: DatabaseResult, options: argparse.Namespace) -> None:
    def raw() -> None:
        result.raw.append(measure_raw(fixtures, options))

    def logins() -> None:
        throughput, report = measure_logins(fixtures, options)
        result.logins.append(throughput)
        result.login_reports.append(report)

    def alone() -> None:
        result.reads_alone.append(uvloop.run(run_open_loop(fixtures.read, options.rate, options.duration)))

    def in_storm() -> None:
        reads, storm = uvloop.run(reads_during_storm(fixtures, options))
        result.reads_in_storm.append(reads)
        result.storms.append(storm)

    for run in range(options.runs):
        alternate(run, (raw, logins))
        alternate(run, (alone, in_storm))
        print(
            f"{result.database}, run {run + 1}: raw {result.raw[-1].per_second:.1f} verifies/s, "
            f"{result.logins[-1].per_second:.1f} logins/s; read p99 alone "
            f"{result.reads_alone[-1].percentile(99) * 1000:.1f} ms, in the storm "
            f"{result.reads_in_storm[-1].percentile(99) * 1000:.1f} ms",
            file=sys.stderr,
        )


def warm_up(fixtures: Fixtures, options: argparse.Namespace) -> None:
    """One short run of each kind, unrecorded: threads, connections and caches made before timing."""
    short = argparse.Namespace(**{**vars(options), "duration": options.warmup, "runs": 1})
    measure(fixtures, DatabaseResult("warm-up", fixtures.password_hash), short)


def bench_database(
    database: str, options: argparse.Namespace, folder: Path, verifier: ProcessPoolExecutor
) -> DatabaseResult:
    with harness.scratch_database(database) as database_url:
        harness.seed(database_url, users=options.users, posts=options.posts, votes=options.votes)
        emails = harness.user_emails(database_url, options.users)
        [(password_hash,)] = harness.query(
            database_url, "SELECT password_hash FROM users WHERE email = $1", emails[0]
        )
        if not password_hash.startswith("$argon2id$"):
            raise SystemExit(f"the seeded accounts' hash is not Argon2id: {password_hash[:20]}…")
        env = harness.postboard_settings(
            database_url, rate_limits=False, PASSWORD_HASHING_THREADS=str(options.threads)
        )
        log_path = folder / f"{database}.log"
        with harness.serving(harness.POSTBOARD_SERVE, env, log_path, harness.SERVER_CPU) as server:
            token = harness.log_in(server.url, emails[0], harness.SEEDED_PASSWORD)
            read = Target.from_url(f"{server.url}{READ_PATH}", headers=[f"Authorization: Bearer {token}"])
            fixtures = Fixtures(server, password_hash, login_requests(server.url, emails), read, verifier)
            warm_up(fixtures, options)
            result = DatabaseResult(database, password_hash)
            measure(fixtures, result, options)
    return result


# The report


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def latency_row(label: str, reports: Sequence[LatencyReport]) -> str:
    cells = [
        f"{statistics.median(report.percentile(percent) for report in reports) * 1000:.1f}"
        for _, percent in PERCENTILES
    ]
    errors = sum(report.errors for report in reports)
    return f"| {label} | {' | '.join(cells)} | {errors} |"


def flags(result: DatabaseResult) -> list[str]:
    """Runs whose answers were not all the expected ones, whose reads left late, or whose CPU was shared:
    their numbers measure errors, the client, or other processes, too."""
    found = []
    cpus = len(harness.server_cpus())
    for run, (raw, login) in enumerate(zip(result.raw, result.logins, strict=True), 1):
        if min(raw.cpu_share(cpus), login.cpu_share(cpus)) < CPU_SHARE_FLAGGED:
            found.append(
                f"run {run}: the server's CPU was shared (the raw process got {raw.cpu_share(cpus):.0%} of "
                f"it, the server {login.cpu_share(cpus):.0%}): the rates per second compare unequal shares, "
                "the rates per CPU-second do not"
            )
    for kind, runs in (("logins", result.login_reports), ("logins during the reads", result.storms)):
        for run, report in enumerate(runs, 1):
            if report.refused(200):
                found.append(f"{kind}, run {run}: answers {report.outcomes()}")
    for kind, reads in (("reads alone", result.reads_alone), ("reads in the storm", result.reads_in_storm)):
        for run, read in enumerate(reads, 1):
            if read.errors:
                lost = dict(read.transport_errors)
                found.append(f"{kind}, run {run}: statuses {dict(read.statuses)}, lost {lost}")
            lag = read.percentile(99, read.send_lags)
            if lag > SEND_LAG_FLAGGED_SECONDS:
                found.append(f"{kind}, run {run}: reads left {lag * 1000:.1f} ms late at p99 (a busy client)")
    return found


def ratio_row(label: str, ratios: Sequence[float]) -> str:
    met = statistics.median(ratios) >= TARGET_LOGIN_RATIO
    return (
        f"| {label} | {harness.median_and_range(ratios, '.2f')} | ≥ {TARGET_LOGIN_RATIO:g}: {verdict(met)} |"
    )


def throughput_rows(result: DatabaseResult, options: argparse.Namespace) -> list[str]:
    cpus = len(harness.server_cpus())
    shares = [
        f"{statistics.median(run.cpu_share(cpus) for run in runs):.0%}"
        for runs in (result.raw, result.logins)
    ]
    return [
        "| measured | median (min-max) | target |",
        "| --- | ---: | --- |",
        f"| raw Argon2id verifies/s, {options.threads} thread(s) "
        f"| {harness.median_and_range([raw.per_second for raw in result.raw], '.1f')} | |",
        f"| successful logins/s, {options.concurrency} concurrent "
        f"| {harness.median_and_range([login.per_second for login in result.logins], '.1f')} | |",
        ratio_row("**logins/s ÷ raw verifies/s**", result.login_ratios),
        ratio_row("the same per CPU-second of each process", result.login_ratios_per_cpu_second),
        f"| share of the server's CPU(s) used: raw process / server | {' / '.join(shares)} | |",
    ]


def database_section(result: DatabaseResult, options: argparse.Namespace) -> str:
    p99_ratio = statistics.median(result.p99_ratios)
    storm_rate = harness.median_and_range([storm.rate(200) for storm in result.storms], ".1f")
    lines = [
        f"### {result.database}",
        "",
        *throughput_rows(result, options),
        "",
        f"| `GET {READ_PATH}` at {options.rate:g}/s | "
        + " | ".join(f"{name} ms" for name, _ in PERCENTILES)
        + " | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        latency_row("alone", result.reads_alone),
        latency_row(f"during the login storm, {storm_rate} logins/s", result.reads_in_storm),
        "",
        f"p99 during the storm ÷ p99 alone: {harness.median_and_range(result.p99_ratios, '.2f')}; "
        f"target ≤ {TARGET_READ_P99_RATIO:g}: {verdict(p99_ratio <= TARGET_READ_P99_RATIO)}.",
    ]
    problems = flags(result)
    lines += ["", *(f"- **Flagged:** {problem}" for problem in problems)] if problems else []
    return "\n".join(lines)


def report_text(results: Sequence[DatabaseResult], options: argparse.Namespace) -> str:
    parameters = "$".join(results[0].password_hash.split("$")[:4])  # `$argon2id$v=19$m=…,t=…,p=…`
    lines = [
        *harness.report_heading("Logins: `bench/login.py`"),
        f"- Server: `postboard serve --workers 1` on CPU {harness.SERVER_CPU} with "
        f"`PASSWORD_HASHING_THREADS={options.threads}` and `RATE_LIMITS=off`: throttling is off so that "
        "every login reaches the password check; seeded with "
        f"`postboard seed --users {options.users} --posts {options.posts} --votes {options.votes}`.",
        f"- Raw rate: {options.threads} thread(s) verifying the seeded accounts' hash (`{parameters}`, made "
        f"by Postboard's hasher) with pwdlib, back to back for {options.duration:g} s, in a process pinned "
        f"to CPU {harness.SERVER_CPU}.",
        f"- Logins, from CPU {harness.LOAD_CPU}: a closed loop of {options.concurrency} concurrent "
        f"`POST /login` with the right password, over the {options.users} seeded accounts in turn, for "
        f"{options.duration:g} s; successful logins/s.",
        f"- Reads, from CPU {harness.LOAD_CPU}: an open loop of `GET {READ_PATH}` with a token at "
        f"{options.rate:g}/s for {options.duration:g} s, timed from each request's intended send; alone, "
        "and during the same login storm sent by the same client process.",
        f"- {options.runs} run(s) of each, alternating raw/logins and alone/storm, after a "
        f"{options.warmup:g} s warm-up of each; ratios are taken run pair by run pair.",
    ]
    for result in results:
        lines += ["", database_section(result, options)]
    return "\n".join(lines)


def main(options: argparse.Namespace) -> None:
    harness.pin_this_process(harness.LOAD_CPU)
    with (
        tempfile.TemporaryDirectory(prefix="postboard-login-") as folder,
        verifier_on_server_cpu() as verifier,
    ):
        results = [
            bench_database(database, options, Path(folder), verifier) for database in options.databases
        ]
    harness.publish(report_text(results, options), SECTION, options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument("--databases", nargs="+", choices=["postgresql", "sqlite"], default=["postgresql"])
    parser.add_argument(
        "--threads",
        type=int,
        default=len(harness.server_cpus()),
        help="hashing threads of the server and of the raw rate (default: the server's CPUs, %(default)s)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent logins, more than --threads")
    parser.add_argument("--rate", type=float, default=200, help="reads per second (default 200)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of each run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each kind (default 3)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of each kind before the runs")
    harness.add_seed_options(parser, users=300, posts=1000, votes=2000)  # logins go over the users
    harness.add_output_options(parser)
    options = parser.parse_args()
    if options.concurrency <= options.threads:
        parser.error("--concurrency must exceed --threads, so that the logins saturate the hash threads")
    return options


if __name__ == "__main__":
    main(parse_options())
