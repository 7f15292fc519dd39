"""What metrics and traces cost: nothing measurable when off (the default), and how much METRICS=prometheus.

Four servers of the same app on one scratch database, each under uvicorn with the options `postboard
serve` gives it, one worker pinned to CPU 0, throttling off:

- `off`: postboard.main's app with neither METRICS nor OTEL_EXPORTER_OTLP_ENDPOINT set (the default);
- `stubbed`: bench/telemetry_stubbed_app.py, the same app with the telemetry hooks stubbed out to what
  create_app did before them (FastAPI's telemetry configured off literally, no gauges registered);
- `stubbed-again`: a second process of `stubbed`, whose ratio to it is what noise alone gives;
- `prometheus`: postboard.main's app with METRICS=prometheus (FastAPI's request metrics, the duration
  histogram, and Postboard's gauges; scraped once at the end, to show that it measured).

wrk loads one at a time from CPU 1 (`wrk -t1 -c32 --latency`, after a warm-up), for `GET /` (the cheapest
request, where a per-request cost shows most) and `GET /posts/?limit=10` with a token (the most common
read); RUNS times each, in turn (each run starting with the next server), so that noise hits every server
alike. Each run gives requests/s and
the server's CPU time per request (user and system, from /proc): on a machine shared with other work, the
CPU a request costs moves much less than the rate, which follows whatever else got the core. Ratios are
taken run by run against `stubbed`. Target: the median of `off`'s CPU per request ÷ `stubbed`'s at most
1.03, or no further from 1 than `stubbed-again`'s (no cost above the noise), and every answer a 2xx.
`prometheus` is reported.

    .venv/bin/python bench/telemetry.py                          # PostgreSQL, 5 runs of 5 s: ~5 minutes
    .venv/bin/python bench/telemetry.py --database sqlite --runs 1 --duration 3 --no-write
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import harness
import httpx
from prometheus_client.parser import text_string_to_metric_families
from throughput import UVICORN_OPTIONS

TARGET_CPU_RATIO = 1.03  # `off`'s CPU per request ÷ `stubbed`'s, at most
PASSWORD = "a long benchmark password"
WARM_UP_SECONDS = 2
SETTLE_SECONDS = 0.5
# The first is the reference; `stubbed-again`, a second process of the same app, shows what noise alone gives.
VARIANTS = ("stubbed", "stubbed-again", "off", "prometheus")


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    authenticated: bool


SCENARIOS = (Scenario("GET /", "/", False), Scenario("GET /posts/?limit=10", "/posts/?limit=10", True))


@dataclass
class Results:
    """Requests/s and the server's CPU µs per request of each run, by scenario and variant."""

    rates: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    cpu_us: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    non_2xx: int = 0
    socket_errors: int = 0  # wrk's connect, read and write errors and timeouts (2 s without an answer)
    scraped_requests: int = 0  # requests the last /metrics scrape counted, to show the endpoint works

    def add(self, scenario: Scenario, variant: str, result: harness.WrkResult, cpu_seconds: float) -> None:
        self.rates.setdefault((scenario.name, variant), []).append(result.requests_per_second)
        self.cpu_us.setdefault((scenario.name, variant), []).append(cpu_seconds / result.requests * 1e6)
        self.non_2xx += result.non_2xx
        self.socket_errors += result.socket_errors


def ratios(measured: dict[tuple[str, str], list[float]], scenario: Scenario, variant: str) -> list[float]:
    """Run by run, `variant`'s figure over the reference's."""
    pairs = zip(measured[scenario.name, variant], measured[scenario.name, VARIANTS[0]], strict=True)
    return [value / reference for value, reference in pairs]


def uvicorn_command(target: str) -> tuple[str, ...]:
    return (
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(harness.BENCH),
        target,
        "--host",
        "127.0.0.1",
        *UVICORN_OPTIONS,
    )


def start_servers(stack: ExitStack, database_url: str, folder: Path) -> tuple[dict[str, harness.Server], int]:
    env = harness.postboard_settings(database_url, rate_limits=False)
    metrics_port = harness.free_port()
    commands_and_settings = {
        "stubbed": (uvicorn_command("telemetry_stubbed_app:app"), env),
        "stubbed-again": (uvicorn_command("telemetry_stubbed_app:app"), env),
        "off": (uvicorn_command("postboard.main:app"), env),
        "prometheus": (
            uvicorn_command("postboard.main:app"),
            {**env, "METRICS": "prometheus", "METRICS_PORT": str(metrics_port)},
        ),
    }
    servers = {
        name: stack.enter_context(
            harness.serving(command, settings, folder / f"{name}.log", harness.SERVER_CPU)
        )
        for name, (command, settings) in commands_and_settings.items()
    }
    return servers, metrics_port


def load(
    server: harness.Server, scenario: Scenario, token: str, seconds: int
) -> tuple[harness.WrkResult, float]:
    """wrk's result, and the CPU seconds the server spent meanwhile."""
    time.sleep(SETTLE_SECONDS)  # the last run's unanswered requests finish before this one starts
    headers = [f"Authorization: Bearer {token}"] if scenario.authenticated else []
    command = harness.wrk_command(
        server.url + scenario.path, connections=32, seconds=seconds, headers=headers
    )
    cpu_before = server.cpu_seconds()
    result = harness.run_wrk(command)
    return result, server.cpu_seconds() - cpu_before


def scraped_request_count(metrics_port: int) -> int:
    """The requests the Prometheus endpoint has counted: proof that the `prometheus` server measured."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == "http_server_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count")
    )


def measure(options: argparse.Namespace, folder: Path) -> Results:
    results = Results()
    with harness.scratch_database(options.database) as database_url, ExitStack() as stack:
        harness.seed(database_url, users=100, posts=1000, votes=2000)
        servers, metrics_port = start_servers(stack, database_url, folder)
        _, token = harness.register_and_login(
            servers["off"].url, f"bench-{uuid.uuid4().hex[:8]}@example.com", PASSWORD
        )
        for scenario in SCENARIOS:
            for name in VARIANTS:
                load(servers[name], scenario, token, WARM_UP_SECONDS)
            for run in range(options.runs):
                # Each run starts with another server: whichever goes first or last gets no lasting edge.
                for name in VARIANTS[run % len(VARIANTS) :] + VARIANTS[: run % len(VARIANTS)]:
                    results.add(scenario, name, *load(servers[name], scenario, token, options.duration))
        results.scraped_requests = scraped_request_count(metrics_port)
    return results


def within_noise(results: Results, scenario: Scenario) -> bool:
    """`off`'s CPU per request at most TARGET_CPU_RATIO times `stubbed`'s, or no further from it than a
    second process of `stubbed` is (the median ratios of the runs)."""
    off = statistics.median(ratios(results.cpu_us, scenario, "off"))
    again = statistics.median(ratios(results.cpu_us, scenario, "stubbed-again"))
    return off <= TARGET_CPU_RATIO or abs(off - 1) <= abs(again - 1)


def report_text(results: Results, options: argparse.Namespace) -> str:
    rows = []
    met = results.non_2xx == 0
    for scenario in SCENARIOS:
        for name in VARIANTS:
            rates = harness.median_and_range(results.rates[scenario.name, name])
            cpu = harness.median_and_range(results.cpu_us[scenario.name, name])
            rate_ratio, cpu_ratio = (
                "1 (reference)"
                if name == VARIANTS[0]
                else harness.median_and_range(ratios(measured, scenario, name), ".3f")
                for measured in (results.rates, results.cpu_us)
            )
            rows.append(f"| {scenario.name} | `{name}` | {rates} | {rate_ratio} | {cpu} | {cpu_ratio} |")
        met = met and within_noise(results, scenario)
    lines = [
        *harness.report_heading(f"Telemetry: `bench/telemetry.py` ({options.database})"),
        "- Servers: postboard.main's app with telemetry off (`off`, the default), the same app with the "
        "telemetry hooks stubbed out to the configuration before them (`stubbed`, "
        "bench/telemetry_stubbed_app.py) and a second process of it (`stubbed-again`: noise alone), and "
        "with `METRICS=prometheus` (`prometheus`); each under "
        f"`uvicorn {' '.join(UVICORN_OPTIONS)}`, one worker on CPU {harness.SERVER_CPU}, throttling off.",
        f"- Load: `wrk -t1 -c32 -d{options.duration}s` from CPU {harness.LOAD_CPU}, {options.runs} run(s) "
        "per server and scenario, in turn, after a warm-up; ratios run by run against `stubbed`.",
        f"- Target: `off`'s CPU per request ÷ `stubbed`'s ≤ {TARGET_CPU_RATIO}, or no further from 1 than "
        "`stubbed-again`'s (the medians of the runs' ratios): "
        f"{'met' if met else 'MISSED'}. "
        f"Answers other than 2xx: {results.non_2xx}; wrk's socket errors (timeouts, on a busy machine): "
        f"{results.socket_errors}. The Prometheus endpoint counted "
        f"{results.scraped_requests:,} requests.",
        "",
        "Medians, with the min-max of the runs:",
        "",
        "| request | server | requests/s | ÷ `stubbed` | server CPU µs per request | ÷ `stubbed` |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
        *rows,
    ]
    return "\n".join(lines)


def main(options: argparse.Namespace) -> None:
    harness.ensure_wrk()
    harness.pin_this_process(harness.LOAD_CPU)
    with tempfile.TemporaryDirectory(prefix="postboard-telemetry-") as folder:
        results = measure(options, Path(folder))
    harness.publish(report_text(results, options), f"telemetry-{options.database}", options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--runs", type=int, default=5, help="runs per server and scenario (default 5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per run (default 5)")
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
