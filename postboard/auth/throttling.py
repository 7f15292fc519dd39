"""Throttling of password guesses, registrations, email changes, refresh-token guesses and mailed links,
counted by the `limits` library in memory or in Redis."""

import hashlib
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import limits
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from postboard.auth.passwords import Admission, Attempt
from postboard.config import Settings
from postboard.errors import (
    TOO_MANY_EMAIL_CHANGES,
    TOO_MANY_LOGIN_FAILURES,
    TOO_MANY_PASSWORD_FAILURES,
    TOO_MANY_PASSWORD_RESETS,
    TOO_MANY_REFRESH_FAILURES,
    TOO_MANY_REGISTRATIONS,
    TOO_MANY_VERIFICATION_MAILS,
    TooManyRequests,
)
from postboard.metrics import AuthCounters

_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True)
class Budget:
    """Limits counted under one name, such as failed logins per account; past them, `message` (429)."""

    name: str
    items: Sequence[limits.RateLimitItem]
    message: str


class AddressBudget(Enum):
    """The budgets kept per client address, which a route may check before it reads the request body."""

    FAILED_LOGINS = "login-address"
    REGISTRATIONS = "register-address"
    FAILED_REFRESHES = "refresh-address"
    PASSWORD_RESETS = "password-reset-address"


# Where `spends_address_budget` leaves its budget on an endpoint, for the route class to find.
_ADDRESS_BUDGET_ATTRIBUTE = "postboard_address_budget"


def spends_address_budget(budget: AddressBudget) -> Callable[[_Endpoint], _Endpoint]:
    """Marks an endpoint whose client address is refused with 429 before its body is read, once `budget`
    is spent for that address (see `auth.dependencies.AuthenticatedRoute`)."""

    def mark(endpoint: _Endpoint) -> _Endpoint:
        setattr(endpoint, _ADDRESS_BUDGET_ATTRIBUTE, budget)
        return endpoint

    return mark


def address_budget_of(endpoint: Callable[..., Any]) -> AddressBudget | None:
    budget: AddressBudget | None = getattr(endpoint, _ADDRESS_BUDGET_ATTRIBUTE, None)
    return budget


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
    """Budgets of failed logins (per account and per address), of failed password confirmations (per
    login session), of failed refreshes and of registrations (per address), and of email changes (per
    account).

    Unknown emails are counted exactly like known ones, so a 429 says nothing about whether an account
    exists. A successful login spends nothing and gives nothing back: interleaving logins to an account
    the attacker owns never refills the budget for guessing another's (or the same address's) password.
    """

    def __init__(self, settings: Settings, counters: AuthCounters) -> None:
        self.enabled = settings.rate_limits
        self._counters = counters
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
        self._login_per_account = Budget(
            "login-account", limits.parse_many(settings.login_limit_per_account), TOO_MANY_LOGIN_FAILURES
        )
        self._password_check_per_session = Budget(
            "password-check-login-session",
            limits.parse_many(settings.password_check_limit_per_session),
            TOO_MANY_PASSWORD_FAILURES,
        )
        self._email_change_per_account = Budget(
            "email-change-account",
            limits.parse_many(settings.email_change_limit_per_account),
            TOO_MANY_EMAIL_CHANGES,
        )
        self._password_reset_per_account = Budget(
            "password-reset-account",
            limits.parse_many(settings.password_reset_limit_per_account),
            TOO_MANY_PASSWORD_RESETS,
        )
        self._verification_mail_per_account = Budget(
            "verification-mail-account",
            limits.parse_many(settings.verification_resend_limit_per_account),
            TOO_MANY_VERIFICATION_MAILS,
        )
        self._per_address = {
            AddressBudget.FAILED_LOGINS: Budget(
                AddressBudget.FAILED_LOGINS.value,
                limits.parse_many(settings.login_limit_per_address),
                TOO_MANY_LOGIN_FAILURES,
            ),
            AddressBudget.REGISTRATIONS: Budget(
                AddressBudget.REGISTRATIONS.value,
                limits.parse_many(settings.register_limit_per_address),
                TOO_MANY_REGISTRATIONS,
            ),
            AddressBudget.FAILED_REFRESHES: Budget(
                AddressBudget.FAILED_REFRESHES.value,
                limits.parse_many(settings.refresh_limit_per_address),
                TOO_MANY_REFRESH_FAILURES,
            ),
            AddressBudget.PASSWORD_RESETS: Budget(
                AddressBudget.PASSWORD_RESETS.value,
                limits.parse_many(settings.password_reset_limit_per_address),
                TOO_MANY_PASSWORD_RESETS,
            ),
        }

    @property
    def redis_pool(self) -> ConnectionPool | None:
        """The pool of the Redis that keeps the counters (for readiness checks); None without REDIS_URL."""
        return self._redis_pool

    async def close(self) -> None:
        if self._redis_pool is not None:
            await self._redis_pool.aclose()

    def login_admission(self, email: str, address: str) -> Admission:
        """Admits a login's password check unless a failure budget of the account or the address is spent
        (429), and counts it against both if the password was wrong."""
        budgets = [
            (self._login_per_account, _account_key(email)),
            (self._per_address[AddressBudget.FAILED_LOGINS], address),
        ]
        return self._failure_admission(budgets, budgets, failure=self._counters.failed_logins.add)

    def password_check_admission(self, login_session_id: str, email: str) -> Admission:
        """Admits a signed-in caller's password confirmation unless their login session's failure budget is
        spent (429); a wrong password counts against it and against the account's login budget.

        The login session's budget is one that only the holder of its token can spend: a stranger's failed
        logins never lock the owner out of changing their password. Counting the failures against the
        account's login budget too means that a stolen access token buys no extra guesses at login.
        """
        login_session = (self._password_check_per_session, login_session_id)
        return self._failure_admission(
            [login_session], [login_session, (self._login_per_account, _account_key(email))], failure=None
        )

    async def refuse_spent_address(self, budget: AddressBudget, address: str) -> None:
        """429 if the address has spent `budget`: checked before a request's body is even read."""
        if self.enabled:
            await self._refuse_if_spent(self._per_address[budget], address)

    async def count_registration(self, address: str) -> None:
        """Counts one registration attempt; 429 once the address's budget is spent."""
        if self.enabled:
            await self._count_within(self._per_address[AddressBudget.REGISTRATIONS], address)

    async def count_email_change(self, user_id: int) -> None:
        """Counts one attempt to change the account's email; 429 once its budget is spent. Every attempt
        counts, taken or not: each one tells whether an address has an account."""
        if self.enabled:
            await self._count_within(self._email_change_per_account, str(user_id))

    async def count_password_reset_request(self, email: str, address: str) -> None:
        """Counts one request for a reset link, against the address's budget and the email's (keyed by its
        digest, known or not: a 429 says nothing about whether an account exists); 429 once one is spent."""
        if self.enabled:
            await self._count_within(self._per_address[AddressBudget.PASSWORD_RESETS], address)
            await self._count_within(self._password_reset_per_account, _account_key(email))

    async def count_verification_mail(self, user_id: int) -> None:
        """Counts one verification link asked for by a signed-in account; 429 once its budget is spent."""
        if self.enabled:
            await self._count_within(self._verification_mail_per_account, str(user_id))

    async def count_failed_refresh(self, address: str) -> None:
        if self.enabled:
            await self._count(self._per_address[AddressBudget.FAILED_REFRESHES], address)

    @asynccontextmanager
    async def _failure_admission(
        self,
        checked: list[tuple[Budget, str]],
        counted: list[tuple[Budget, str]],
        failure: Callable[[int], None] | None,
    ) -> AsyncIterator[Attempt]:
        """Admits an attempt unless a `checked` budget is spent (429); a failed one counts against
        `counted`, and is told to `failure` (a metric), throttling on or off."""
        if self.enabled:
            for budget, key in checked:
                await self._refuse_if_spent(budget, key)
        attempt = Attempt()
        yield attempt
        if failure is not None and not attempt.matched:
            failure(1)
        if self.enabled and not attempt.matched:
            for budget, key in counted:
                await self._count(budget, key)

    async def _refuse_if_spent(self, budget: Budget, key: str) -> None:
        for item in budget.items:
            if not await self._limiter.test(item, budget.name, key):
                self._counters.throttled_requests.add(1, {"budget": budget.name})
                raise TooManyRequests(budget.message, await self._retry_after(item, budget, key))

    async def _count(self, budget: Budget, key: str) -> None:
        for item in budget.items:
            await self._limiter.hit(item, budget.name, key)

    async def _count_within(self, budget: Budget, key: str) -> None:
        for item in budget.items:
            if not await self._limiter.hit(item, budget.name, key):
                self._counters.throttled_requests.add(1, {"budget": budget.name})
                raise TooManyRequests(budget.message, await self._retry_after(item, budget, key))

    async def _retry_after(self, item: limits.RateLimitItem, budget: Budget, key: str) -> int:
        """Whole seconds until the oldest counted attempt leaves the window (at least 1)."""
        stats = await self._limiter.get_window_stats(item, budget.name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
