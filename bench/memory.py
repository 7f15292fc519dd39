"""One worker's memory through 200,000 mixed requests with login storms (target 7).

The target: one worker's RSS stays under 150 MB through 200,000 requests that include a login storm, with
no growth in the last half.

`postboard serve` (one worker pinned to CPU 0; RATE_LIMITS=off so that every login reaches the password
check; PASSWORD_HASHING_THREADS at its default) runs on a seeded scratch database, PostgreSQL by default.
CLIENTS clients on CPU 1 send REQUESTS requests back to back (a closed loop), in a cycle of 2,000 that
mixes reads (listing, one post), writes (new posts, votes and unvotes), registrations, refreshes, 401s,
failed logins, and halfway through, a login storm: 32 logins in a row, so that every client logs in at
once (three in four with the right password). Each client has an account of its own for its reads and
writes; logins go over the seeded accounts; refreshes trade the refresh tokens the logins and earlier
refreshes handed out.

The server's VmRSS is read from /proc/<pid>/status every SAMPLE_EVERY answers, at the same point of the
cycle, away from the storm, and its VmHWM (the peak) at the end. "No growth" means that the RSS after the
last answer is at most 5 MB above the RSS half-way: a leak of 50 bytes a request would add that over the
last 100,000, while smaller moves come and go with the allocator and the database driver's caches.

    .venv/bin/python bench/memory.py                # PostgreSQL, 200,000: ~20 min on a busy 2-core box
    .venv/bin/python bench/memory.py --database sqlite
    .venv/bin/python bench/memory.py --requests 20000 --no-write    # a quick trial
"""

import argparse
import asyncio
import itertools
import json
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlencode

import harness
import uvloop
from open_loop import HttpClient, Outcome, Target

SECTION = "memory"
TARGET_PEAK_MB = 150.0  # the server's VmHWM, below
NO_GROWTH_MB = 5.0  # RSS at the end over RSS half-way, at most
MB = 1e6  # the target's megabytes; /proc counts KiB
REQUEST_TIMEOUT_SECONDS = 30.0
PASSWORD = "a long benchmark password"


class Kind(StrEnum):
    LIST = "GET /posts/?limit=10"
    GET = "GET /posts/{id}"
    CREATE = "POST /posts/"
    VOTE = "POST /vote/"
    REFRESH = "POST /token/refresh"
    BAD_TOKEN = "GET /posts/{id}, Bearer garbage"
    REGISTER = "POST /users/"
    LOGIN = "POST /login"
    FAILED_LOGIN = "POST /login, wrong password"


EXPECTED = {
    Kind.LIST: 200,
    Kind.GET: 200,
    Kind.CREATE: 201,
    Kind.VOTE: 201,
    Kind.REFRESH: 200,
    Kind.BAD_TOKEN: 401,
    Kind.REGISTER: 201,
    Kind.LOGIN: 200,
    Kind.FAILED_LOGIN: 403,
}
# One cycle: these spread evenly over it, with the storm in the middle.
SPREAD = {
    Kind.LIST: 700,
    Kind.GET: 500,
    Kind.CREATE: 200,
    Kind.VOTE: 200,
    Kind.REFRESH: 100,
    Kind.BAD_TOKEN: 260,
    Kind.REGISTER: 4,
    Kind.FAILED_LOGIN: 4,
}
STORM = [Kind.FAILED_LOGIN if position % 4 == 3 else Kind.LOGIN for position in range(32)]
REFRESH_TOKENS_KEPT = 1000  # the newest; older sessions just stay in the database


def request_cycle() -> list[Kind]:
    """The kinds of one cycle in order: the spread ones evenly interleaved, the storm halfway."""
    places = sorted(((index + 0.5) / count, kind) for kind, count in SPREAD.items() for index in range(count))
    spread = [kind for _, kind in places]
    middle = len(spread) // 2
    return [*spread[:middle], *STORM, *spread[middle:]]


CYCLE = request_cycle()


@dataclass
class Client:
    """One of the concurrent clients, with an account of its own."""

    token: str
    votes_cast: int = 0


@dataclass
class Load:
    """Makes each kind of request, and keeps what the answers hand back and how they went."""

    server: harness.Server
    seeded_emails: list[str]
    post_ids: list[int]  # published
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    refresh_tokens: deque[str] = field(default_factory=lambda: deque(maxlen=REFRESH_TOKENS_KEPT))
    answers: dict[Kind, Counter[Outcome]] = field(default_factory=dict)
    sequence: Iterator[int] = field(default_factory=itertools.count)  # spreads the requests over rows

    def request(self, kind: Kind, client: Client) -> bytes:
        n = next(self.sequence)
        post_path = f"/posts/{self.post_ids[n % len(self.post_ids)]}"
        email = self.seeded_emails[n % len(self.seeded_emails)]
        match kind:
            case Kind.LIST:
                return self._http("GET", "/posts/?limit=10", client.token)
            case Kind.GET:
                return self._http("GET", post_path, client.token)
            case Kind.CREATE:
                return self._json("/posts/", {"title": f"Post {n}", "content": "Memory bench."}, client.token)
            case Kind.VOTE:
                return self._vote(client)
            case Kind.REFRESH:
                # A token never issued (a 401, counted as unexpected) only if every refresh so far failed.
                token = self.refresh_tokens.popleft() if self.refresh_tokens else "none left"
                return self._json("/token/refresh", {"refresh_token": token})
            case Kind.BAD_TOKEN:
                return self._http("GET", post_path, "garbage")
            case Kind.REGISTER:
                return self._json(
                    "/users/", {"email": f"new-{self.run_id}-{n}@example.com", "password": PASSWORD}
                )
            case Kind.LOGIN:
                return self._login(email, harness.SEEDED_PASSWORD)
            case Kind.FAILED_LOGIN:
                return self._login(email, "a wrong password")

    def answered(self, kind: Kind, outcome: Outcome, body: bytes) -> None:
        self.answers.setdefault(kind, Counter())[outcome] += 1
        if kind in (Kind.LOGIN, Kind.REFRESH) and outcome == 200:
            self.keep_refresh_token(body)

    def keep_refresh_token(self, body: bytes) -> None:
        self.refresh_tokens.append(json.loads(body)["refresh_token"])

    def _vote(self, client: Client) -> bytes:
        """Over the published posts in turn, adding the client's vote on the first pass and taking it back
        on the next, so that every vote is a real change (201)."""
        passes, position = divmod(client.votes_cast, len(self.post_ids))
        client.votes_cast += 1
        return self._json("/vote/", {"post_id": self.post_ids[position], "dir": 1 - passes % 2}, client.token)

    def _login(self, email: str, password: str) -> bytes:
        form = urlencode({"username": email, "password": password}).encode()
        return self._http("POST", "/login", None, form, "application/x-www-form-urlencoded")

    def _json(self, path: str, body: dict[str, object], token: str | None = None) -> bytes:
        return self._http("POST", path, token, json.dumps(body).encode(), "application/json")

    def _http(
        self, method: str, path: str, token: str | None, body: bytes = b"", content_type: str | None = None
    ) -> bytes:
        headers = [f"Authorization: Bearer {token}"] if token else []
        headers += [f"Content-Type: {content_type}"] if content_type else []
        return Target.from_url(f"{self.server.url}{path}", method, headers, body).request


@dataclass
class RssSampler:
    """The server's VmRSS after every SAMPLE_EVERY answers (a whole number of cycles, so always at the
    same point of the cycle), and half-way."""

    server: harness.Server
    sample_every: int
    total: int
    answered: int = 0
    samples: dict[int, float] = field(default_factory=dict)  # MB after that many answers

    def sample(self) -> None:
        self.samples[self.answered] = self.server.memory_kib("VmRSS") * 1024 / MB

    def count_answer(self) -> None:
        self.answered += 1
        if self.answered % self.sample_every == 0 or self.answered * 2 == self.total:
            self.sample()


async def prime(connections: HttpClient, load: Load, clients: list[Client]) -> None:
    """Logs in once per client, unrecorded, so that the first refreshes have tokens to trade."""
    for client in clients:
        outcome, body = await connections.exchange(load.request(Kind.LOGIN, client))
        if outcome != 200:
            raise SystemExit(f"a login before the run answered {outcome}: {body[:300]!r}")
        load.keep_refresh_token(body)


async def drive(load: Load, clients: list[Client], sampler: RssSampler) -> float:
    """Sends the requests of the cycle over and over until SAMPLER's total is answered; the seconds taken."""
    connections = HttpClient(load.server.host, load.server.port, max_connections=len(clients))
    indices = itertools.count()

    async def client_loop(client: Client) -> None:
        while (index := next(indices)) < sampler.total:
            kind = CYCLE[index % len(CYCLE)]
            try:
                outcome, body = await asyncio.wait_for(
                    connections.exchange(load.request(kind, client)), REQUEST_TIMEOUT_SECONDS
                )
            except TimeoutError:
                outcome, body = f"no answer within {REQUEST_TIMEOUT_SECONDS:g} s", b""
            load.answered(kind, outcome, body)
            sampler.count_answer()

    try:
        await prime(connections, load, clients)
        sampler.sample()
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for client in clients))
        return time.perf_counter() - started
    finally:
        await connections.close()


@dataclass(frozen=True)
class MemoryResult:
    database: str
    hashing_threads: int
    samples: dict[int, float]
    peak_mb: float  # VmHWM at the end
    seconds: float
    answers: dict[Kind, Counter[Outcome]]

    @property
    def half_way_mb(self) -> float:
        return self.samples[max(self.samples) // 2]

    @property
    def end_mb(self) -> float:
        return self.samples[max(self.samples)]

    @property
    def growth_mb(self) -> float:
        return self.end_mb - self.half_way_mb

    def unexpected(self, kind: Kind) -> int:
        return sum(
            count for outcome, count in self.answers.get(kind, {}).items() if outcome != EXPECTED[kind]
        )


@contextmanager
def seeded_server(options: argparse.Namespace, folder: Path) -> Iterator[tuple[harness.Server, str]]:
    with harness.scratch_database(options.database) as database_url:
        harness.seed(database_url, users=options.users, posts=options.posts, votes=options.votes)
        env = harness.postboard_settings(database_url, rate_limits=False)
        log_path = folder / "serve.log"
        with harness.serving(harness.POSTBOARD_SERVE, env, log_path, harness.SERVER_CPU) as server:
            yield server, database_url


def bench(options: argparse.Namespace, folder: Path) -> MemoryResult:
    with seeded_server(options, folder) as (server, database_url):
        published = harness.query(database_url, "SELECT id FROM posts WHERE published ORDER BY id")
        load = Load(
            server, harness.user_emails(database_url, options.users), [post_id for (post_id,) in published]
        )
        clients = [
            Client(
                harness.register_and_login(server.url, f"client-{load.run_id}-{n}@example.com", PASSWORD)[1]
            )
            for n in range(options.clients)
        ]
        sampler = RssSampler(server, options.sample_every, options.requests)
        seconds = uvloop.run(drive(load, clients, sampler))
        return MemoryResult(
            options.database,
            len(harness.server_cpus()),  # PASSWORD_HASHING_THREADS's default: the CPUs the server may use
            sampler.samples,
            server.memory_kib("VmHWM") * 1024 / MB,
            seconds,
            load.answers,
        )


# The report


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def summary_table(result: MemoryResult) -> list[str]:
    growth_share = result.growth_mb / result.half_way_mb
    no_growth = result.growth_mb <= NO_GROWTH_MB
    total = max(result.samples)
    return [
        f"| database | requests | seconds (req/s) | RSS MB before | half-way | end | last-half growth "
        f"| peak sampled | peak (VmHWM) | < {TARGET_PEAK_MB:g} MB | no growth (≤ {NO_GROWTH_MB:g} MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        f"| {result.database} | {total:,} | {result.seconds:,.0f} ({total / result.seconds:,.0f}) "
        f"| {result.samples[0]:.1f} | {result.half_way_mb:.1f} | {result.end_mb:.1f} "
        f"| {result.growth_mb:+.1f} MB ({growth_share:+.1%}) | {max(result.samples.values()):.1f} "
        f"| {result.peak_mb:.1f} | {verdict(result.peak_mb < TARGET_PEAK_MB)} | {verdict(no_growth)} |",
    ]


def rss_line(result: MemoryResult) -> str:
    """The RSS at each tenth of the run (or at every sample, when there are fewer)."""
    answered = sorted(result.samples)
    step = max(1, (len(answered) - 1) // 10)
    shown = answered[::step] if answered[-1] in answered[::step] else [*answered[::step], answered[-1]]
    return "RSS MB after N answers: " + ", ".join(f"{n:,}: {result.samples[n]:.1f}" for n in shown) + "."


def mix_table(result: MemoryResult) -> list[str]:
    lines = [
        "| request | per cycle | expected | answered | unexpected |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    per_cycle = Counter(CYCLE)
    for kind, expected in EXPECTED.items():
        answered = sum(result.answers.get(kind, Counter()).values())
        lines.append(
            f"| {kind} | {per_cycle[kind]} | {expected} | {answered:,} | {result.unexpected(kind)} |"
        )
    return lines


def unexpected_lines(result: MemoryResult) -> list[str]:
    return [
        f"- **Unexpected:** {kind}: "
        + ", ".join(f"{outcome}: {count}" for outcome, count in answers.items() if outcome != EXPECTED[kind])
        for kind, answers in result.answers.items()
        if result.unexpected(kind)
    ]


def report_text(result: MemoryResult, options: argparse.Namespace) -> str:
    lines = [
        *harness.report_heading("Memory: `bench/memory.py`"),
        f"- Server: `postboard serve --workers 1` on CPU {harness.SERVER_CPU}, {options.database}, "
        f"`RATE_LIMITS=off` so that every login reaches the password check, PASSWORD_HASHING_THREADS at its "
        f"default ({result.hashing_threads}); seeded with `postboard seed --users {options.users} "
        f"--posts {options.posts} --votes {options.votes}`.",
        f"- Load, from CPU {harness.LOAD_CPU}: {options.clients} clients sending back to back (a closed "
        f"loop), each with an account of its own, in a cycle of {len(CYCLE):,} requests with a storm of "
        f"{len(STORM)} logins in a row halfway through (all clients log in at once); table below.",
        f"- Memory: the server's VmRSS every {options.sample_every:,} answers (at the cycle's start, away "
        "from the storm) and half-way, its VmHWM at the end; MB are 10^6 bytes. No growth: the RSS at the "
        f"end at most {NO_GROWTH_MB:g} MB above the RSS half-way (a leak of 50 bytes a request would add "
        "that over 100,000 requests).",
        "",
        *summary_table(result),
        "",
        rss_line(result),
        "",
        *mix_table(result),
    ]
    unexpected = unexpected_lines(result)
    return "\n".join([*lines, *([""] if unexpected else []), *unexpected])


def main(options: argparse.Namespace) -> None:
    harness.pin_this_process(harness.LOAD_CPU)
    with tempfile.TemporaryDirectory(prefix="postboard-memory-") as folder:
        result = bench(options, Path(folder))
    harness.publish(report_text(result, options), SECTION, options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--requests", type=int, default=200_000, help=f"a multiple of {2 * len(CYCLE):,} (default 200,000)"
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument(
        "--sample-every", type=int, default=4000, help=f"answers; a multiple of {len(CYCLE):,} (4,000)"
    )
    harness.add_seed_options(parser, users=200, posts=1000, votes=2000)
    harness.add_output_options(parser)
    options = parser.parse_args()
    if options.sample_every % len(CYCLE) or options.requests % (2 * len(CYCLE)):
        parser.error("the samples and the half-way point must fall at the start of a cycle: see --help")
    if options.clients > len(STORM):
        parser.error(f"at most {len(STORM)} clients, so that the storm has them all log in at once")
    return options


if __name__ == "__main__":
    main(parse_options())
