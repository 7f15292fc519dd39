"""The container image, built by `make image` and run as README's "Run with containers" says: podman, a
base image made from Debian's packages, the wheels downloaded on the host, and the image's own command."""

import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from tests.helpers import bearer
from tests.live_server import free_port, register_and_log_in
from tests.services import new_postgres_database, skip_without_service

REPO = Path(__file__).resolve().parent.parent
IMAGE = "localhost/postboard:test"
# Known to work on hosts with hybrid cgroups (crun fails there) and a low hard limit on open files.
CONTAINER_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
# The container runs on a network of its own, as it would in production, and reaches the test PostgreSQL
# on the host's loopback through slirp4netns's address for it.
NETWORK = "slirp4netns:allow_host_loopback=true"
HOST_LOOPBACK_FROM_CONTAINER = "10.0.2.2"
NEEDED_TOOLS = ("podman", "mmdebstrap", "runc", "slirp4netns", "make")
START_TIMEOUT_SECONDS = 60
UNPRIVILEGED_UID = 10001  # the Dockerfile's postboard user


@dataclass(frozen=True)
class Container:
    name: str
    url: str


def podman(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = ["podman", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)  # noqa: S603


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    missing = [tool for tool in NEEDED_TOOLS if shutil.which(tool) is None]
    if missing:
        skip_without_service(
            f"the container test needs {', '.join(missing)} (apt-get install podman mmdebstrap runc uidmap "
            "slirp4netns)"
        )
    build = subprocess.run(  # noqa: S603 (our own Makefile)
        ["make", "-C", str(REPO), "image", f"IMAGE={IMAGE}"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, f"make image failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}"
    yield IMAGE
    podman("rmi", "--force", IMAGE)  # the base image is kept: it takes longest to make, and never changes


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    with new_postgres_database() as database_url:
        name = f"postboard-test-{uuid.uuid4().hex[:12]}"
        port = free_port()
        # Passed by name, so that the key is in no command line.
        settings = {
            "DATABASE_URL": _as_seen_from_container(database_url),
            "SECRET_KEY": secrets.token_hex(32),
            # Production's other requirements (README: Email). No test here reads mail: the relay's name
            # is reserved (RFC 2606) and never resolves, so a mail is retried, logged, and given up.
            "SMTP_HOST": "smtp.postboard.invalid",
            "PUBLIC_URL": "https://postboard.example.com",
        }
        started = podman(
            "run", "--detach", "--name", name, *CONTAINER_FLAGS, "--network", NETWORK,
            "--publish", f"127.0.0.1:{port}:8000", *_pass_by_name(settings), image,
            env={**os.environ, **settings},
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        try:
            running = Container(name, f"http://127.0.0.1:{port}")
            _wait_until_ready(running)
            yield running
        finally:
            podman("rm", "--force", "--time", "10", name)


def _as_seen_from_container(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    if url.host in ("127.0.0.1", "localhost"):
        url = url.set(host=HOST_LOOPBACK_FROM_CONTAINER)
    return url.render_as_string(hide_password=False)


def _pass_by_name(settings: dict[str, str]) -> list[str]:
    return [argument for name in settings for argument in ("--env", name)]


def _wait_until_ready(container: Container) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=container.url, timeout=5) as client:
        while time.monotonic() < deadline:
            if not _is_running(container):
                pytest.fail(f"the container stopped:\n{_logs(container)}")
            try:
                if client.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    pytest.fail(f"/ready did not answer 200 within {START_TIMEOUT_SECONDS}s:\n{_logs(container)}")


def _is_running(container: Container) -> bool:
    state = podman("container", "inspect", "--format", "{{.State.Running}}", container.name)
    return state.stdout.strip() == "true"


def _logs(container: Container) -> str:
    logs = podman("logs", container.name)
    return logs.stdout + logs.stderr


def test_the_image_migrates_at_start_and_is_ready_on_postgresql(container: Container) -> None:
    assert "postboard: migrated the database" in _logs(container)
    ready = httpx.get(f"{container.url}/ready", timeout=5)
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == "ok"


def test_the_images_healthcheck_passes(container: Container) -> None:
    check = podman("healthcheck", "run", container.name)
    assert check.returncode == 0, check.stdout + check.stderr
    health = podman("container", "inspect", "--format", "{{.State.Health.Status}}", container.name)
    assert health.stdout.strip() == "healthy"


def test_register_log_in_and_post_through_the_container(container: Container) -> None:
    with httpx.Client(base_url=container.url, timeout=10) as client:
        headers = bearer(register_and_log_in(client, "container@example.com"))
        created = client.post("/posts/", json={"title": "From a container", "content": "c"}, headers=headers)
        assert created.status_code == 201, created.text
        read = client.get(f"/posts/{created.json()['id']}", headers=headers)
    assert read.status_code == 200
    assert read.json()["Post"]["title"] == "From a container"


def test_the_server_runs_as_an_unprivileged_user(container: Container) -> None:
    host_pid = podman("container", "inspect", "--format", "{{.State.Pid}}", container.name).stdout.strip()
    # Read from the host: the uid the kernel runs the server's process with, not what the image says.
    status = Path(f"/proc/{host_pid}/status").read_text()
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == [str(UNPRIVILEGED_UID)] * 4
    assert "postboard serve" in Path(f"/proc/{host_pid}/cmdline").read_text().replace("\0", " ")


def test_the_image_refuses_to_start_in_production_without_a_secret_key(image: str) -> None:
    # No key is baked in: production is the image's default, and it wants SECRET_KEY from the environment.
    started = podman("run", "--rm", *CONTAINER_FLAGS, "--network", "none", image)
    assert started.returncode != 0
    assert "SECRET_KEY must be set when POSTBOARD_ENV=production" in started.stderr
