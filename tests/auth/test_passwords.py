"""The password hasher's threads: how many, and at which priority."""

import asyncio
import os
import shutil
import subprocess
import sys
import threading

import pytest

from postboard.auth import passwords
from postboard.auth.passwords import PasswordHasher


class ThreadProbe:
    """Stands in for the hash function: records where it ran, and how many ran at once."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.niceness: set[int] = set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, password: str) -> str:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.threads.add(threading.current_thread().name)
            self.niceness.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        threading.Event().wait(0.05)
        with self._lock:
            self.running -= 1
        return password


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ThreadProbe:
    probe = ThreadProbe()
    monkeypatch.setattr(passwords._password_hash, "hash", probe)
    return probe


@pytest.mark.skipif(sys.platform != "linux", reason="thread niceness is set on Linux only")
async def test_hashes_run_on_at_most_max_threads_of_the_hashers_own_at_the_lowest_priority(
    probe: ThreadProbe,
) -> None:
    hasher = PasswordHasher(max_threads=2)
    try:
        await asyncio.gather(*(hasher.hash(f"password {n}") for n in range(8)))
    finally:
        hasher.close()

    assert probe.most_at_once == 2
    assert len(probe.threads) == 2
    assert all(name.startswith("postboard-hashing") for name in probe.threads)
    assert probe.niceness == {19}


@pytest.mark.skipif(shutil.which("taskset") is None, reason="needs taskset")
def test_the_default_number_of_hashing_threads_follows_the_cpus_the_process_may_use() -> None:
    script = "from postboard.config import Settings; print(Settings(_env_file=None).password_hashing_threads)"
    environment = {name: value for name, value in os.environ.items() if name != "PASSWORD_HASHING_THREADS"}

    pinned = subprocess.run(  # noqa: S603 (our own command)
        ["taskset", "-c", "0", sys.executable, "-c", script],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )

    assert pinned.stdout.strip() == "1"
