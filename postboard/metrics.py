"""Metrics and traces: FastAPI's own OpenTelemetry, on only when configured, and the metrics an operator
watches here (README: Metrics and traces).

Off (neither METRICS nor OTEL_EXPORTER_OTLP_ENDPOINT set, the default), FastAPI is told to record nothing,
so a request costs what it did without telemetry, and Postboard's own instruments come from OpenTelemetry's
no-op meter: an event on a failure path calls an empty method, and no gauge is ever read.
"""

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from threading import Thread
from typing import TYPE_CHECKING

from fastapi.telemetry import TelemetryConfig
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, NoOpMeterProvider, Observation
from opentelemetry.trace import TracerProvider

from postboard.auth.passwords import PasswordHasher
from postboard.config import Settings
from postboard.db import Database

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

# OpenTelemetry's own variable: FastAPI reads it, and the per-signal ones beside it, from the environment.
OTLP_ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
METER_NAME = "postboard"
_POOL_NAME = "db.client.connection.pool.name"
_CONNECTION_STATE = "db.client.connection.state"


@dataclass
class PrometheusEndpoint:
    """Prometheus text of one registry, served by prometheus_client on an address of its own: never on
    the API's port, so that it is not public unless the operator makes it so."""

    host: str
    port: int
    registry: "CollectorRegistry"
    _server: "WSGIServer | None" = None
    _thread: Thread | None = None

    def start(self) -> None:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(self.port, self.host, self.registry)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the endpoint first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class Telemetry:
    """Where an app records its spans and metrics; None records nothing, at no cost. Tests pass their
    own providers (the SDK's in-memory exporters) to create_app; `telemetry_from_settings` makes the
    product's."""

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    # FastAPI adds OTLP exporters, from the OTEL_* environment, to these providers at start.
    export_over_otlp: bool = False
    prometheus: PrometheusEndpoint | None = None
    meter: Meter = field(init=False)

    def __post_init__(self) -> None:
        self.meter = (self.meter_provider or NoOpMeterProvider()).get_meter(METER_NAME, version("postboard"))

    def fastapi_config(self) -> TelemetryConfig:
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "tracing": self.tracer_provider is not None,
            "metrics": self.meter_provider is not None,
            # Logs stay with Python's logging, which the operator configures; FastAPI's would repeat
            # its exceptions over OTLP.
            "logs": False,
            "auto_configure": self.export_over_otlp,
        }

    def start(self) -> None:
        if self.prometheus is not None:
            self.prometheus.start()

    def close(self) -> None:
        """Stops the Prometheus endpoint. FastAPI flushes the OTLP exporters it added at shutdown and
        shuts them down at exit; the providers themselves need no shutdown."""
        if self.prometheus is not None:
            self.prometheus.stop()


def telemetry_from_settings(settings: Settings) -> Telemetry:
    """Nothing unless METRICS=prometheus or OTEL_EXPORTER_OTLP_ENDPOINT is set; spans only with OTLP,
    the one place they can go."""
    otlp = bool(os.environ.get(OTLP_ENDPOINT_VARIABLE))
    if settings.metrics == "off" and not otlp:
        return Telemetry()
    # Imported here: the SDK and prometheus_client stay out of a process that does not use them.
    from opentelemetry.sdk.metrics import MeterProvider as SDKMeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME") or "postboard",
            "service.version": version("postboard"),
            # Tells apart the worker processes of `serve --workers N`, whose counters are each their own.
            "service.instance.id": str(uuid.uuid4()),
        }
    )
    readers: list[MetricReader] = []
    prometheus = None
    if settings.metrics == "prometheus":
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import CollectorRegistry

        # A registry of the app's own, not prometheus_client's global one: nothing else lands in it.
        registry = CollectorRegistry()
        readers.append(PrometheusMetricReader(registry=registry))
        prometheus = PrometheusEndpoint(settings.metrics_host, settings.metrics_port, registry)
    return Telemetry(
        tracer_provider=SDKTracerProvider(resource=resource, shutdown_on_exit=False) if otlp else None,
        meter_provider=SDKMeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False),
        export_over_otlp=otlp,
        prometheus=prometheus,
    )


class AuthCounters:
    """The authentication events an operator watches for: an attack shows in them before anywhere else."""

    def __init__(self, meter: Meter) -> None:
        self.failed_logins = meter.create_counter(
            "postboard.auth.failed_logins",
            unit="{login}",
            description="Logins refused for a wrong password or an unknown email (not the throttled ones).",
        )
        self.throttled_requests = meter.create_counter(
            "postboard.throttled_requests",
            unit="{request}",
            description="Requests refused with 429, by the budget that was spent.",
        )
        self.refresh_token_reuse = meter.create_counter(
            "postboard.auth.refresh_token_reuse",
            unit="{token}",
            description="Retired refresh tokens presented again; each one ended its login session.",
        )


def observe_resources(meter: Meter, database: Database, hasher: PasswordHasher) -> None:
    """Gauges read at each collection (a scrape, or an OTLP export), never per request."""

    def connections(_options: CallbackOptions) -> Iterable[Observation]:
        for name, usage in database.pool_usage().items():
            yield Observation(usage.used, {_POOL_NAME: name, _CONNECTION_STATE: "used"})
            yield Observation(usage.idle, {_POOL_NAME: name, _CONNECTION_STATE: "idle"})

    def waiting_for_a_connection(_options: CallbackOptions) -> Iterable[Observation]:
        for name, usage in database.pool_usage().items():
            yield Observation(usage.waiting, {_POOL_NAME: name})

    def waiting_for_a_hashing_thread(_options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(hasher.waiting())

    # OpenTelemetry's names for a client's connection pool (semantic conventions, database metrics).
    meter.create_observable_gauge(
        "db.client.connection.count",
        [connections],
        unit="{connection}",
        description="Database connections of each pool, in use and idle.",
    )
    meter.create_observable_gauge(
        "db.client.connection.pending_requests",
        [waiting_for_a_connection],
        unit="{request}",
        description="Requests waiting for a connection of each pool.",
    )
    meter.create_observable_gauge(
        "postboard.password_hashing.queue_length",
        [waiting_for_a_hashing_thread],
        unit="{hash}",
        description="Argon2 hashes and verifications waiting for a hashing thread.",
    )
