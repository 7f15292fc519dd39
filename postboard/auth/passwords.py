"""Password hashing: Argon2id in worker threads, so that hashing never blocks the event loop."""

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import anyio
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

logger = logging.getLogger(__name__)
_Result = TypeVar("_Result")

# Hashing threads run at the lowest priority: a login waits a little longer for the CPU, but reads and
# writes on the event loop are not slowed down by a storm of logins.
_HASHING_NICENESS = 19
# OWASP's recommended Argon2id parameters: 19 MiB of memory, 2 passes, 1 lane. The first hasher makes new
# hashes; bcrypt is there to verify the course's `$2b$12$...` hashes, which are then replaced.
_password_hash = PasswordHash(
    (Argon2Hasher(memory_cost=19 * 1024, time_cost=2, parallelism=1), BcryptHasher())
)
# Verified for unknown emails, so that a login costs the same whether or not the account exists.
_DUMMY_HASH = _password_hash.hash("an unguessable dummy password for unknown accounts")
# bcrypt reads 72 bytes at most; the course's passlib dropped the rest silently, so its hashes cover no more.
_BCRYPT_MAX_BYTES = 72


class Verdict(NamedTuple):
    matches: bool
    # A hash to store in place of the verified one, made with the current parameters; None if it is current.
    new_hash: str | None = None


@dataclass
class Attempt:
    """One verification, as its admission sees it: whether the password matched, once that is known."""

    matched: bool = False


# Entered around one verification, while it holds its hashing slot: it may refuse the verification (by
# raising) before any hashing, and on leaving it knows whether the password matched, before the next
# waiting verification starts. `Throttle` makes them.
Admission = AbstractAsyncContextManager[Attempt]


def _verify_and_update(password: str, password_hash: str) -> Verdict:
    secret: str | bytes = password
    if password_hash.startswith("$2") and len(password.encode()) > _BCRYPT_MAX_BYTES:
        secret = password.encode()[:_BCRYPT_MAX_BYTES]
    try:
        matches, new_hash = _password_hash.verify_and_update(secret, password_hash)
    except (UnknownHashError, ValueError):  # ValueError: a bcrypt-shaped hash that bcrypt cannot read
        logger.warning("a stored password hash is in no known format; that account cannot log in")
        return Verdict(matches=False)
    if matches and new_hash is not None and secret is not password:
        new_hash = _password_hash.hash(password)  # the whole password, now that it is known
    return Verdict(matches, new_hash)


def _lower_this_threads_priority() -> None:
    # On Linux, PRIO_PROCESS with a thread's id sets that thread's niceness alone; elsewhere hashing keeps
    # the default priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _HASHING_NICENESS)


class PasswordHasher:
    """Hashes and verifies passwords on `max_threads` threads of its own, at most that many at once.

    Threads of its own rather than a shared pool: they can run at the lowest priority, and memory stays
    bounded. Each hash needs 19 MiB, which glibc's malloc keeps in the hashing thread's arena for the next
    one: with a few threads that ever hash, that is a few times 19 MiB, reused, where any of a pool's
    forty threads would each have kept its own.
    """

    def __init__(self, max_threads: int) -> None:
        self._limiter = anyio.CapacityLimiter(max_threads)
        self._threads = ThreadPoolExecutor(
            max_threads, thread_name_prefix="postboard-hashing", initializer=_lower_this_threads_priority
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    def waiting(self) -> int:
        """Hashes and verifications queued for a hashing thread: the metrics' Argon2 queue length."""
        return self._limiter.statistics().tasks_waiting

    async def hash(self, password: str) -> str:
        async with self._limiter:
            return await self._run(_password_hash.hash, password)

    async def _run(self, function: Callable[..., _Result], *arguments: object) -> _Result:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *arguments)

    async def verify(self, password: str, password_hash: str | None, admission: Admission) -> Verdict:
        """No match for a wrong password, nor for a missing account (after the same amount of work).

        The admission is entered while this verification holds its hashing slot: a throttle that checks
        on entering and counts on leaving can be overrun by at most `max_threads` parallel attempts per
        process, where checking before queueing would let any burst through.
        """
        async with self._limiter, admission as attempt:
            # `is None`, not `or`: an empty stored hash must not fall back to the dummy, whose password is
            # in this file.
            stored_hash = _DUMMY_HASH if password_hash is None else password_hash
            verdict = await self._run(_verify_and_update, password, stored_hash)
            attempt.matched = verdict.matches and password_hash is not None
        return verdict if attempt.matched else Verdict(matches=False)
