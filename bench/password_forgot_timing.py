"""Whether `POST /password/forgot` takes as long for an unknown email as for a known one, through
`postboard serve`.

An attacker who can tell the two apart learns which emails have accounts. The request does only what is
the same for both (validate, count the throttles, hand a job to the mailer); the job that looks the account
up, makes its token and sends the mail runs after the answer. This times the two kinds interleaved in one
run, so that machine noise hits both alike, and reports the ratio of their medians; the target is 0.85 to
1.15. Throttling is on, with budgets too large to be spent, so that the counting is timed too; with no
SMTP_HOST the mails are logged. A pause after each request lets the previous job finish, so that one kind's
background work does not land on the other kind's timing.

    .venv/bin/python bench/password_forgot_timing.py                          # SQLite, 500 each way
    .venv/bin/python bench/password_forgot_timing.py --database postgresql --attempts 1000
"""

import argparse
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import harness
import httpx

TARGET_LOW, TARGET_HIGH = 0.85, 1.15
PASSWORD = "the right password"
UNSPENDABLE = "1000000/minute"


@contextmanager
def _server(database_url: str, folder: Path) -> Iterator[httpx.Client]:
    environment = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_hex(32),
        "PASSWORD_RESET_LIMIT_PER_ADDRESS": UNSPENDABLE,
        "PASSWORD_RESET_LIMIT_PER_ACCOUNT": UNSPENDABLE,
        "REGISTER_LIMIT_PER_ADDRESS": UNSPENDABLE,
    }
    with (
        harness.serving(
            harness.POSTBOARD_SERVE, environment, folder / "serve.log", harness.SERVER_CPU
        ) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        yield client


def _timed_forgot(client: httpx.Client, email: str, pause: float) -> float:
    started = time.perf_counter()
    response = client.post("/password/forgot", json={"email": email})
    elapsed = time.perf_counter() - started
    if response.status_code != 202:
        raise SystemExit(f"/password/forgot for {email} answered {response.status_code}: {response.text}")
    time.sleep(pause)
    return elapsed


def measure(client: httpx.Client, attempts: int, pause: float) -> dict[str, list[float]]:
    email = f"known-{uuid.uuid4().hex[:8]}@example.com"
    registered = client.post("/users/", json={"email": email, "password": PASSWORD})
    if registered.status_code != 201:
        raise SystemExit(f"registration failed: {registered.text}")
    kinds: dict[str, Callable[[], float]] = {
        "known email": lambda: _timed_forgot(client, email, pause),
        "unknown email": lambda: _timed_forgot(client, f"nobody-{uuid.uuid4().hex}@example.com", pause),
    }
    for attempt in kinds.values():  # warm-up: connections, caches, compiled statements
        for _ in range(20):
            attempt()
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    for number in range(attempts):
        # Interleaved, and in turn first, so that noise and any carry-over land on both kinds alike.
        order = list(kinds.items()) if number % 2 == 0 else list(reversed(kinds.items()))
        for kind, attempt in order:
            timings[kind].append(attempt())
    return timings


def report_text(timings: dict[str, list[float]], options: argparse.Namespace) -> str:
    medians = {kind: statistics.median(values) * 1000 for kind, values in timings.items()}
    ratio = medians["unknown email"] / medians["known email"]
    met = TARGET_LOW <= ratio <= TARGET_HIGH
    lines = [
        *harness.report_heading(
            f"Password reset requests: `bench/password_forgot_timing.py` ({options.database})"
        ),
        "- Server: `postboard serve --workers 1`, a random `SECRET_KEY`, throttling on with budgets too "
        f"large to spend, no SMTP_HOST (mails logged), an empty {options.database} scratch database.",
        f"- {options.attempts} `POST /password/forgot` of each kind, interleaved, each followed by a "
        f"{options.pause * 1000:g} ms pause for its background job.",
        "",
        "| kind | median ms | p90 ms |",
        "| --- | ---: | ---: |",
        *(
            f"| {kind} | {medians[kind]:.2f} | {statistics.quantiles(values, n=10)[-1] * 1000:.2f} |"
            for kind, values in timings.items()
        ),
        "",
        f"- Median ratio, unknown ÷ known: **{ratio:.3f}**; target {TARGET_LOW} to {TARGET_HIGH}: "
        f"{'met' if met else 'MISSED'}.",
    ]
    return "\n".join(lines)


def main(options: argparse.Namespace) -> None:
    harness.pin_this_process(harness.LOAD_CPU)
    with (
        tempfile.TemporaryDirectory() as folder,
        harness.scratch_database(options.database) as database_url,
        _server(database_url, Path(folder)) as client,
    ):
        timings = measure(client, options.attempts, options.pause)
    harness.publish(report_text(timings, options), f"password-forgot-timing-{options.database}", options)


def parse_options() -> argparse.Namespace:
    parser = harness.bench_parser(__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--attempts", type=int, default=500, help="timed requests of each kind (default 500)")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds after each request (default 0.02)")
    harness.add_output_options(parser)
    return parser.parse_args()


if __name__ == "__main__":
    main(parse_options())
