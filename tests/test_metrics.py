"""Metrics and traces: FastAPI's spans and request durations, Postboard's own metrics, recorded by the SDK's
in-memory exporters; the Prometheus endpoint of `postboard serve`, read with the Prometheus client's
parser; its OTLP export, received by a collector of the test's own; and nothing recorded at all when
telemetry is off."""

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from postboard.app import create_app
from postboard.metrics import Telemetry
from tests.helpers import (
    DEFAULT_PASSWORD,
    INVALID_REFRESH_TOKEN,
    TOO_MANY_LOGIN_FAILURES,
    fresh_email,
    in_process_client,
    log_in,
    make_settings,
    post_login,
    refresh,
    refresh_pair,
    register_account,
    register_and_log_in,
    started,
)
from tests.live_server import free_port, run_postboard, serving


@dataclass
class Recorded:
    app: FastAPI
    client: httpx.AsyncClient
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def points(self, name: str) -> list[Any]:
        """The data points of metric `name`, as collected now (gauges are read at this moment)."""
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def value(self, name: str, **attributes: str) -> float:
        """The sum of `name`'s points whose attributes include `attributes`; 0 when there are none."""
        return sum(
            float(point.value)
            for point in self.points(name)
            if attributes.items() <= dict(point.attributes).items()
        )

    def finished_spans(self) -> tuple[ReadableSpan, ...]:
        return self.spans.get_finished_spans()


@asynccontextmanager
async def recording(database_url: str, **settings: Any) -> AsyncIterator[Recorded]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=MeterProvider([reader]))
    application = create_app(make_settings(database_url, **settings), telemetry=telemetry)
    async with started(application), in_process_client(application) as client:
        yield Recorded(application, client, spans, reader)


@pytest.fixture
async def recorded(database_url: str) -> AsyncIterator[Recorded]:
    async with recording(database_url) as recorded:
        yield recorded


# --- FastAPI's spans and request durations ---------------------------------------------------------------


async def test_each_request_has_a_span_named_by_its_route(recorded: Recorded) -> None:
    assert (await recorded.client.get("/posts/12345")).status_code == 401

    [request] = [span for span in recorded.finished_spans() if span.kind == trace.SpanKind.SERVER]
    assert request.name == "GET /posts/{id}"
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/posts/{id}"
    assert request.attributes["url.path"] == "/posts/12345"
    assert request.attributes["http.response.status_code"] == 401


async def test_request_durations_are_recorded_per_route_and_status(recorded: Recorded) -> None:
    email = fresh_email()
    await register_account(recorded.client, email)
    for _ in range(2):
        assert (await recorded.client.get("/")).status_code == 200
    assert (await post_login(recorded.client, email, "wrong password")).status_code == 403

    durations = {
        (point.attributes["http.route"], point.attributes["http.response.status_code"]): point.count
        for point in recorded.points("http.server.request.duration")
    }
    assert durations == {("/users/", 201): 1, ("/", 200): 2, ("/login", 403): 1}


# --- Postboard's own metrics -----------------------------------------------------------------------------


async def test_failed_logins_are_counted_and_successful_ones_are_not(recorded: Recorded) -> None:
    email = fresh_email()
    await register_account(recorded.client, email)
    await log_in(recorded.client, email, DEFAULT_PASSWORD)
    assert recorded.value("postboard.auth.failed_logins") == 0

    assert (await post_login(recorded.client, email, "wrong password")).status_code == 403
    assert (await post_login(recorded.client, fresh_email("nobody"), DEFAULT_PASSWORD)).status_code == 403
    assert recorded.value("postboard.auth.failed_logins") == 2


async def test_throttled_requests_are_counted_by_budget(database_url: str) -> None:
    async with recording(database_url, rate_limits=True, login_limit_per_account="2/minute") as recorded:
        email = fresh_email()
        await register_account(recorded.client, email)
        for _ in range(2):
            assert (await post_login(recorded.client, email, "wrong password")).status_code == 403
        assert recorded.value("postboard.throttled_requests") == 0

        throttled = await post_login(recorded.client, email, DEFAULT_PASSWORD)
        assert throttled.status_code == 429
        assert throttled.json() == TOO_MANY_LOGIN_FAILURES
        assert recorded.value("postboard.throttled_requests", budget="login-account") == 1
        assert recorded.value("postboard.auth.failed_logins") == 2  # the throttled attempt is not one


async def test_reused_refresh_tokens_are_counted(recorded: Recorded) -> None:
    first = await register_and_log_in(recorded.client, fresh_email())
    await refresh_pair(recorded.client, first.refresh)
    assert recorded.value("postboard.auth.refresh_token_reuse") == 0

    replayed = await refresh(recorded.client, first.refresh)
    assert replayed.json() == INVALID_REFRESH_TOKEN
    assert recorded.value("postboard.auth.refresh_token_reuse") == 1


async def test_pool_gauges_show_connections_in_use_and_requests_waiting(database_url: str) -> None:
    async with recording(database_url, database_pool_size=1, database_pool_timeout=30) as recorded:
        connections = "db.client.connection.count"
        assert recorded.value(connections, **{"db.client.connection.state": "used"}) == 0
        async with recorded.app.state.database.engine.connect() as held:
            await held.exec_driver_sql("SELECT 1")
            transactions = {"db.client.connection.pool.name": "transactions"}
            assert recorded.value(connections, **transactions, **{"db.client.connection.state": "used"}) == 1

            # A second checkout waits for the pool's only connection: the gauge reads the pool's own queue.
            waiting = asyncio.create_task(_select_one(recorded.app))
            assert (
                await _eventually(
                    lambda: recorded.value("db.client.connection.pending_requests", **transactions)
                )
                == 1
            )
        await waiting
        assert recorded.value("db.client.connection.pending_requests") == 0


async def test_asyncpg_read_pool_gauges(postgresql_url: str) -> None:
    async with recording(postgresql_url, database_pool_size=1) as recorded:
        reads = {"db.client.connection.pool.name": "reads"}
        assert (await recorded.client.get("/posts/", headers={})).status_code == 401
        pool = recorded.app.state.database._reads._pool
        held = await pool.acquire()
        assert (
            recorded.value("db.client.connection.count", **reads, **{"db.client.connection.state": "used"})
            == 1
        )
        listing = asyncio.create_task(
            recorded.client.post("/login", data={"username": fresh_email(), "password": "p"})
        )
        assert (
            await _eventually(lambda: recorded.value("db.client.connection.pending_requests", **reads)) == 1
        )
        await pool.release(held)
        assert (await listing).status_code == 403


async def test_argon2_queue_length_counts_hashes_waiting_for_a_thread(database_url: str) -> None:
    async with recording(database_url, password_hashing_threads=1) as recorded:
        queue_length = "postboard.password_hashing.queue_length"
        assert recorded.value(queue_length) == 0
        hasher = recorded.app.state.password_hasher
        hashes = [asyncio.create_task(hasher.hash(DEFAULT_PASSWORD)) for _ in range(3)]
        # One hashes on the only thread, two wait for it.
        assert await _eventually(lambda: recorded.value(queue_length)) == 2
        await asyncio.gather(*hashes)
        assert recorded.value(queue_length) == 0


async def _select_one(app: FastAPI) -> None:
    async with app.state.database.engine.connect() as connection:
        await connection.exec_driver_sql("SELECT 1")


async def _eventually(read: Callable[[], float], attempts: int = 1000) -> float:
    """The first non-zero value `read()` gives while other tasks run (they need the loop to get going)."""
    for _ in range(attempts):
        value: float = read()
        if value:
            return value
        await asyncio.sleep(0.001)
    return 0


# --- telemetry off ---------------------------------------------------------------------------------------


@pytest.fixture
def global_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    """SDK providers set as OpenTelemetry's global ones (as an agent would), undone after the test."""
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", None)
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider([reader]))
    return spans, reader


async def test_off_by_default_nothing_is_recorded(
    database_url: str, global_providers: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    spans, reader = global_providers
    application = create_app(
        make_settings(database_url, rate_limits=True, login_limit_per_account="1/minute")
    )
    async with started(application), in_process_client(application) as client:
        email = fresh_email()
        await register_account(client, email)
        assert (await post_login(client, email, "wrong password")).status_code == 403
        assert (await post_login(client, email, "wrong password")).status_code == 429

    assert spans.get_finished_spans() == ()
    assert reader.get_metrics_data() is None


# --- the Prometheus endpoint -----------------------------------------------------------------------------


def _families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _sample(family: Metric, name: str, **labels: str) -> float:
    [value] = [s.value for s in family.samples if s.name == name and labels.items() <= s.labels.items()]
    return value


def test_serve_exposes_prometheus_metrics_on_their_own_port_only(tmp_path: Path) -> None:
    metrics_port = free_port()
    with serving(tmp_path, METRICS="prometheus", METRICS_PORT=str(metrics_port)) as (client, _):
        assert client.get("/metrics").status_code == 404
        email = fresh_email()
        assert client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD}).status_code == 201
        assert client.post("/login", data={"username": email, "password": "wrong"}).status_code == 403

        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert scraped.status_code == 200
    families = _families(scraped.text)

    durations = families["http_server_request_duration_seconds"]
    assert durations.type == "histogram"
    assert (
        _sample(
            durations,
            "http_server_request_duration_seconds_count",
            http_route="/login",
            http_response_status_code="403",
        )
        == 1
    )
    assert _sample(families["postboard_auth_failed_logins"], "postboard_auth_failed_logins_total") == 1
    # A counter appears at its first event: none was throttled, no refresh token reused.
    assert "postboard_throttled_requests" not in families
    connections = families["db_client_connection_count"]
    assert (
        _sample(
            connections,
            "db_client_connection_count",
            db_client_connection_pool_name="transactions",
            db_client_connection_state="used",
        )
        == 0
    )
    assert (
        _sample(
            connections,
            "db_client_connection_count",
            db_client_connection_pool_name="reads",
            db_client_connection_state="idle",
        )
        >= 1
    )
    assert (
        _sample(
            families["postboard_password_hashing_queue_length"], "postboard_password_hashing_queue_length"
        )
        == 0
    )


def test_serve_refuses_a_metrics_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = run_postboard(
            ["serve", "--port", str(free_port())], tmp_path, METRICS="prometheus", METRICS_PORT=str(port)
        )
    assert served.returncode == 1
    assert served.stderr == f"postboard: error: METRICS_PORT: port {port} on 127.0.0.1 is already in use\n"


def test_prometheus_endpoint_refuses_several_workers(tmp_path: Path) -> None:
    served = run_postboard(
        ["serve", "--port", str(free_port()), "--workers", "2"], tmp_path, METRICS="prometheus"
    )
    assert served.returncode == 1
    assert "METRICS=prometheus serves one process's metrics" in served.stderr
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in served.stderr


# --- OTLP ------------------------------------------------------------------------------------------------


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that keeps what it is sent, by path."""

    received: ClassVar[dict[str, list[bytes]]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.setdefault(self.path, []).append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_arguments: Any) -> None:
        pass


@contextmanager
def collector() -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    received: dict[str, list[bytes]] = {}
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_serve_exports_spans_and_metrics_over_otlp(tmp_path: Path) -> None:
    with (
        collector() as (endpoint, received),
        serving(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint) as (client, _),
    ):
        assert client.get("/posts/12345").status_code == 401
        email = fresh_email()
        assert client.post("/users/", json={"email": email, "password": DEFAULT_PASSWORD}).status_code == 201
        assert client.post("/login", data={"username": email, "password": "wrong"}).status_code == 403
    # Both stopped, the server first: FastAPI flushed its exporters at shutdown.

    spans = [
        span
        for body in received["/v1/traces"]
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert {"GET /posts/{id}", "POST /users/", "POST /login"} <= {span.name for span in spans}
    metric_names = {
        metric.name
        for body in received["/v1/metrics"]
        for resource in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {
        "http.server.request.duration",
        "postboard.auth.failed_logins",
        "db.client.connection.count",
        "postboard.password_hashing.queue_length",
    } <= metric_names
