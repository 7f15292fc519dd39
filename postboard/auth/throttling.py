"""Throttling of failed logins and of registrations, counted by the `limits` library in memory or Redis."""

import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from postboard.auth.passwords import Admission
from postboard.config import Settings
from postboard.errors import TOO_MANY_LOGIN_FAILURES, TOO_MANY_REGISTRATIONS, TooManyRequests


@dataclass(frozen=True)
class Budget:
    """Limits counted under one name, such as failed logins per account."""

    name: str
    items: Sequence[limits.RateLimitItem]


# A Redis that does not answer within this fails the request with a 503 instead of hanging it.
REDIS_TIMEOUT_SECONDS = 2


def _storage(redis_pool: ConnectionPool | None) -> Storage:
    if redis_pool is None:
        return MemoryStorage()
    # wrap_exceptions: an unreachable Redis surfaces as limits' StorageError, answered with a 503.
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        connection_pool=redis_pool,  # type: ignore[arg-type]  # passed through to redis-py; typed too narrowly
        key_prefix="postboard",
        wrap_exceptions=True,
    )


def _account_key(email: str) -> str:
    """Counters are keyed by a digest: no email is kept in Redis, and a long one makes no long key."""
    return hashlib.sha256(email.encode()).hexdigest()


class Throttle:
    """Budgets of failed logins (per account and per address) and registrations (per address).

    Unknown emails are counted exactly like known ones, so a 429 says nothing about whether an account
    exists. A successful login spends nothing and gives nothing back: interleaving logins to an account
    the attacker owns never refills the budget for guessing another's (or the same address's) password.
    """

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits
        # Our own pool, so that shutting down can close its connections.
        self._redis_pool = (
            None
            if settings.redis_url is None
            else ConnectionPool.from_url(
                settings.redis_url,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
        )
        self._limiter = MovingWindowRateLimiter(_storage(self._redis_pool))
        self._login_per_account = Budget("login-account", limits.parse_many(settings.login_limit_per_account))
        self._login_per_address = Budget("login-address", limits.parse_many(settings.login_limit_per_address))
        self._register_per_address = Budget(
            "register-address", limits.parse_many(settings.register_limit_per_address)
        )

    async def close(self) -> None:
        if self._redis_pool is not None:
            await self._redis_pool.aclose()

    def login_admission(self, email: str, address: str) -> Admission:
        """Admits a password check unless a failure budget of the account or the address is spent (429),
        and counts it if the password was wrong."""

        async def admit() -> None:
            if not self.enabled:
                return
            for budget, key in self._login_budgets(email, address):
                for item in budget.items:
                    if not await self._limiter.test(item, budget.name, key):
                        retry_after = await self._retry_after(item, budget, key)
                        raise TooManyRequests(TOO_MANY_LOGIN_FAILURES, retry_after)

        async def settle(matched: bool) -> None:
            if matched or not self.enabled:
                return
            for budget, key in self._login_budgets(email, address):
                for item in budget.items:
                    await self._limiter.hit(item, budget.name, key)

        return Admission(admit, settle)

    async def count_registration(self, address: str) -> None:
        """Counts one registration attempt; raises TooManyRequests once the address's budget is spent."""
        if not self.enabled:
            return
        budget = self._register_per_address
        for item in budget.items:
            if not await self._limiter.hit(item, budget.name, address):
                raise TooManyRequests(TOO_MANY_REGISTRATIONS, await self._retry_after(item, budget, address))

    def _login_budgets(self, email: str, address: str) -> list[tuple[Budget, str]]:
        return [(self._login_per_account, _account_key(email)), (self._login_per_address, address)]

    async def _retry_after(self, item: limits.RateLimitItem, budget: Budget, key: str) -> int:
        """Whole seconds until the oldest counted attempt leaves the window (at least 1)."""
        stats = await self._limiter.get_window_stats(item, budget.name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
