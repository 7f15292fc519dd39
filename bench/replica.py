"""Read throughput with a streaming replica (DATABASE_REPLICA_URL) against without one, in the same run.

A PostgreSQL primary and a replica streaming from it are built from nothing (bench/streaming_replica.py),
then migrated and seeded. Two `postboard serve` run on that primary, one worker each, pinned to CPU 0:
one reads from the replica, the other does not. wrk loads one of them at a time from CPU 1 with
`GET /posts/?limit=10` as one user, alternating, and the report gives the ratio of the two throughputs,
run pair by run pair. Both PostgreSQL servers run on any CPU, as a database server would.

    .venv/bin/python bench/replica.py                                       # about 2 minutes
    .venv/bin/python bench/replica.py --duration 3 --runs 1 --no-write
"""

import argparse
import asyncio
import os
import secrets
import shlex
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import harness
import httpx
from streaming_replica import PrimaryAndReplica, primary_and_replica

SECTION = "replica"
PATH = "/posts/?limit=10"
PASSWORD = "a long benchmark password"
WITHOUT, WITH = "without replica", "with replica"
SETTLE_SECONDS = 0.5


@dataclass(frozen=True)
class Run:
    side: str
    result: harness.WrkResult
    primary_cpu_seconds: float  # what each PostgreSQL server spent during the run
    replica_cpu_seconds: float


def main(options: argparse.Namespace) -> None:
    harness.ensure_wrk()
    with primary_and_replica() as cluster, tempfile.TemporaryDirectory(prefix="postboard-replica-") as folder:
        runs = bench(cluster, options, Path(folder))
    harness.publish(report_text(runs, options), SECTION, options)


def bench(cluster: PrimaryAndReplica, options: argparse.Namespace, folder: Path) -> list[Run]:
    counts = ("--users", str(options.users), "--posts", str(options.posts), "--votes", str(options.votes))
    harness.run_postboard("seed", *counts, "--seed", "2026", database_url=cluster.primary_url)
    env = {
        "DATABASE_URL": cluster.primary_url,
        "SECRET_KEY": secrets.token_hex(32),  # one key: the bench user's token works on both servers
        "ACCESS_TOKEN_EXPIRE_MINUTES": "1440",
    }
    with ExitStack() as running:
        servers = {
            side: running.enter_context(
                harness.serving(
                    (*harness.POSTBOARD, "serve", "--host", "127.0.0.1", "--workers", "1"),
                    env if side == WITHOUT else {**env, "DATABASE_REPLICA_URL": cluster.replica_url},
                    folder / f"{side.replace(' ', '-')}.log",
                    harness.SERVER_CPU,
                )
            )
            for side in (WITHOUT, WITH)
        }
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        _, token = harness.register_and_login(servers[WITHOUT].url, email, PASSWORD)
        # Until the replica has the bench user's login session, its reads are the primary's.
        asyncio.run(cluster.wait_for_replay())
        check_same_answers(servers, token)
        return measure(servers, token, cluster, options)


def check_same_answers(servers: dict[str, harness.Server], token: str) -> None:
    bodies = []
    for side, server in servers.items():
        response = httpx.get(server.url + PATH, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if response.status_code != 200:
            raise SystemExit(f"{side} answered {response.status_code}: {response.text[:500]}")
        bodies.append(response.json())
    if bodies[0] != bodies[1]:
        raise SystemExit(f"the two servers answer different JSON:\n{bodies}")


def measure(
    servers: dict[str, harness.Server], token: str, cluster: PrimaryAndReplica, options: argparse.Namespace
) -> list[Run]:
    def wrk(side: str, seconds: int) -> Run:
        time.sleep(SETTLE_SECONDS)  # the last run's unanswered requests finish before this one starts
        primary, replica = cpu_seconds(cluster.primary_data), cpu_seconds(cluster.replica_data)
        command = harness.wrk_command(
            servers[side].url + PATH,
            connections=options.connections,
            seconds=seconds,
            headers=[f"Authorization: Bearer {token}"],
        )
        result = harness.run_wrk(command)
        return Run(
            side,
            result,
            cpu_seconds(cluster.primary_data) - primary,
            cpu_seconds(cluster.replica_data) - replica,
        )

    for side in servers:
        wrk(side, options.warmup)
    runs = []
    for number in range(options.runs):
        for side in (WITHOUT, WITH) if number % 2 == 0 else (WITH, WITHOUT):  # drift hits both alike
            run = wrk(side, options.duration)
            runs.append(run)
            print(f"{side}, run {number + 1}: {run.result.requests_per_second:,.0f} req/s", file=sys.stderr)
    return runs


def cpu_seconds(data_folder: Path) -> float:
    """The CPU time the PostgreSQL server of `data_folder` has used: its postmaster's, that of the processes
    it runs (a backend per connection, its helpers) and of those it ran."""
    postmaster = int((data_folder / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    ticks = _cpu_ticks(postmaster, ended_children=True) + sum(_cpu_ticks(int(pid)) for pid in children)
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int, *, ended_children: bool = False) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:  # ended since it was listed; its parent counts it now
        return 0
    # After the command's closing parenthesis: field 3 onwards; utime, stime, cutime, cstime are 14 to 17.
    fields = stat.rsplit(")", 1)[1].split()
    user, system, children_user, children_system = (int(value) for value in fields[11:15])
    return user + system + (children_user + children_system if ended_children else 0)


# The report


def results(runs: list[Run], side: str) -> list[harness.WrkResult]:
    return [run.result for run in runs if run.side == side]


def ratio_cell(runs: list[Run]) -> str:
    """With over without, run pair by run pair: each pair ran back to back, under the same noise."""
    pairs = zip(results(runs, WITH), results(runs, WITHOUT), strict=True)
    return harness.median_and_range(
        [with_.requests_per_second / without.requests_per_second for with_, without in pairs], ".2f"
    )


def cpu_per_request(runs: list[Run], side: str) -> tuple[float, float]:
    """Each database server's CPU time per request answered, in µs: the primary's and the replica's."""
    measured = [run for run in runs if run.side == side]
    requests = sum(run.result.requests for run in measured)
    primary = sum(run.primary_cpu_seconds for run in measured) / requests * 1e6
    replica = sum(run.replica_cpu_seconds for run in measured) / requests * 1e6
    return primary, replica


def flags(runs: list[Run]) -> list[str]:
    """Runs with answers other than 200, or requests lost to socket errors or to wrk's 2 s timeout."""
    found = []
    for side in (WITHOUT, WITH):
        for number, result in enumerate(results(runs, side), 1):
            if result.non_2xx or result.socket_errors:
                found.append(
                    f"{side}, run {number}: {result.non_2xx} answers not 2xx, "
                    f"{result.socket_errors} requests lost to socket errors or to wrk's 2 s timeout"
                )
    return found


def report_text(runs: list[Run], options: argparse.Namespace) -> str:
    wrk = harness.wrk_command("URL", connections=options.connections, seconds=options.duration)
    lines = [
        *harness.report_heading("Read replica: `bench/replica.py`"),
        "- Databases: a primary and a streaming replica of it, built for the run (`initdb`, then "
        "`pg_basebackup -R`), on this machine, on any CPU; `fsync=off` (reads only are measured).",
        f"- Servers, one process each on CPU {harness.SERVER_CPU}: `postboard serve --workers 1` on the "
        "primary, one of them with `DATABASE_REPLICA_URL` set to the replica.",
        f"- Load on CPU {harness.LOAD_CPU}: `{shlex.join(wrk)}` with the bench user's bearer token, "
        f"`GET {PATH}`, after a {options.warmup} s warm-up; {options.runs} runs per side, alternating.",
        f"- Data: `postboard seed --users {options.users} --posts {options.posts} --votes {options.votes} "
        "--seed 2026`.",
        f"- Load average over the minute before the report: {os.getloadavg()[0]:.1f}, whoever's work it was.",
        "",
        f"| `GET {PATH}` | req/s median (min-max) | p50 / p99 ms | database CPU µs per request: "
        "primary / replica |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [table_row(runs, side) for side in (WITHOUT, WITH)]
    primary_share = cpu_per_request(runs, WITH)[0] / cpu_per_request(runs, WITHOUT)[0]
    lines += [
        "",
        f"Throughput with the replica over without it: **{ratio_cell(runs)}** (min-max over run pairs). "
        f"The primary's CPU per read with the replica: **{primary_share:.2f}** of what it is without one. "
        "Everything here shares two cores; bench/README.md says what this shows and what it cannot.",
    ]
    problems = flags(runs)
    lines += ["", *(f"- **Flagged:** {problem}" for problem in problems)] if problems else []
    return "\n".join(lines)


def table_row(runs: list[Run], side: str) -> str:
    primary, replica = cpu_per_request(runs, side)
    measured = results(runs, side)
    cells = [side, harness.rates(measured), harness.latencies(measured), f"{primary:.0f} / {replica:.0f}"]
    return f"| {' | '.join(cells)} |"


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each side (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load on each side before the runs")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--votes", type=int, default=2000)
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
