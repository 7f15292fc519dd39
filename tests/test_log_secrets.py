"""The secrets check of tests/log_secrets.py finds what it looks for, and is installed for the whole run:
it must not pass for want of looking."""

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postboard.access_log import ACCESS_LOGGER_NAME
from tests.helpers import DEFAULT_PASSWORD
from tests.log_secrets import SecretScanner, scanner, secrets_in

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjo0Mn0.c2lnbmF0dXJlLWJ5dGVz"
REFRESH_TOKEN = "0123456789abcdef0123456789abcdef." + "A" * 43
WEB_SESSION_COOKIE = "42.0123456789abcdef0123456789abcdef." + "0f" * 32


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (f"refused token {JWT}", "access token"),
        (f"refresh with {REFRESH_TOKEN} failed", "refresh token"),
        (f"cookies={{'postboard_session': '{WEB_SESSION_COOKIE}'}}", "web session cookie"),
        ("header was Bearer abc", "bearer credential"),
        ("headers={'Authorization': 'x'}", "Authorization header"),
        (f"login with {DEFAULT_PASSWORD!r}", f"password {DEFAULT_PASSWORD!r}"),
    ],
)
def test_each_kind_of_secret_is_found(line: str, kind: str) -> None:
    assert kind in secrets_in(line)


@pytest.mark.parametrize(
    "line",
    [
        'INFO:     [3f2a] 127.0.0.1:5000 - "GET /posts/?limit=5&[redacted] HTTP/1.1" 200 1.2ms user=4',
        '{"logger": "postboard.auth", "message": "auth event=login_failed user_id=None address=1.2.3.4"}',
        "INFO:     [0123456789abcdef0123456789abcdef] Database connection was successful!",
    ],
)
def test_ordinary_lines_hold_no_secret(line: str) -> None:
    assert secrets_in(line) == []


@pytest.fixture
def probe_logger() -> Iterator[tuple[logging.Logger, SecretScanner]]:
    """A logger whose records reach a scanner of the test's own only (the run's would fail the run)."""
    own_scanner = SecretScanner()
    logger = logging.getLogger("postboard.secret_probe")
    logger.addHandler(own_scanner)
    logger.propagate = False
    try:
        yield logger, own_scanner
    finally:
        logger.removeHandler(own_scanner)
        logger.propagate = True


def test_a_record_that_logs_a_token_is_caught_in_both_formats(
    probe_logger: tuple[logging.Logger, SecretScanner],
) -> None:
    logger, own_scanner = probe_logger

    logger.warning("refused %s", JWT)

    assert [finding.secrets for finding in own_scanner.findings] == [["access token"], ["access token"]]
    assert own_scanner.lines_read == 2


def test_a_secret_in_an_exception_trace_is_caught(probe_logger: tuple[logging.Logger, SecretScanner]) -> None:
    logger, own_scanner = probe_logger
    try:
        raise ValueError(f"bad refresh token {REFRESH_TOKEN}")
    except ValueError:
        logger.exception("failed")

    assert own_scanner.findings
    assert all(finding.secrets == ["refresh token"] for finding in own_scanner.findings)


def test_the_run_is_scanned_at_info_from_its_start() -> None:
    read_before = scanner.lines_read

    logging.getLogger("postboard.secret_probe").info("an ordinary line")

    assert scanner in logging.getLogger().handlers
    assert logging.getLogger(ACCESS_LOGGER_NAME).isEnabledFor(logging.INFO)
    assert scanner.lines_read == read_before + 2  # as JSON and as text


def test_a_run_whose_logs_hold_a_token_fails_and_names_the_test(tmp_path: Path) -> None:
    leaking = tmp_path / "test_leak.py"
    leaking.write_text(
        "import logging\n"
        "def test_leaks():\n"
        f"    logging.getLogger('postboard.leak').warning('token %s', {JWT!r})\n"
    )

    run = subprocess.run(  # noqa: S603 (pytest itself)
        [sys.executable, "-m", "pytest", str(leaking), "-p", "tests.log_secrets", "-p", "no:cacheprovider"],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert "1 passed" in run.stdout  # the test itself passed: the run fails for its log
    assert "secrets in log lines" in run.stdout
    assert "test_leak.py::test_leaks, logger postboard.leak: access token" in run.stdout
