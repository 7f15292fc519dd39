"""HTTP throughput of `postboard serve` against a bare Starlette baseline, measured in the same run.

For each database, a scratch database is migrated and seeded; `postboard serve` and bench/baseline_app.py
(under uvicorn with the options Postboard's `serve` gives it) run side by side, one worker each, pinned to
CPU 0; wrk loads one of them at a time from CPU 1. Each scenario runs on both, alternating, and the
report gives medians, min-max, latencies, and the ratio of Postboard's throughput to its reference.

    .venv/bin/python bench/throughput.py                                    # both databases, ~15 minutes
    .venv/bin/python bench/throughput.py --databases postgresql --duration 3 --runs 1 --no-write
"""

import argparse
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import harness
import httpx

BENCH = harness.BENCH
SECTION = "throughput"
DEFAULT_CONNECTIONS = 32
PASSWORD = "a long benchmark password"
# What postboard/cli.py's `_serve` passes to uvicorn.run (its defaults included), for the baseline's uvicorn.
UVICORN_OPTIONS = (
    "--loop",
    "auto",
    "--http",
    "auto",
    "--access-log",
    "--no-server-header",
    "--no-proxy-headers",
)
BASELINE = "baseline"
UNAUTHENTICATED = "unauthenticated"  # bench/unauthenticated_app.py: the listing without authentication
UNEXPECTED_SHARE_FLAGGED = 0.01
SETTLE_SECONDS = 0.5
DELETE_VOTES = "DELETE FROM votes WHERE user_id IN ($1, $2)"  # the voters: Postboard's, the baseline's
COUNT_VOTES = "SELECT count(*) FROM votes WHERE user_id IN ($1, $2)"
VOTE_RESET_TRIES = 20


@dataclass(frozen=True)
class App:
    name: str
    command: tuple[str, ...]  # serves on 127.0.0.1; `--port N` is appended
    scenarios: frozenset[str]
    measured: bool = True  # False: only ever the reference of another app's scenario


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    path: str  # `{post_id}` is a published post with votes
    authorization: str | None = "token"  # "token": the bench user's; "garbage": a token no server accepts
    script: str | None = None  # a wrk Lua script in bench/wrk/
    expected_status: int = 200
    # The (app, scenario) Postboard is compared with; None: the baseline's run of the same scenario.
    reference: tuple[str, str] | None = None
    target: float | None = None  # the lowest acceptable throughput ratio to the reference
    votes: bool = False  # the script votes over the published posts; the voters' votes are reset per run


SCENARIOS = (
    Scenario("hello", "GET /", "/", authorization=None, target=0.5),
    Scenario("list", "GET /posts/?limit=10", "/posts/?limit=10", target=0.5),
    Scenario(  # what authentication costs: the same listing, with and without it
        "list-auth",
        "GET /posts/?limit=10, with authentication",
        "/posts/?limit=10",
        reference=(UNAUTHENTICATED, "list"),
        target=0.85,
    ),
    Scenario("get", "GET /posts/{id}", "/posts/{post_id}", target=0.5),
    Scenario(
        "bad-token",
        "GET /posts/{id}, Bearer garbage",
        "/posts/{post_id}",
        authorization="garbage",
        expected_status=401,
        reference=("postboard", "hello"),
        target=1.0,
    ),
    Scenario("create-post", "POST /posts/", "/posts/", script="create_post.lua", expected_status=201),
    Scenario("vote", "POST /vote/", "/vote/", script="vote.lua", expected_status=201, votes=True),
)
SCENARIO_NAMES = tuple(scenario.name for scenario in SCENARIOS)


def uvicorn_app(target: str) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(BENCH),
        target,
        "--host",
        "127.0.0.1",
        *UVICORN_OPTIONS,
    )


APPS = (  # the first is the baseline; every other measured app is compared with it
    App(BASELINE, uvicorn_app("baseline_app:app"), frozenset(SCENARIO_NAMES) - {"bad-token", "list-auth"}),
    App("postboard", harness.POSTBOARD_SERVE, frozenset(SCENARIO_NAMES)),
    App(UNAUTHENTICATED, uvicorn_app("unauthenticated_app:app"), frozenset({"list"}), measured=False),
)


SideT = TypeVar("SideT", bound=Hashable)


@dataclass(frozen=True)
class Side:
    app: str
    scenario: Scenario

    @property
    def label(self) -> str:
        return f"{self.app} {self.scenario.title}"


@dataclass(frozen=True)
class Comparison:
    subject: Side
    reference: Side


def comparisons(scenario_names: Sequence[str]) -> list[Comparison]:
    by_name = {scenario.name: scenario for scenario in SCENARIOS}
    found = []
    for scenario in SCENARIOS:  # in this order: reads before the writes that add posts
        for app in APPS[1:]:
            if app.measured and scenario.name in scenario_names and scenario.name in app.scenarios:
                app_name, reference_name = scenario.reference or (BASELINE, scenario.name)
                found.append(Comparison(Side(app.name, scenario), Side(app_name, by_name[reference_name])))
    return found


@dataclass(frozen=True)
class Fixtures:
    """What the scenarios need from a seeded database with every app up."""

    database_url: str
    servers: dict[str, harness.Server]
    token: str  # Postboard's bench user's
    voter_ids: tuple[int, int]  # Postboard's bench user and the baseline's viewer
    post_id: int  # published, with votes
    published_ids_file: Path  # the ids the vote script cycles over


def request_headers(scenario: Scenario, fixtures: Fixtures) -> list[str]:
    tokens = {"token": fixtures.token, "garbage": "garbage"}
    return (
        [] if scenario.authorization is None else [f"Authorization: Bearer {tokens[scenario.authorization]}"]
    )


def side_url(side: Side, fixtures: Fixtures) -> str:
    return fixtures.servers[side.app].url + side.scenario.path.format(post_id=fixtures.post_id)


@dataclass(frozen=True)
class Run:
    """One wrk run, the CPU time the server and PostgreSQL spent on it, and the connections PostgreSQL
    accepted meanwhile (None on SQLite): a pool that holds the load opens none."""

    wrk: harness.WrkResult
    server_cpu_seconds: float
    database_cpu_seconds: float
    connections_opened: int | None

    def cpu_us_per_request(self, seconds: float) -> float:
        return seconds / max(self.wrk.requests, 1) * 1e6


def run_side(side: Side, fixtures: Fixtures, options: argparse.Namespace, seconds: int) -> Run:
    scenario = side.scenario
    if scenario.votes:
        delete_votes(fixtures)
    else:
        time.sleep(SETTLE_SECONDS)  # the last run's unanswered requests finish before this one starts
    script = BENCH / "wrk" / scenario.script if scenario.script else None
    command = harness.wrk_command(
        side_url(side, fixtures),
        connections=options.connections,
        seconds=seconds,
        headers=request_headers(scenario, fixtures),
        script=script,
        script_args=[str(fixtures.published_ids_file)] if scenario.votes else [],
    )
    server = fixtures.servers[side.app]
    connections_before = harness.connections_accepted(fixtures.database_url)
    server_before, database_before = server.cpu_seconds(), harness.postgres_cpu_seconds()
    wrk = harness.run_wrk(command)
    server_cpu, database_cpu = (
        server.cpu_seconds() - server_before,
        harness.postgres_cpu_seconds() - database_before,
    )
    connections_after = harness.connections_accepted(fixtures.database_url)
    opened = None
    if connections_before is not None and connections_after is not None:
        opened = connections_after - connections_before - 1  # the second count's own connection
    return Run(wrk, server_cpu, database_cpu, opened)


def delete_votes(fixtures: Fixtures) -> None:
    """Leaves the voters without votes, so that the vote script's first pass is all 201. The server may
    still be answering the last run's requests, which wrk stopped waiting for: delete until none lands."""
    for _ in range(VOTE_RESET_TRIES):
        harness.query(fixtures.database_url, DELETE_VOTES, *fixtures.voter_ids)
        time.sleep(SETTLE_SECONDS)
        if harness.query(fixtures.database_url, COUNT_VOTES, *fixtures.voter_ids) == [(0,)]:
            return
    raise SystemExit(f"votes kept arriving {VOTE_RESET_TRIES * SETTLE_SECONDS:g} s after a vote run ended")


def check_responses(comparison: Comparison, fixtures: Fixtures) -> None:
    """Each side answers a read as expected, and two sides of the same read answer the same JSON."""
    bodies = []
    for side in (comparison.subject, comparison.reference):
        if side.scenario.script is not None:
            return  # writes are checked by wrk's non-2xx count
        headers = dict(header.split(": ", 1) for header in request_headers(side.scenario, fixtures))
        response = httpx.get(side_url(side, fixtures), headers=headers, timeout=30)
        if response.status_code != side.scenario.expected_status:
            raise SystemExit(f"{side.label} answered {response.status_code}: {response.text[:500]}")
        bodies.append(response.json())
    if comparison.subject.scenario.path == comparison.reference.scenario.path and bodies[0] != bodies[1]:
        raise SystemExit(f"{comparison.subject.label} and its reference answer different JSON:\n{bodies}")


@dataclass(frozen=True)
class ComparisonResult:
    comparison: Comparison
    subject: list[Run]
    reference: list[Run]

    @property
    def ratios(self) -> list[float]:
        """Subject over reference, run by run: each pair ran back to back, under the same noise."""
        return [
            s.wrk.requests_per_second / r.wrk.requests_per_second
            for s, r in zip(self.subject, self.reference, strict=True)
        ]


def compare(
    comparison: Comparison, fixtures: Fixtures, options: argparse.Namespace, label: str
) -> ComparisonResult:
    check_responses(comparison, fixtures)
    results = alternating_runs(
        (comparison.reference, comparison.subject),
        lambda side, seconds: run_side(side, fixtures, options, seconds),
        options,
        label,
        lambda side: side.label,
    )
    return ComparisonResult(comparison, results[comparison.subject], results[comparison.reference])


def alternating_runs(
    sides: tuple[SideT, SideT],
    run: Callable[[SideT, int], Run],
    options: argparse.Namespace,
    label: str,
    name: Callable[[SideT], str],
) -> dict[SideT, list[Run]]:
    """A warm-up of each side, then `options.runs` measured runs of each, the two sides taking turns to go
    first, so that drift hits both alike; each run is told on stderr as it ends."""
    for side in sides:
        run(side, options.warmup)
    runs: dict[SideT, list[Run]] = {side: [] for side in sides}
    for number in range(options.runs):
        for side in sides if number % 2 == 0 else sides[::-1]:
            measured = run(side, options.duration)
            runs[side].append(measured)
            print(
                f"{label}: {name(side)}, run {number + 1}: {measured.wrk.requests_per_second:,.0f} req/s",
                file=sys.stderr,
            )
    return runs


# One database


@dataclass(frozen=True)
class DatabaseReport:
    database: str
    results: list[ComparisonResult]
    peak_rss_mib: dict[str, float]


def bench_database(database: str, options: argparse.Namespace, folder: Path) -> DatabaseReport:
    run_id = uuid.uuid4().hex[:8]
    bench_email, viewer_email = f"bench-{run_id}@example.com", f"baseline-{run_id}@example.com"
    with harness.scratch_database(database) as database_url, ExitStack() as servers_running:
        harness.seed(database_url, users=options.users, posts=options.posts, votes=options.votes)
        # The baseline's viewer votes as Postboard's bench user does, on the same posts: one user each.
        harness.run_postboard("create-user", viewer_email, database_url=database_url, stdin=PASSWORD + "\n")
        [(viewer_id,)] = harness.query(database_url, "SELECT id FROM users WHERE email = $1", viewer_email)
        env = server_env(database_url, viewer_id, options)
        servers = {
            app.name: servers_running.enter_context(
                harness.serving(app.command, env, folder / f"{database}-{app.name}.log", harness.SERVER_CPU)
            )
            for app in APPS
        }
        bench_user_id, token = harness.register_and_login(servers["postboard"].url, bench_email, PASSWORD)
        fixtures = Fixtures(
            database_url,
            servers,
            token,
            (bench_user_id, viewer_id),
            post_with_votes(database_url),
            published_ids_file(database_url, folder),
        )
        results = [
            compare(comparison, fixtures, options, database) for comparison in comparisons(options.scenarios)
        ]
        peak_rss = {name: server.peak_rss_mib() for name, server in servers.items()}
    return DatabaseReport(database, results, peak_rss)


def server_env(database_url: str, viewer_id: int, options: argparse.Namespace) -> dict[str, str]:
    """One environment for every app: each reads the settings it knows."""
    return harness.postboard_settings(
        database_url,
        rate_limits=True,
        BASELINE_VIEWER_ID=str(viewer_id),
        BASELINE_POOL_SIZE=str(options.baseline_pool_size),
        BASELINE_POOL_RESET=options.baseline_pool_reset,
    )


def post_with_votes(database_url: str) -> int:
    sql = "SELECT id FROM posts WHERE published AND vote_count > 0 ORDER BY vote_count DESC, id LIMIT 1"
    rows = harness.query(database_url, sql)
    if not rows:
        raise SystemExit("the seeded database has no published post with votes")
    post_id: int = rows[0][0]
    return post_id


def published_ids_file(database_url: str, folder: Path) -> Path:
    path = folder / "published-post-ids.txt"
    rows = harness.query(database_url, "SELECT id FROM posts WHERE published ORDER BY id")
    path.write_text("".join(f"{post_id}\n" for (post_id,) in rows))
    return path


# The report


def summary(runs: Sequence[Run]) -> str:
    return harness.rates([run.wrk for run in runs])


def latencies(runs: Sequence[Run]) -> str:
    return harness.latencies([run.wrk for run in runs])


def cpu_per_request(runs: Sequence[Run]) -> str:
    """Median CPU µs per request of the server, then of PostgreSQL: where each request's cost lands."""
    server = statistics.median(run.cpu_us_per_request(run.server_cpu_seconds) for run in runs)
    database = statistics.median(run.cpu_us_per_request(run.database_cpu_seconds) for run in runs)
    return f"{server:,.0f} / {database:,.0f}"


def ratio_cell(result: ComparisonResult) -> str:
    return harness.median_and_range(result.ratios, ".2f")


def target_cell(result: ComparisonResult) -> str:
    target = result.comparison.subject.scenario.target
    if target is None:
        return "reported"
    return f"≥ {target:g}: {'met' if statistics.median(result.ratios) >= target else 'MISSED'}"


def flags(side: Side, runs: Sequence[Run]) -> list[str]:
    """Runs whose answers were not what the scenario expects (more than 1% off), or lost connections."""
    found = []
    expected_2xx = side.scenario.expected_status < 300
    for run, result in enumerate((run.wrk for run in runs), 1):
        unexpected = result.unexpected_share if expected_2xx else 1 - result.unexpected_share
        if unexpected > UNEXPECTED_SHARE_FLAGGED:
            found.append(
                f"{side.label}, run {run}: {unexpected:.1%} of answers not {side.scenario.expected_status}"
            )
        if result.socket_errors:
            found.append(
                f"{side.label}, run {run}: {result.socket_errors} requests lost to socket errors "
                "or to wrk's 2 s timeout"
            )
    return found


def connections_opened_by_app(report: DatabaseReport) -> dict[str, int]:
    """Per app, over its measured runs (warm-ups excluded); empty on SQLite."""
    opened: dict[str, int] = {}
    for result in report.results:
        for side, runs in (
            (result.comparison.subject, result.subject),
            (result.comparison.reference, result.reference),
        ):
            for run in runs:
                if run.connections_opened is not None:
                    opened[side.app] = opened.get(side.app, 0) + run.connections_opened
    return opened


def database_section(report: DatabaseReport) -> str:
    lines = [
        f"### {report.database}",
        "",
        "| measured | req/s median (min-max) | p50 / p99 ms | CPU µs/req server / db | against "
        "| req/s median (min-max) | p50 / p99 ms | CPU µs/req server / db | ratio (min-max) | target |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    problems = []
    for result in report.results:
        subject, reference = result.comparison.subject, result.comparison.reference
        lines.append(
            f"| {subject.label} | {summary(result.subject)} | {latencies(result.subject)} "
            f"| {cpu_per_request(result.subject)} "
            f"| {reference.label} | {summary(result.reference)} | {latencies(result.reference)} "
            f"| {cpu_per_request(result.reference)} | {ratio_cell(result)} | {target_cell(result)} |"
        )
        problems += flags(subject, result.subject) + flags(reference, result.reference)
    rss = ", ".join(f"{name} {mib:.0f} MiB" for name, mib in report.peak_rss_mib.items())
    lines += ["", f"Peak RSS at the end (VmHWM): {rss}."]
    opened = connections_opened_by_app(report)
    if opened:
        counts = ", ".join(f"{name} {count}" for name, count in opened.items())
        lines += [f"Connections PostgreSQL accepted during the measured runs, in all: {counts}."]
    lines += ["", *(f"- **Flagged:** {problem}" for problem in problems)] if problems else []
    return "\n".join(lines)


def report_text(reports: Sequence[DatabaseReport], options: argparse.Namespace) -> str:
    wrk = harness.wrk_command("URL", connections=options.connections, seconds=options.duration)
    lines = [
        *harness.report_heading("HTTP throughput: `bench/throughput.py`"),
        f"- Servers, one process each on CPU {harness.SERVER_CPU}: `postboard serve --workers 1`, and "
        f"bench/baseline_app.py under `uvicorn {' '.join(UVICORN_OPTIONS)}`, the options "
        "`postboard serve` passes (uvloop, httptools, access log on, no Server header, no proxy headers), "
        "as is bench/unauthenticated_app.py (Postboard's app, its listing without token or session check); "
        f"the baseline's pool: {options.baseline_pool_size} connections, asyncpg's reset on release: "
        f"{options.baseline_pool_reset}.",
        f"- Load on CPU {harness.LOAD_CPU}: `{shlex.join(wrk)}`, with `-H 'Authorization: Bearer ...'` and "
        f"`-s bench/wrk/<script>.lua` as the scenario needs, the same requests to every app, after a "
        f"{options.warmup:g} s warm-up; {options.runs} runs per side, alternating. Ratios are Postboard's "
        "requests/s over its reference's, run pair by run pair.",
        f"- Data: `postboard seed --users {options.users} --posts {options.posts} --votes {options.votes} "
        "--seed 2026`; reads run before the writes.",
        "- CPU µs/req: the CPU time (all threads) of the server process, and of every PostgreSQL process, "
        "over a run, divided by its requests: where each request's cost lands. Both share the two CPUs with "
        "wrk, so a ratio measures the app's cost and PostgreSQL's together.",
    ]
    for report in reports:
        lines += ["", database_section(report)]
    return "\n".join(lines)


def main(options: argparse.Namespace) -> None:
    harness.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="postboard-throughput-") as folder:
        reports = [bench_database(database, options, Path(folder)) for database in options.databases]
    # A run at another concurrency has a section of its own, beside the default's.
    section = SECTION if options.connections == DEFAULT_CONNECTIONS else f"{SECTION}-{options.connections}"
    harness.publish(report_text(reports, options), section, options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument(
        "--databases", nargs="+", choices=["postgresql", "sqlite"], default=["postgresql", "sqlite"]
    )
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIO_NAMES, default=list(SCENARIO_NAMES))
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each side (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before a scenario's runs")
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"wrk connections (default {DEFAULT_CONNECTIONS}; another count has a section of its own)",
    )
    harness.add_seed_options(parser, users=100, posts=1000, votes=2000)
    parser.add_argument("--baseline-pool-size", type=int, default=10)
    parser.add_argument(
        "--baseline-pool-reset",
        choices=["asyncpg", "off"],
        default="off",
        help="off (default): no reset query on release, as Postboard's reads; asyncpg: asyncpg's own default",
    )
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
