"""Runs `postboard` as a user does: a real process, serving on a real port."""

import os
import pty
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from postboard.config import Settings
from tests.helpers import DEFAULT_PASSWORD
from tests.log_secrets import scan_log_file

POSTBOARD = [sys.executable, "-m", "postboard"]
START_TIMEOUT_SECONDS = 30
# Settings a developer may have exported, Postboard's and OpenTelemetry's (an exported OTLP endpoint would
# turn on every test server's telemetry); each test states its own.
_SETTING_NAMES = frozenset(name.upper() for name in Settings.model_fields)
_OPENTELEMETRY_PREFIX = "OTEL_"


def environment(**settings: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in _SETTING_NAMES and not name.startswith(_OPENTELEMETRY_PREFIX)
    }
    return {**environment, **settings}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_postboard(
    args: list[str], cwd: Path, stdin: str = "", **settings: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own command)
        [*POSTBOARD, *args],
        cwd=cwd,
        env=environment(**settings),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_postboard_at_terminal(
    args: list[str], cwd: Path, answers: list[str], **settings: str
) -> tuple[int, str]:
    """Runs `postboard` with a pseudo-terminal as its controlling terminal, typing each answer once the
    command has asked ("...: "); returns the exit status and everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: becomes the command, in a session of its own on the pseudo-terminal
        os.chdir(cwd)
        os.execve(sys.executable, [*POSTBOARD, *args], environment(**settings))  # noqa: S606 (our own command)
    shown = ""
    pending = list(answers)
    while chunk := _read_terminal(terminal):
        shown += chunk
        if pending and shown.endswith(": "):
            os.write(terminal, f"{pending.pop(0)}\n".encode())
    os.close(terminal)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.replace("\r\n", "\n")


def _read_terminal(terminal: int) -> str:
    """What the terminal shows next; empty once the command has ended."""
    ready, _, _ = select.select([terminal], [], [], START_TIMEOUT_SECONDS)
    if not ready:
        pytest.fail(f"the command showed nothing for {START_TIMEOUT_SECONDS}s")
    try:
        return os.read(terminal, 4096).decode()
    except OSError:  # EIO: the command ended, and the terminal with it
        return ""


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path  # its output

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serve_process(cwd: Path, *args: str, **settings: str) -> Iterator[ServeProcess]:
    """`postboard serve` in the background, once it answers; stopped (SIGTERM) at the end unless it has
    exited, and its output then read for secrets."""
    with serve_process_on(free_port(), cwd, *args, **settings) as server:
        yield server


@contextmanager
def serve_process_on(port: int, cwd: Path, *args: str, **settings: str) -> Iterator[ServeProcess]:
    """`serve_process` on a port chosen beforehand (for settings that name it, such as PUBLIC_URL)."""
    log_path = cwd / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 (our own command)
            [*POSTBOARD, "serve", "--port", str(port), *args],
            cwd=cwd,
            env=environment(**settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = ServeProcess(process, port, log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        scan_log_file(log_path)


@contextmanager
def serving(cwd: Path, *args: str, **settings: str) -> Iterator[tuple[httpx.Client, Path]]:
    """`postboard serve` in the background; yields a client for it and the file its output goes to."""
    with serving_on(free_port(), cwd, *args, **settings) as served:
        yield served


@contextmanager
def serving_on(port: int, cwd: Path, *args: str, **settings: str) -> Iterator[tuple[httpx.Client, Path]]:
    """`serving` on a port chosen beforehand."""
    with (
        serve_process_on(port, cwd, *args, **settings) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):
        yield client, server.log_path


def _wait_until_up(server: ServeProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"serve exited with {server.process.returncode}:\n{server.log_path.read_text()}")
            try:
                if client.get("/").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
    pytest.fail(f"serve did not answer within {START_TIMEOUT_SECONDS}s:\n{server.log_path.read_text()}")


def register_and_log_in(client: httpx.Client, email: str) -> str:
    credentials = {"email": email, "password": DEFAULT_PASSWORD}
    assert client.post("/users/", json=credentials).status_code == 201
    login = client.post("/login", data={"username": email, "password": DEFAULT_PASSWORD})
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token
