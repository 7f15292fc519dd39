"""Whether an oversized login sent by two clients in a loop still slows every other request (issue 8).

The attack, `POST /login` with `username="a." * 520000 + "@example.com"` (1 MB, under the app's body cap) from
two clients back to back, used to raise `GET /` from 2 ms to a median of 406 ms. Through `postboard
serve` (one worker on CPU 0, throttling on), one client on CPU 1 times REQUESTS sequential `GET /`
alone, while two processes loop the same login with a 400-character username (an ordinary 422), and
while they loop the oversized one; ROUNDS times, in turn. Two clients in a loop slow one worker whatever
they send, so the ordinary login is the reference. Target: `GET /`'s median during the oversized attack
at most 1.5 times the one during the ordinary attack, and every attack answered 4xx (413 for the
oversized form, which is refused unread; 422 for the ordinary one; 429 once the address's budget is spent).

    .venv/bin/python bench/oversized_requests.py                         # SQLite, 3 rounds of 400
    .venv/bin/python bench/oversized_requests.py --database postgresql
    .venv/bin/python bench/oversized_requests.py --requests 100 --rounds 1 --no-write   # a quick trial
"""

import argparse
import multiprocessing
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlencode

import harness
import httpx

TARGET_RATIO = 1.5  # GET /'s median in the oversized attack over its median in the ordinary one, at most
ATTACKERS = 2
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
Outcomes = tuple[Counter[str], list[float]]  # one attacker's answers (status or error) and latencies


@dataclass
class Phase:
    name: str
    username: str | None  # what the attackers log in as, if there are attackers
    hellos: list[list[float]] = field(default_factory=list)  # GET / latencies (s), one list per round
    attacks: list[float] = field(default_factory=list)  # the attack requests' own latencies
    outcomes: Counter[str] = field(default_factory=Counter)

    def median_hello(self) -> float:
        return statistics.median(latency for round_ in self.hellos for latency in round_)


def hellos(client: httpx.Client, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get("/")
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"GET / answered {response.status_code}: {response.text}")
    return latencies


def attack(url: str, username: str, stop: Event, results: "Queue[Outcomes]") -> None:
    """One attacker: the login back to back until STOP, then its answers and latencies."""
    body = urlencode({"username": username, "password": "any password"}).encode()
    outcomes: Counter[str] = Counter()
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                outcome = str(client.post("/login", content=body, headers=FORM).status_code)
            except httpx.TransportError as error:
                outcome = type(error).__name__
            latencies.append(time.perf_counter() - started)
            outcomes[outcome] += 1
    results.put((outcomes, latencies))


def run_phase(phase: Phase, url: str, client: httpx.Client, count: int) -> None:
    stop = multiprocessing.Event()
    queue: Queue[Outcomes] = multiprocessing.Queue()
    arguments = (url, phase.username, stop, queue)
    attackers = [multiprocessing.Process(target=attack, args=arguments) for _ in range(ATTACKERS)]
    attackers = attackers if phase.username else []
    for attacker in attackers:
        attacker.start()
    time.sleep(0.5 if attackers else 0)  # the attackers are up and sending
    phase.hellos.append(hellos(client, count))
    stop.set()
    for attacker in attackers:
        outcomes, latencies = queue.get()
        phase.outcomes.update(outcomes)
        phase.attacks.extend(latencies)
        attacker.join()


def measure(options: argparse.Namespace, folder: Path) -> list[Phase]:
    phases = [
        Phase("alone", None),
        Phase("ordinary login attack", "a" * 388 + "@example.com"),  # 400 characters, past the 320 cap
        Phase("oversized login attack", "a." * 520_000 + "@example.com"),
    ]
    with harness.scratch_database(options.database) as database_url:
        env = harness.postboard_settings(database_url, rate_limits=True)
        with (
            harness.serving(harness.POSTBOARD_SERVE, env, folder / "serve.log", harness.SERVER_CPU) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            hellos(client, 50)  # warm-up
            for _ in range(options.rounds):  # in turn, so that noise hits every phase alike
                for phase in phases:
                    run_phase(phase, server.url, client, options.requests)
    return phases


def row(phase: Phase) -> str:
    p90 = statistics.quantiles([latency for round_ in phase.hellos for latency in round_], n=10)[-1]
    attacks = f"{statistics.median(phase.attacks) * 1000:.2f}" if phase.attacks else ""
    answers = ", ".join(f"{outcome}: {count:,}" for outcome, count in sorted(phase.outcomes.items()))
    return f"| {phase.name} | {phase.median_hello() * 1000:.2f} | {p90 * 1000:.2f} | {attacks} | {answers} |"


def ratio(over: Phase, under: Phase) -> str:
    """The ratio of two phases' median GET / over all rounds, then its median (min-max) round by round."""
    rounds = zip(over.hellos, under.hellos, strict=True)
    by_round = [statistics.median(top) / statistics.median(bottom) for top, bottom in rounds]
    spread = harness.median_and_range(by_round, ".2f")
    return f"{over.median_hello() / under.median_hello():.2f} (by round {spread})"


def report_text(phases: list[Phase], options: argparse.Namespace) -> str:
    alone, ordinary, oversized = phases
    failed = sum(n for phase in phases for outcome, n in phase.outcomes.items() if outcome[0] != "4")
    met = oversized.median_hello() <= TARGET_RATIO * ordinary.median_hello() and failed == 0
    lines = [
        *harness.report_heading(f"Oversized requests: `bench/oversized_requests.py` ({options.database})"),
        f"- Server: `postboard serve --workers 1` on CPU {harness.SERVER_CPU}, throttling at its default, "
        f"a random `SECRET_KEY`, an empty {options.database} scratch database.",
        f"- From CPU {harness.LOAD_CPU}: {options.rounds} round(s) of {options.requests} sequential `GET /` "
        f"in each phase, in turn: alone; while {ATTACKERS} processes send `POST /login` back to back with a "
        '400-character username (ordinary); with `username="a." * 520000 + "@example.com"` (oversized).',
        f"- Target: the median `GET /` in the oversized attack at most {TARGET_RATIO:g} times the one in the "
        "ordinary attack, and every attack answered 4xx (413, 422, or 429 once the address's budget is "
        "spent).",
        "",
        "| phase | `GET /` median ms | `GET /` p90 ms | attack request median ms | attack answers |",
        "| --- | ---: | ---: | ---: | --- |",
        *(row(phase) for phase in phases),
        "",
        f"- Median `GET /`, oversized attack ÷ ordinary attack: **{ratio(oversized, ordinary)}**; target "
        f"≤ {TARGET_RATIO:g}: {'met' if met else 'MISSED'}.",
        f"- Median `GET /`, oversized attack ÷ alone: {ratio(oversized, alone)}; the issue measured "
        "406 ms ÷ 2 ms, about 200.",
        f"- The oversized login's median latency is "
        f"{statistics.median(oversized.attacks) / alone.median_hello():.1f} times the median `GET /` alone.",
    ]
    return "\n".join(lines)


def main(options: argparse.Namespace) -> None:
    harness.pin_this_process(harness.LOAD_CPU)
    with tempfile.TemporaryDirectory(prefix="postboard-oversized-") as folder:
        phases = measure(options, Path(folder))
    harness.publish(report_text(phases, options), f"oversized-requests-{options.database}", options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=400, help="GET / per phase and round (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three phases (default 3)")
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
