"""A PostgreSQL server and a Redis server of a test's own, which it may stop, kill and start again: the
suite's shared ones must stay up for every other test."""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis

from tests.live_server import free_port
from tests.services import skip_without_service

START_TIMEOUT_SECONDS = 30
# PostgreSQL refuses to run as root: as root, the server runs as this user, in a folder it owns.
POSTGRES_USER = "postgres"


def postgres_bin() -> Path:
    """Debian's PostgreSQL binaries (the newest installed), or a skip naming what is missing."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        skip_without_service("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) to start")
    return Path(found[-1]).parent


def _check_server_user() -> None:
    try:
        pwd.getpwnam(POSTGRES_USER)
    except KeyError:
        skip_without_service(f"running as root, and no {POSTGRES_USER!r} user to run PostgreSQL as")
    if shutil.which("runuser") is None:
        skip_without_service(f"running as root, and no runuser to run PostgreSQL as {POSTGRES_USER!r}")


class ThrowawayPostgres:
    """A PostgreSQL server in a temporary folder, on a free port on 127.0.0.1, trusting local users."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self._bin = bin_dir
        self._data = folder / "data"
        self._log = folder / "server.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._options = f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1"

    def _run(self, *command: str) -> None:
        as_server_user = ["runuser", "-u", POSTGRES_USER, "--"] if os.geteuid() == 0 else []
        completed = subprocess.run(  # noqa: S603 (PostgreSQL's own tools)
            [*as_server_user, *command], capture_output=True, text=True, timeout=60, check=False
        )
        if completed.returncode != 0:
            log = self._log.read_text() if self._log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}\n{log}")

    def initdb(self) -> None:
        self._run(
            str(self._bin / "initdb"), "-D", str(self._data), "-U", "postgres", "-A", "trust", "--no-sync"
        )

    def start(self) -> None:
        """Returns once the server accepts connections (`pg_ctl -w`)."""
        self._run(
            str(self._bin / "pg_ctl"), "start", "-w", "-t", str(START_TIMEOUT_SECONDS),
            "-D", str(self._data), "-l", str(self._log), "-o", self._options,
        )  # fmt: skip

    def stop(self, mode: str) -> None:
        """`fast`: clients are disconnected and the server shuts down cleanly; `immediate`: every server
        process quits at once, as in a crash, and the next start recovers from the WAL."""
        self._run(str(self._bin / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self._data))


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if os.geteuid() == 0:
        _check_server_user()
    folder = Path(tempfile.mkdtemp(prefix="postboard-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, POSTGRES_USER, POSTGRES_USER)
    server = ThrowawayPostgres(bin_dir, folder)
    try:
        server.initdb()
        server.start()
        yield server
    finally:
        with suppress(RuntimeError):  # already stopped
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


class ThrowawayRedis:
    """`redis-server` on a free port, keeping nothing on disk."""

    def __init__(self, executable: str) -> None:
        self._executable = executable
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Returns once the server answers PING."""
        self._process = subprocess.Popen(  # noqa: S603 (Redis's own server)
            [
                self._executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None


@contextmanager
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    executable = shutil.which("redis-server")
    if executable is None:
        skip_without_service("no redis-server binary to start")
    server = ThrowawayRedis(executable)
    server.start()
    try:
        yield server
    finally:
        server.stop()
