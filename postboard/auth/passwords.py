"""Argon2id password hashing, run in worker threads so that hashing never blocks the event loop."""

import anyio
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

# OWASP's recommended Argon2id parameters: 19 MiB of memory, 2 passes, 1 lane.
_password_hash = PasswordHash((Argon2Hasher(memory_cost=19 * 1024, time_cost=2, parallelism=1),))
# Verified for unknown emails, so that a login costs the same whether or not the account exists.
_DUMMY_HASH = _password_hash.hash("an unguessable dummy password for unknown accounts")


class PasswordHasher:
    """Hashes and verifies passwords with at most `max_threads` hashes running at once."""

    def __init__(self, max_threads: int) -> None:
        self._limiter = anyio.CapacityLimiter(max_threads)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(_password_hash.hash, password, limiter=self._limiter)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """False for a wrong password, and for a missing account (after the same amount of work)."""
        matches = await anyio.to_thread.run_sync(
            _password_hash.verify, password, password_hash or _DUMMY_HASH, limiter=self._limiter
        )
        return matches and password_hash is not None
