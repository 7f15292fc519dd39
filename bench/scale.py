"""Latency at scale: a small and a large seeded database side by side, the same requests to both.

For each database engine, two scratch databases are seeded with `postboard seed` (small: 1,000 posts;
large: 1,000,000 posts, 100,000 users and 5,000,000 votes on PostgreSQL, 100,000 posts on SQLite), and
`postboard serve` runs on each (one worker, both pinned to CPU 0). A closed loop of 4 connections from
CPU 1 times each scenario on the small and the large board in turn, several runs, alternating; the
report gives p50 / p90 / p99, the ratio of the large board's p50 to the small one's, and, on PostgreSQL,
the plans of the listing's statement on the large database.

    .venv/bin/python bench/scale.py                                  # both engines, ~15 minutes
    .venv/bin/python bench/scale.py --databases postgresql --large 1000 20000 50000 --runs 1 --no-write

Why a closed loop: the targets are p50s with 4 requests in flight, as the issue measured them. A closed
loop of 4 connections holds exactly 4 in flight whatever the server's speed, so the large and the small
board are compared at the same concurrency; an open loop at a fixed rate would put more requests in
flight on the slower board (rate times latency) and measure its queue as well as its work.
"""

import argparse
import asyncio
import itertools
import json
import math
import os
import re
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import asyncpg
import harness
import httpx
import throughput
import uvloop
from open_loop import HttpClient, LatencyReport, Outcome, Target
from sqlalchemy import Dialect, make_url

from postboard.auth.reads import CallerRead
from postboard.orm import utc_now
from postboard.posts.cursors import PageCursor
from postboard.posts.service import listing_read

SECTION = "scale"
SEED = "2026"
PASSWORD = "a long benchmark password"
LIMIT = 10
SKIP = 10_000
KEYSET_DEPTH = 10_000  # the keyset page starts where the `skip` page does
VOTE_POSTS = 500  # the most-voted published posts, voted on in turn
RATIO_TARGET = 1.5
SEARCH_TARGET_MS = 20.0
# Search words are picked from the large board's titles by the share of visible posts they match.
SEARCH_SHARES = {"rare": 0.0001, "common": 0.03}
NO_MATCH_WORD = "zyxwv"
TITLE_WORD = re.compile(r"[a-z]{4,}")  # shorter words are substrings of too many others
WORD_CANDIDATES = 20
PLAN_CACHE_ROUNDS = 10


@dataclass(frozen=True)
class Sizes:
    users: int
    posts: int
    votes: int

    def seed_arguments(self) -> list[str]:
        counts = ("--users", self.users, "--posts", self.posts, "--votes", self.votes, "--seed", SEED)
        return [str(part) for part in counts]


@dataclass(frozen=True)
class Board:
    """A seeded database with `postboard serve` up on it, and a logged-in bench user."""

    name: str  # "small" or "large"
    database_url: str
    server_url: str
    user_id: int
    login_session_id: str
    token: str

    def target(self, path: str, method: str = "GET", body: bytes = b"") -> Target:
        headers = [f"Authorization: Bearer {self.token}"]
        if body:
            headers.append("Content-Type: application/json")
        return Target.from_url(self.server_url + path, method, headers, body)

    def get_json(self, path: str) -> Any:
        response = httpx.get(
            self.server_url + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )
        if response.status_code != 200:
            raise SystemExit(f"{self.name}: GET {path} answered {response.status_code}: {response.text}")
        return response.json()

    def session_parameters(self) -> dict[str, Any]:
        """The parameters every caller's read takes (postboard/auth/reads.py)."""
        return {"user_id": self.user_id, "login_session_id": self.login_session_id, "now": utc_now()}


# What the scenarios send


Words = dict[str, str]  # "rare", "common", "none": the word searched for
Load = tuple[list[Target], str]  # the requests, sent in turn; what they address, for the report


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    load: Callable[[Board, Words], Load]
    goal: Literal["ratio", "search"] | None = None  # ratio: large p50 ≤ 1.5 small p50; search: < 20 ms
    expected_status: int = 200
    resets_votes: bool = False  # the bench user's votes are deleted after each run


def first_page(board: Board, _words: Words) -> Load:
    return [board.target(f"/posts/?limit={LIMIT}")], ""


def skipped_page(board: Board, _words: Words) -> Load:
    return [board.target(f"/posts/?limit={LIMIT}&skip={SKIP}")], ""


def keyset_page(board: Board, _words: Words) -> Load:
    depth, cursor = keyset_cursor(board)
    path = f"/posts/?limit={LIMIT}&before={cursor}"
    if board.get_json(path) != board.get_json(f"/posts/?limit={LIMIT}&skip={depth}"):
        raise SystemExit(f"{board.name}: the page before cursor {cursor} is not the page at skip={depth}")
    return [board.target(path)], f"after the post at position {depth:,}"


def keyset_cursor(board: Board) -> tuple[int, PageCursor]:
    """The cursor the API gives for the post at KEYSET_DEPTH (or deep enough for a full page, when the
    board is smaller), and the `skip` that reads the same page."""
    [(visible,)] = harness.query(board.database_url, "SELECT count(*) FROM posts WHERE published")
    depth = min(KEYSET_DEPTH, visible - LIMIT)
    sql = (
        "SELECT created_at, id FROM posts WHERE published ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1"
    )
    [(created_at, post_id)] = harness.query(board.database_url, sql, depth - 1)
    return depth, PageCursor(created_at, post_id)


def most_voted_post(board: Board, _words: Words) -> Load:
    post_id = throughput.post_with_votes(board.database_url)
    return [board.target(f"/posts/{post_id}")], describe_post(board, post_id)


def ordinary_post(board: Board, _words: Words) -> Load:
    sql = "SELECT min(id) FROM posts WHERE published AND id >= (SELECT max(id) / 2 FROM posts)"
    [(post_id,)] = harness.query(board.database_url, sql)
    return [board.target(f"/posts/{post_id}")], describe_post(board, post_id)


def describe_post(board: Board, post_id: int) -> str:
    [(votes,)] = harness.query(board.database_url, "SELECT vote_count FROM posts WHERE id = $1", post_id)
    return f"post {post_id}, vote count {votes:,}"


def vote_requests(board: Board, _words: Words) -> Load:
    """dir 1 on each post, then dir 0 on each: with more posts than connections, every vote is a 201."""
    sql = "SELECT id FROM posts WHERE published ORDER BY vote_count DESC, id LIMIT $1"
    post_ids = [post_id for (post_id,) in harness.query(board.database_url, sql, VOTE_POSTS)]
    targets = [
        board.target("/vote/", "POST", json.dumps({"post_id": post_id, "dir": direction}).encode())
        for direction in (1, 0)
        for post_id in post_ids
    ]
    return targets, f"the {len(post_ids):,} most-voted posts, post {post_ids[0]} first"


def search_page(kind: str, board: Board, words: Words) -> Load:
    word = words[kind]
    [(matches,)] = harness.query(
        board.database_url,
        "SELECT count(*) FROM posts WHERE published AND lower(title) LIKE $1",
        f"%{word}%",
    )
    return [board.target(f"/posts/?limit={LIMIT}&search={word}")], f"'{word}' in {matches:,} titles"


LISTING = (
    Scenario("first", "GET /posts/?limit=10", first_page, goal="ratio"),
    Scenario("skip", f"GET /posts/?limit=10&skip={SKIP}", skipped_page, goal="ratio"),
    Scenario("keyset", "GET /posts/?limit=10&before=…", keyset_page),
    Scenario("most-voted", "GET /posts/{id}, the most-voted post", most_voted_post, goal="ratio"),
    Scenario("ordinary", "GET /posts/{id}, an ordinary post", ordinary_post),
)
SEARCH = tuple(
    Scenario(f"search-{kind}", f"GET /posts/?search=, {title}", partial(search_page, kind), goal="search")
    for kind, title in (("rare", "a rare word"), ("common", "a common word"), ("none", "a word in no title"))
)
VOTE = Scenario(
    "vote", "POST /vote/, dir 1 then 0", vote_requests, goal="ratio", expected_status=201, resets_votes=True
)


def choose_words(database_url: str) -> Words:
    """A rare and a common word of the visible titles, by the share of titles they appear in."""
    titles = [
        title.lower() for (title,) in harness.query(database_url, "SELECT title FROM posts WHERE published")
    ]
    counts = Counter(word for title in titles for word in set(TITLE_WORD.findall(title)))
    chosen = {
        kind: closest_word(titles, counts, share * len(titles)) for kind, share in SEARCH_SHARES.items()
    }
    return {**chosen, "none": NO_MATCH_WORD}


def closest_word(titles: Sequence[str], counts: Counter[str], wanted: float) -> str:
    """The word in the number of titles nearest WANTED (by ratio; ties alphabetically, so repeatable).
    Search matches substrings ("ansa" in "Ansaquil"): the words nearest by their own count are ranked
    again by the titles that contain them anywhere."""
    nearest = sorted(counts, key=lambda word: (distance(counts[word], wanted), word))[:WORD_CANDIDATES]
    containing = {word: sum(word in title for title in titles) for word in nearest}
    return min(nearest, key=lambda word: (distance(containing[word], wanted), word))


def distance(count: int, wanted: float) -> float:
    return abs(math.log(count / wanted))


# Timing


async def closed_loop(targets: Sequence[Target], connections: int, seconds: float) -> LatencyReport:
    """CONNECTIONS clients, each sending the next of TARGETS (in turn) as soon as its last request is
    answered, for SECONDS; each request is timed from its send to its answer."""
    client = HttpClient(targets[0].host, targets[0].port, max_connections=connections)
    report = LatencyReport(rate=0.0, scheduled=0)  # a closed loop schedules nothing ahead
    turns = itertools.count()
    started = time.perf_counter()

    async def one_connection() -> None:
        while time.perf_counter() - started < seconds:
            request = targets[next(turns) % len(targets)].request
            sent = time.perf_counter()
            record(report, await client.request(request), time.perf_counter() - sent)

    try:
        await asyncio.gather(*(one_connection() for _ in range(connections)))
    finally:
        await client.close()
    report.elapsed = time.perf_counter() - started
    report.latencies.sort()
    return report


def record(report: LatencyReport, outcome: Outcome, latency: float) -> None:
    report.scheduled += 1
    if isinstance(outcome, int):
        report.latencies.append(latency)
        report.statuses[outcome] += 1
    else:
        report.transport_errors[outcome] += 1


def unexpected(report: LatencyReport, expected_status: int) -> int:
    return report.scheduled - report.statuses[expected_status]


def outcomes(report: LatencyReport) -> str:
    return f"statuses {dict(report.statuses)}, lost {dict(report.transport_errors)}"


@dataclass
class ScenarioResult:
    scenario: Scenario
    addressed: dict[str, str] = field(default_factory=dict)  # board name: what the requests address
    runs: dict[str, list[LatencyReport]] = field(default_factory=dict)  # board name: its timed runs

    def p50_ms(self, board: str) -> float:
        return statistics.median(run.percentile(50) for run in self.runs[board]) * 1000

    @property
    def ratios(self) -> list[float]:
        """Large over small, run pair by run pair: each pair ran back to back, under the same noise."""
        return [
            large.percentile(50) / small.percentile(50)
            for small, large in zip(self.runs["small"], self.runs["large"], strict=True)
        ]


def run_load(
    board: Board, scenario: Scenario, targets: Sequence[Target], seconds: float, options: argparse.Namespace
) -> LatencyReport:
    report = uvloop.run(closed_loop(targets, options.connections, seconds))
    if scenario.resets_votes:
        # Every request was answered before the loop returned, so no vote lands after this.
        harness.query(board.database_url, "DELETE FROM votes WHERE user_id = $1", board.user_id)
    return report


def measure(
    scenario: Scenario, boards: dict[str, Board], words: Words, options: argparse.Namespace
) -> ScenarioResult:
    result = ScenarioResult(scenario)
    loads = {}
    for name, board in boards.items():
        loads[name], result.addressed[name] = scenario.load(board, words)
        warmup = run_load(board, scenario, loads[name], options.warmup, options)
        if unexpected(warmup, scenario.expected_status):
            raise SystemExit(f"{name} {scenario.title}: the warm-up answered {outcomes(warmup)}")
        result.runs[name] = []
    for run in range(options.runs):
        order = list(boards) if run % 2 == 0 else list(boards)[::-1]  # drift hits both boards alike
        for name in order:
            report = run_load(boards[name], scenario, loads[name], options.duration, options)
            result.runs[name].append(report)
            print(
                f"{scenario.name}: {name}, run {run + 1}: p50 {report.percentile(50) * 1000:.2f} ms",
                file=sys.stderr,
            )
    return result


# Plans


# The listing's statements, as postboard/posts/service.py builds them: (searching, after a cursor).
LISTING_READ, KEYSET_READ, SEARCH_READ = (
    listing_read(False, False),
    listing_read(False, True),
    listing_read(True, False),
)
# The dialects of the app's drivers, which compile without a connection.
ASYNCPG = make_url("postgresql+asyncpg://").get_dialect()()
AIOSQLITE = make_url("sqlite+aiosqlite://").get_dialect()()


@dataclass(frozen=True)
class Plan:
    title: str
    lines: list[str]


def compiled(read: CallerRead, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
    """The SQL of a read and its parameters' names in order, as postboard/reads.py compiles it."""
    statement = read.statement.compile(dialect=dialect)
    return statement.string, tuple(statement.positiontup or ())


def postgresql_plans(board: Board, words: Words) -> list[Plan]:
    """EXPLAIN (ANALYZE, BUFFERS) of the listing's statements as the app sends them, with its parameters;
    and whether PostgreSQL keeps planning them per execution once they are prepared."""
    depth, cursor = keyset_cursor(board)
    listing = {**board.session_parameters(), "limit": LIMIT, "skip": 0}
    keyset = {**listing, "cursor_created_at": cursor.created_at, "cursor_id": cursor.post_id}
    searches = {kind: {**listing, "search": word} for kind, word in words.items()}
    plans = [
        Plan(f"GET /posts/?limit=10&skip={SKIP}", explain(board, LISTING_READ, {**listing, "skip": SKIP})),
        Plan(
            f"GET /posts/?limit=10&before=… (after position {depth:,})", explain(board, KEYSET_READ, keyset)
        ),
    ]
    plans += [
        Plan(
            f"GET /posts/?limit=10&search={words[kind]} ({kind} word)",
            explain(board, SEARCH_READ, searches[kind]),
        )
        for kind in ("rare", "common")
    ]
    cache = [
        plan_cache_line(board, "search", SEARCH_READ, list(searches.values())),
        plan_cache_line(board, "listing", LISTING_READ, [listing, {**listing, "skip": SKIP}]),
    ]
    return [*plans, Plan("Plan cache (asyncpg prepares every statement)", cache)]


def explain(board: Board, read: CallerRead, parameters: dict[str, Any]) -> list[str]:
    sql, names = compiled(read, ASYNCPG)
    arguments = [parameters[name] for name in names]
    rows = harness.query(board.database_url, f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *arguments)
    return [line for (line,) in rows]


def plan_cache_line(board: Board, name: str, read: CallerRead, parameter_sets: list[dict[str, Any]]) -> str:
    sql, names = compiled(read, ASYNCPG)
    argument_sets = [[parameters[name] for name in names] for parameters in parameter_sets]
    generic, custom = asyncio.run(count_plans(board.database_url, sql, argument_sets))
    return (
        f"the {name} statement, prepared on one connection and run {PLAN_CACHE_ROUNDS} times with each of "
        f"{len(parameter_sets)} parameter sets in turn: {custom} custom plans, {generic} generic plans"
    )


async def count_plans(database_url: str, sql: str, argument_sets: list[list[Any]]) -> tuple[int, int]:
    """After 5 executions of a prepared statement PostgreSQL may switch to one generic plan for every
    parameter value: pg_prepared_statements counts which it used."""
    connection = await asyncpg.connect(harness.plain_postgres_url(database_url))
    try:
        statement = await connection.prepare(sql)
        for _ in range(PLAN_CACHE_ROUNDS):
            for arguments in argument_sets:
                await statement.fetch(*arguments)
        counts = await connection.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1", sql
        )
    finally:
        await connection.close()
    return counts["generic_plans"], counts["custom_plans"]


def sqlite_plans(board: Board, _words: Words) -> list[Plan]:
    sql, names = compiled(SEARCH_READ, AIOSQLITE)
    rows = harness.query(board.database_url, f"EXPLAIN QUERY PLAN {sql}", *[None] * len(names))
    return [Plan("GET /posts/?search=… (EXPLAIN QUERY PLAN)", [row[-1] for row in rows])]


# One engine


@dataclass(frozen=True)
class Engine:
    name: str  # harness.scratch_database's kind
    title: str
    reads: tuple[Scenario, ...]
    writes: tuple[Scenario, ...]  # measured after the plans are taken: votes change the posts' pages
    plans: Callable[[Board, Words], list[Plan]]
    targets_apply: bool  # the targets are PostgreSQL's


ENGINES = {
    "postgresql": Engine("postgresql", "PostgreSQL", LISTING + SEARCH, (VOTE,), postgresql_plans, True),
    "sqlite": Engine("sqlite", "SQLite", SEARCH, (), sqlite_plans, False),
}


@dataclass(frozen=True)
class EngineReport:
    engine: Engine
    sizes: dict[str, Sizes]
    seed_seconds: dict[str, float]
    results: list[ScenarioResult]
    plans: list[Plan]


def bench_engine(
    engine: Engine, sizes: dict[str, Sizes], options: argparse.Namespace, folder: Path
) -> EngineReport:
    with ExitStack() as stack:
        urls = {name: stack.enter_context(harness.scratch_database(engine.name)) for name in sizes}
        seed_seconds = {name: seed(urls[name], sizes[name]) for name in sizes}
        words = choose_words(urls["large"])
        boards = {
            name: stack.enter_context(serving_board(name, url, folder / f"{engine.name}-{name}.log"))
            for name, url in urls.items()
        }
        results = [measure(scenario, boards, words, options) for scenario in engine.reads]
        plans = engine.plans(boards["large"], words)
        results += [measure(scenario, boards, words, options) for scenario in engine.writes]
    return EngineReport(engine, sizes, seed_seconds, results, plans)


def seed(database_url: str, sizes: Sizes) -> float:
    started = time.monotonic()
    harness.run_postboard("seed", *sizes.seed_arguments(), database_url=database_url)
    seconds = time.monotonic() - started
    print(f"postboard seed {' '.join(sizes.seed_arguments())}: {seconds:.0f} s", file=sys.stderr)
    return seconds


@contextmanager
def serving_board(name: str, database_url: str, log_path: Path) -> Iterator[Board]:
    command = (*harness.POSTBOARD, "serve", "--host", "127.0.0.1", "--workers", "1")
    env = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": os.urandom(32).hex(),
        "ACCESS_TOKEN_EXPIRE_MINUTES": "1440",  # outlives any run
    }
    with harness.serving(command, env, log_path, harness.SERVER_CPU) as server:
        email = f"scale-{uuid.uuid4().hex[:8]}@example.com"
        user_id, token = harness.register_and_login(server.url, email, PASSWORD)
        sql = "SELECT id FROM login_sessions WHERE user_id = $1"
        [(login_session_id,)] = harness.query(database_url, sql, user_id)
        yield Board(name, database_url, server.url, user_id, login_session_id, token)


# The report


def latency_cell(result: ScenarioResult, board: str) -> str:
    runs = result.runs[board]
    return " / ".join(
        f"{statistics.median(run.percentile(percent) for run in runs) * 1000:.1f}" for percent in (50, 90, 99)
    )


def ratio_cell(result: ScenarioResult) -> str:
    ratios = result.ratios
    spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
    return f"{statistics.median(ratios):.2f}{spread}"


def target_cell(result: ScenarioResult, targets_apply: bool) -> str:
    goal = result.scenario.goal
    if goal is None or not targets_apply:
        return "reported"
    if goal == "ratio":
        met = statistics.median(result.ratios) <= RATIO_TARGET
        return f"ratio ≤ {RATIO_TARGET:g}: {'met' if met else 'MISSED'}"
    met = result.p50_ms("large") < SEARCH_TARGET_MS
    return f"large p50 < {SEARCH_TARGET_MS:g} ms: {'met' if met else 'MISSED'}"


def flags(result: ScenarioResult) -> list[str]:
    """Runs that got answers other than the scenario's status, or lost requests."""
    found = []
    for board, runs in result.runs.items():
        for number, run in enumerate(runs, 1):
            if unexpected(run, result.scenario.expected_status):
                found.append(f"{board} {result.scenario.title}, run {number}: {outcomes(run)}")
    return found


def engine_section(report: EngineReport) -> str:
    sizes = ", ".join(
        f"{name}: `postboard seed {' '.join(size.seed_arguments())}` ({report.seed_seconds[name]:.0f} s)"
        for name, size in report.sizes.items()
    )
    lines = [
        f"### {report.engine.title}",
        "",
        f"Data: {sizes}.",
        "",
        "| scenario | small p50 / p90 / p99 ms | large p50 / p90 / p99 ms | large / small p50 (min-max) "
        "| target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for result in report.results:
        lines.append(
            f"| {result.scenario.title} | {latency_cell(result, 'small')} | {latency_cell(result, 'large')} "
            f"| {ratio_cell(result)} | {target_cell(result, report.engine.targets_apply)} |"
        )
    lines += ["", "What the requests addressed:", ""]
    for result in report.results:
        addressed = "; ".join(f"{board}: {what}" for board, what in result.addressed.items() if what)
        lines += [f"- {result.scenario.title}: {addressed}"] if addressed else []
    problems = [problem for result in report.results for problem in flags(result)]
    lines += ["", *(f"- **Flagged:** {problem}" for problem in problems)] if problems else []
    lines += ["", f"Plans on the large database ({report.sizes['large'].posts:,} posts):"]
    for plan in report.plans:
        lines += ["", f"{plan.title}:", "", "```", *plan.lines, "```"]
    return "\n".join(lines)


def report_text(
    reports: Sequence[EngineReport], options: argparse.Namespace, load_averages: tuple[float, float]
) -> str:
    lines = [
        "## Latency at scale: `bench/scale.py`",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python {shlex.join(sys.argv)}`.",
        "",
        *harness.machine_lines(),
        f"- Load average (1 minute) at the start and at the end: {load_averages[0]:.1f} and "
        f"{load_averages[1]:.1f} on {os.cpu_count()} cores; other work shares them.",
        f"- Servers: `postboard serve --workers 1` on the small and on the large database, both up, both on "
        f"CPU {harness.SERVER_CPU}; PostgreSQL itself is not pinned.",
        f"- Load on CPU {harness.LOAD_CPU}: a closed loop of {options.connections} keep-alive connections "
        "(bench/open_loop.py's client), each sending its next request when its last is answered; latency "
        f"from send to answer. Each scenario: {options.warmup:g} s of warm-up on each board, then "
        f"{options.runs} runs of {options.duration:g} s on each, alternating which board goes first. "
        "Cells are the medians of the runs' percentiles; the ratio is the large board's p50 over the small "
        "one's, run pair by run pair.",
        f"- Targets (PostgreSQL only): large p50 ≤ {RATIO_TARGET:g} times small p50 for the first page, "
        f"`skip={SKIP}`, the most-voted post and voting; search p50 under {SEARCH_TARGET_MS:g} ms on the "
        "large board. Plans are taken after the reads were timed, before the votes.",
    ]
    return "\n\n".join(["\n".join(lines), *(engine_section(report) for report in reports)])


def main(options: argparse.Namespace) -> None:
    if harness.can_pin():
        os.sched_setaffinity(0, {harness.LOAD_CPU})  # the servers are started on SERVER_CPU by taskset
    sizes = {
        "postgresql": {"small": Sizes(*options.small), "large": Sizes(*options.large)},
        "sqlite": {"small": Sizes(*options.small), "large": Sizes(*options.sqlite)},
    }
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="postboard-scale-") as folder:
        reports = [
            bench_engine(ENGINES[name], sizes[name], options, Path(folder)) for name in options.databases
        ]
    harness.publish(report_text(reports, options, (load_at_start, os.getloadavg()[0])), SECTION, options)


def parse_options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--databases", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    sizes = {
        "small": ((100, 1000, 2000), "the small board of both engines"),
        "large": ((100_000, 1_000_000, 5_000_000), "PostgreSQL's large board"),
        "sqlite": ((10_000, 100_000, 500_000), "SQLite's large board"),
    }
    for name, (default, board) in sizes.items():
        parser.add_argument(
            f"--{name}",
            nargs=3,
            type=int,
            default=default,
            metavar=("USERS", "POSTS", "VOTES"),
            help=f"the seed of {board} (default {' '.join(map(str, default))})",
        )
    parser.add_argument("--connections", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs on each board (default 5)")
    parser.add_argument("--duration", type=float, default=5, help="seconds of each run (default 5)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before a scenario's runs")
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
