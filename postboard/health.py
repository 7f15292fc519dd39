"""Liveness and readiness, for load balancers, orchestrators and container health checks: public, cheap,
never throttled, and never naming a service's address or credentials."""

import asyncio
import logging
from collections.abc import Awaitable
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel
from redis.asyncio import Redis

from postboard.auth.throttling import Throttle
from postboard.db import PING, Database

logger = logging.getLogger(__name__)

# Each ping's limit: an orchestrator's probe usually gives up after a few seconds, and a service that takes
# longer than this to answer one ping is not fit to serve requests either.
PING_TIMEOUT_SECONDS = 2.0
# As the 503s of requests that meet an unreachable service.
_RETRY_AFTER_SECONDS = "5"

ComponentState = Literal["ok", "unavailable", "not configured"]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Each component's state; `status` is "ready" only when none is unavailable."""

    status: Literal["ready", "unavailable"]
    database: ComponentState
    replica: ComponentState
    redis: ComponentState


# Rendered once: the answer never changes, and a load balancer may ask it every second.
_HEALTHY = Health(status="ok").model_dump_json().encode()

health_router = APIRouter(tags=["Health"])


@health_router.get("/health", response_model=Health)
async def health() -> Response:
    """Liveness: the process answers. Touches neither the database nor Redis."""
    return Response(_HEALTHY, media_type="application/json")


@health_router.get(
    "/ready",
    response_model=Readiness,
    responses={
        status.HTTP_503_SERVICE_UNAVAILABLE: {
            "model": Readiness,
            "description": "A component is unavailable, which the body names; Retry-After says when to ask",
            "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
        }
    },
)
async def ready(request: Request, response: Response) -> Readiness:
    """Readiness: pings the database (and its read replica, if any), and Redis when REDIS_URL is set, each
    within a short timeout. 200 when every configured component answered, else 503."""
    database: Database = request.app.state.database
    throttle: Throttle = request.app.state.throttle
    database_state, replica_state, redis_state = await asyncio.gather(
        _ping("database", database.fetch(PING)),
        _ping("replica", database.fetch_from_replica(PING)) if database.has_replica else _not_configured(),
        _ping("redis", _ping_redis(throttle)) if throttle.redis_pool is not None else _not_configured(),
    )
    states = (database_state, replica_state, redis_state)
    readiness = Readiness(
        status="unavailable" if "unavailable" in states else "ready",
        database=database_state,
        replica=replica_state,
        redis=redis_state,
    )
    if readiness.status == "unavailable":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = _RETRY_AFTER_SECONDS
    return readiness


async def _not_configured() -> ComponentState:
    return "not configured"


async def _ping_redis(throttle: Throttle) -> None:
    assert throttle.redis_pool is not None  # for mypy: the caller checked
    await Redis(connection_pool=throttle.redis_pool).ping()


async def _ping(component: str, ping: Awaitable[object]) -> ComponentState:
    try:
        await asyncio.wait_for(ping, PING_TIMEOUT_SECONDS)
    # Any failure at all means not ready; the log names its kind, never the component's URL.
    except Exception as error:
        logger.warning("readiness: %s unavailable (%s)", component, type(error).__name__)
        return "unavailable"
    return "ok"
