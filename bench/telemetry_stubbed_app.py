"""Postboard as it was before metrics and traces: what bench/telemetry.py compares the default (telemetry
off) with. Never a configuration the product runs.

It is postboard.main's app with the two hooks that telemetry added stubbed out before the app is made:
FastAPI is given the literal configuration create_app gave it before (tracing, metrics and logs off), and
no gauge is registered. Postboard's counters stay: they are OpenTelemetry's no-op instruments, called on
failure paths only (a wrong password, a 429, a replayed refresh token), none of which a bench request takes.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postboard \\
        .venv/bin/uvicorn --app-dir bench telemetry_stubbed_app:app --no-server-header --no-proxy-headers
"""

from fastapi.telemetry import TelemetryConfig
from opentelemetry.metrics import Meter

import postboard.app
from postboard.auth.passwords import PasswordHasher
from postboard.db import Database
from postboard.metrics import Telemetry


def _config_before_metrics(self: Telemetry) -> TelemetryConfig:
    return {"tracing": False, "metrics": False, "logs": False}


def _no_gauges(meter: Meter, database: Database, hasher: PasswordHasher) -> None:
    pass


Telemetry.fastapi_config = _config_before_metrics  # type: ignore[method-assign]
postboard.app.observe_resources = _no_gauges  # type: ignore[attr-defined]

from postboard.main import app  # noqa: E402 (made with the hooks above stubbed)

__all__ = ["app"]
