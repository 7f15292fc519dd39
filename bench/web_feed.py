"""The web app's feed page against the JSON listing it shows, on the same server, measured in the same run.

For each database, a scratch database is migrated and seeded and one `postboard serve` runs on it, pinned to
CPU 0. A bench user registers, gets a bearer token from `POST /login`, and logs in through the web app's
form (its CSRF token and form cookie) for a browser session cookie. wrk, from CPU 1, loads in turn
`GET /web/` (the feed page: 10 posts, with the cookie) and `GET /posts/?limit=10` (the same 10 posts as
JSON, with the token), alternating run by run; the report gives the ratio of the page's requests/s to the
listing's (target: at least 0.7), and the server's CPU time per request. The same two addresses without
credentials (the page's redirect to the login form, the listing's 401) are measured too, and reported.

    .venv/bin/python bench/web_feed.py                                      # both databases, ~6 minutes
    .venv/bin/python bench/web_feed.py --databases sqlite --duration 3 --runs 1 --no-write
"""

import argparse
import html
import re
import shlex
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import harness
import httpx
from throughput import UNEXPECTED_SHARE_FLAGGED, Run, alternating_runs, cpu_per_request, latencies, summary

SECTION = "web-feed"
PASSWORD = "a long benchmark password"
TARGET = 0.7
FEED = "/web/"
LISTING = "/posts/?limit=10"
SETTLE_SECONDS = 0.5
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
_FEED_TITLE = re.compile(r'<h2><a href="/web/posts/\d+">(.*?)</a></h2>', re.DOTALL)


@dataclass(frozen=True)
class Side:
    title: str
    path: str
    credentials: str | None  # "cookie", "token", or None: anonymous
    expected_status: int


@dataclass(frozen=True)
class Comparison:
    name: str
    page: Side  # measured
    listing: Side  # its reference
    target: float | None


COMPARISONS = (
    Comparison(
        "signed-in",
        Side("GET /web/, session cookie", FEED, "cookie", 200),
        Side("GET /posts/?limit=10, bearer token", LISTING, "token", 200),
        TARGET,
    ),
    Comparison(  # no feed without a login: what each answers a stranger
        "anonymous",
        Side("GET /web/, no cookie (303 to the login form)", FEED, None, 303),
        Side("GET /posts/?limit=10, no token (401)", LISTING, None, 401),
        None,
    ),
)
COMPARISON_NAMES = tuple(comparison.name for comparison in COMPARISONS)


@dataclass(frozen=True)
class Fixtures:
    database_url: str
    server: harness.Server
    token: str
    cookie: str  # `postboard_session=…`

    def headers(self, side: Side) -> list[str]:
        if side.credentials == "cookie":
            return [f"Cookie: {self.cookie}"]
        if side.credentials == "token":
            return [f"Authorization: Bearer {self.token}"]
        return []


def browser_session(server_url: str, email: str, password: str) -> str:
    """The session cookie a browser gets by logging in through the web app's form."""
    with httpx.Client(base_url=server_url, timeout=30) as browser:
        form = browser.get("/web/login")
        token = _CSRF_FIELD.search(form.text)
        if form.status_code != 200 or token is None:
            raise SystemExit(
                f"GET /web/login answered {form.status_code} with no CSRF token: {form.text[:500]}"
            )
        fields = {"email": email, "password": password, "csrf_token": token.group(1)}
        logged_in = browser.post("/web/login", data=fields)
        cookie = logged_in.cookies.get("postboard_session")
        if logged_in.status_code != 303 or cookie is None:
            raise SystemExit(
                f"logging in through the form answered {logged_in.status_code}: {logged_in.text[:500]}"
            )
        return f"postboard_session={cookie}"


def answer(side: Side, fixtures: Fixtures) -> httpx.Response:
    headers = dict(header.split(": ", 1) for header in fixtures.headers(side))
    response = httpx.get(fixtures.server.url + side.path, headers=headers, timeout=30)
    if response.status_code != side.expected_status:
        raise SystemExit(f"{side.title} answered {response.status_code}: {response.text[:500]}")
    return response


def check_same_posts(comparison: Comparison, fixtures: Fixtures) -> list[str]:
    """Both sides answer as expected and, signed in, the page shows the listing's 10 titles in its order."""
    page, listing = answer(comparison.page, fixtures), answer(comparison.listing, fixtures)
    if comparison.page.expected_status != 200:
        return []
    shown = [html.unescape(title) for title in _FEED_TITLE.findall(page.text)]
    listed = [item["Post"]["title"] for item in listing.json()]
    if len(listed) != 10 or shown != listed:
        raise SystemExit(f"the feed page shows {shown}, the listing {listed}")
    return listed


def run_side(side: Side, fixtures: Fixtures, options: argparse.Namespace, seconds: int) -> Run:
    time.sleep(SETTLE_SECONDS)  # the last run's unanswered requests finish before this one starts
    command = harness.wrk_command(
        fixtures.server.url + side.path,
        connections=options.connections,
        seconds=seconds,
        headers=fixtures.headers(side),
    )
    connections_before = harness.connections_accepted(fixtures.database_url)
    server_before, database_before = fixtures.server.cpu_seconds(), harness.postgres_cpu_seconds()
    wrk = harness.run_wrk(command)
    server_cpu = fixtures.server.cpu_seconds() - server_before
    database_cpu = harness.postgres_cpu_seconds() - database_before
    connections_after = harness.connections_accepted(fixtures.database_url)
    opened = None
    if connections_before is not None and connections_after is not None:
        opened = connections_after - connections_before - 1  # the second count's own connection
    return Run(wrk, server_cpu, database_cpu, opened)


@dataclass(frozen=True)
class Result:
    comparison: Comparison
    page: list[Run]
    listing: list[Run]

    @property
    def ratios(self) -> list[float]:
        """The page's requests/s over the listing's, run pair by run pair (each pair back to back)."""
        return [
            p.wrk.requests_per_second / r.wrk.requests_per_second
            for p, r in zip(self.page, self.listing, strict=True)
        ]

    @property
    def cpu_ratios(self) -> list[float]:
        """The listing's server CPU per request over the page's, pair by pair: the same ratio as far as the
        server's own work goes, and steadier than requests/s when other work shares the machine."""
        return [
            r.cpu_us_per_request(r.server_cpu_seconds) / p.cpu_us_per_request(p.server_cpu_seconds)
            for p, r in zip(self.page, self.listing, strict=True)
        ]


def compare(comparison: Comparison, fixtures: Fixtures, options: argparse.Namespace, label: str) -> Result:
    runs = alternating_runs(
        (comparison.listing, comparison.page),
        lambda side, seconds: run_side(side, fixtures, options, seconds),
        options,
        label,
        lambda side: side.title,
    )
    return Result(comparison, runs[comparison.page], runs[comparison.listing])


@dataclass(frozen=True)
class DatabaseReport:
    database: str
    results: list[Result]
    titles: list[str]
    peak_rss_mib: float


def bench_database(database: str, options: argparse.Namespace, folder: Path) -> DatabaseReport:
    email = f"web-bench-{uuid.uuid4().hex[:8]}@example.com"
    with harness.scratch_database(database) as database_url:
        harness.seed(database_url, users=options.users, posts=options.posts, votes=options.votes)
        env = harness.postboard_settings(database_url, rate_limits=True)
        log = folder / f"{database}-postboard.log"
        with harness.serving(harness.POSTBOARD_SERVE, env, log, harness.SERVER_CPU) as server:
            _, token = harness.register_and_login(server.url, email, PASSWORD)
            fixtures = Fixtures(database_url, server, token, browser_session(server.url, email, PASSWORD))
            chosen = [comparison for comparison in COMPARISONS if comparison.name in options.comparisons]
            titles: list[str] = []
            for comparison in chosen:  # every check before any load
                titles = check_same_posts(comparison, fixtures) or titles
            results = [compare(comparison, fixtures, options, database) for comparison in chosen]
            peak_rss = server.peak_rss_mib()
    return DatabaseReport(database, results, titles, peak_rss)


# The report


def target_cell(result: Result) -> str:
    target = result.comparison.target
    if target is None:
        return "reported"
    return f"≥ {target:g}: {'met' if statistics.median(result.ratios) >= target else 'MISSED'}"


def flags(side: Side, runs: Sequence[Run]) -> list[str]:
    """Runs with more than 1% of answers not of the expected kind (wrk counts 2xx and 3xx as one), or
    with lost connections."""
    found = []
    expected_success = side.expected_status < 400
    for number, wrk in enumerate((run.wrk for run in runs), 1):
        unexpected = wrk.unexpected_share if expected_success else 1 - wrk.unexpected_share
        if unexpected > UNEXPECTED_SHARE_FLAGGED:
            found.append(
                f"{side.title}, run {number}: {unexpected:.1%} of answers not {side.expected_status}"
            )
        if wrk.socket_errors:
            found.append(f"{side.title}, run {number}: {wrk.socket_errors} requests lost to socket errors")
    return found


def database_section(report: DatabaseReport) -> str:
    lines = [
        f"### {report.database}",
        "",
        "| measured | req/s median (min-max) | p50 / p99 ms | CPU µs/req server / db | against "
        "| req/s median (min-max) | p50 / p99 ms | CPU µs/req server / db | ratio (min-max) | target "
        "| ratio by server CPU/req (min-max) |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    problems = []
    for result in report.results:
        page, listing = result.comparison.page, result.comparison.listing
        lines.append(
            f"| {page.title} | {summary(result.page)} | {latencies(result.page)} "
            f"| {cpu_per_request(result.page)} "
            f"| {listing.title} | {summary(result.listing)} | {latencies(result.listing)} "
            f"| {cpu_per_request(result.listing)} | {harness.median_and_range(result.ratios, '.2f')} "
            f"| {target_cell(result)} | {harness.median_and_range(result.cpu_ratios, '.2f')} |"
        )
        problems += flags(page, result.page) + flags(listing, result.listing)
    lines += ["", f"Peak RSS of the server at the end (VmHWM): {report.peak_rss_mib:.0f} MiB."]
    if report.titles:
        lines += [
            f"Checked before the load: the page shows the listing's 10 posts ({report.titles[0]!r}, …)."
        ]
    lines += ["", *(f"- **Flagged:** {problem}" for problem in problems)] if problems else []
    return "\n".join(lines)


def report_text(reports: Sequence[DatabaseReport], options: argparse.Namespace) -> str:
    wrk = harness.wrk_command("URL", connections=options.connections, seconds=options.duration)
    lines = [
        *harness.report_heading("Web feed: `bench/web_feed.py`"),
        f"- Server on CPU {harness.SERVER_CPU}: one `postboard serve --workers 1`, throttling at its "
        "default, serving both sides.",
        f"- Load on CPU {harness.LOAD_CPU}: `{shlex.join(wrk)}`, with `-H 'Cookie: postboard_session=...'` "
        "(from a login through the web form) for the page and `-H 'Authorization: Bearer ...'` for the "
        f"listing, the same user; after a {options.warmup:g} s warm-up, {options.runs} runs per side, "
        "alternating. Ratio: the page's requests/s over the listing's, run pair by run pair.",
        f"- Data: `postboard seed --users {options.users} --posts {options.posts} --votes {options.votes} "
        "--seed 2026`.",
        "- CPU µs/req: the CPU time of the server process, and of every PostgreSQL process, over a run, "
        "divided by its requests. Ratio by server CPU/req: the listing's over the page's, pair by pair (the "
        "server's own work only; steadier than requests/s when other work shares the machine).",
    ]
    for report in reports:
        lines += ["", database_section(report)]
    return "\n".join(lines)


def main(options: argparse.Namespace) -> None:
    harness.ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="postboard-web-feed-") as folder:
        reports = [bench_database(database, options, Path(folder)) for database in options.databases]
    harness.publish(report_text(reports, options), SECTION, options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument(
        "--databases", nargs="+", choices=["postgresql", "sqlite"], default=["postgresql", "sqlite"]
    )
    parser.add_argument("--comparisons", nargs="+", choices=COMPARISON_NAMES, default=list(COMPARISON_NAMES))
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each side (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before a comparison's runs")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    harness.add_seed_options(parser, users=100, posts=1000, votes=2000)
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
