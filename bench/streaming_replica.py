"""A PostgreSQL primary and a streaming replica of it, built from nothing in a temporary folder.

For tests/test_replica.py and bench/replica.py: the machine's own PostgreSQL allows no replication
connections, so both servers are made here with the installed binaries (`initdb`, then `pg_basebackup -R`
of it), each on a free port, trusting every local connection. PostgreSQL refuses to run as root: as root,
every server command runs as the `postgres` system user, who owns the folder.
"""

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from harness import free_port

# Debian's layout: /usr/lib/postgresql/<major>/bin.
POSTGRES_INSTALLS = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"
TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.05


class ClusterUnavailable(Exception):
    """This machine cannot build the cluster (no binaries, no `postgres` user); the message says why."""


@dataclass(frozen=True)
class PrimaryAndReplica:
    """Two running servers, as `postgresql://` URLs of their `postgres` database (superuser, trusted), and
    their data folders."""

    primary_url: str
    replica_url: str
    primary_data: Path
    replica_data: Path

    async def wait_for_replay(self) -> None:
        """Returns once the replica has replayed everything the primary has written so far."""
        primary_lsn = await _fetch_value(self.primary_url, "SELECT pg_current_wal_lsn()::text")
        await _wait_for(
            self.replica_url,
            "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
            primary_lsn,
            what="the replica to replay the primary's writes",
        )

    async def pause_replay(self) -> None:
        """The replica keeps answering, from the data it has now, until `resume_replay`."""
        await _fetch_value(self.replica_url, "SELECT pg_wal_replay_pause()::text")
        await _wait_for(
            self.replica_url,
            "SELECT pg_get_wal_replay_pause_state() = 'paused'",
            what="the replica's replay to pause",
        )

    async def resume_replay(self) -> None:
        await _fetch_value(self.replica_url, "SELECT pg_wal_replay_resume()::text")


@contextmanager
def primary_and_replica() -> Iterator[PrimaryAndReplica]:
    """A fresh primary and a replica streaming from it; both stopped and their folder deleted afterwards,
    also when building them fails halfway. Raises ClusterUnavailable when this machine cannot build them."""
    binaries = _postgres_binaries()
    with ExitStack() as cleanup:
        folder = Path(tempfile.mkdtemp(prefix="postboard-replica-"))
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        if os.geteuid() == 0:
            shutil.chown(folder, SYSTEM_USER, SYSTEM_USER)
        primary, replica = folder / "primary", folder / "replica"
        primary_port, replica_port = free_port(), free_port()
        # Trust: local connections only, replication ones included (initdb's pg_hba.conf allows those).
        _run(
            binaries / "initdb",
            *("-D", primary, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"),
        )
        cleanup.enter_context(_running(binaries, primary, primary_port))
        _run(
            binaries / "pg_basebackup",
            *("-h", "127.0.0.1", "-p", primary_port, "-U", "postgres", "-D", replica),
            *("--write-recovery-conf", "--wal-method=stream", "--checkpoint=fast", "--no-sync"),
        )
        cleanup.enter_context(_running(binaries, replica, replica_port))
        cluster = PrimaryAndReplica(_url(primary_port), _url(replica_port), primary, replica)
        asyncio.run(
            _wait_for(
                cluster.replica_url,
                "SELECT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')",
                what="the replica to stream from the primary",
            )
        )
        yield cluster


def _postgres_binaries() -> Path:
    """The bin folder of the newest PostgreSQL installed."""
    installed = sorted(
        (path for path in POSTGRES_INSTALLS.glob("*/bin") if (path / "pg_basebackup").exists()),
        key=lambda path: int(path.parent.name) if path.parent.name.isdecimal() else 0,
    )
    if not installed:
        raise ClusterUnavailable(f"no PostgreSQL server binaries under {POSTGRES_INSTALLS}/<version>/bin")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise ClusterUnavailable(f"no {SYSTEM_USER!r} system user to run PostgreSQL as") from None
    return installed[-1]


@contextmanager
def _running(binaries: Path, data: Path, port: int) -> Iterator[None]:
    """The server of the data folder `data`, on 127.0.0.1:`port`; its socket and log in the folder above."""
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data.parent}"
    # fsync off: a scratch cluster has nothing to keep across a crash of the machine.
    options += " -c fsync=off"
    log = data.parent / f"{data.name}.log"
    _run(binaries / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", TIMEOUT_SECONDS, "start")
    try:
        yield
    finally:
        _run(binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")


def _run(*command: object) -> None:
    arguments = [str(part) for part in command]
    if os.geteuid() == 0:
        arguments = ["runuser", "-u", SYSTEM_USER, "--", *arguments]
    done = subprocess.run(arguments, capture_output=True, text=True, check=False)  # noqa: S603 (ours)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def _url(port: int) -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


async def _fetch_value(url: str, sql: str, *arguments: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(sql, *arguments)
    finally:
        await connection.close()


async def _wait_for(url: str, sql: str, *arguments: object, what: str) -> None:
    """Polls `sql` until it answers true."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not await _fetch_value(url, sql, *arguments):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {TIMEOUT_SECONDS} s for {what}")
        await asyncio.sleep(POLL_SECONDS)
