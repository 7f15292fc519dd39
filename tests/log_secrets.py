"""A pytest plugin that reads every log line of the test run for secrets: passwords the tests use, access
and refresh tokens, bearer credentials and Authorization headers. Each record that reaches the root logger
is formatted as `postboard serve` would write it, as JSON and as text, and the output of every
`postboard serve` that tests start (tests/live_server.py) is read too. A line holding a secret fails the
run at its end, and is printed with the test that logged it."""

import logging
import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from postboard.logs import TEXT_FORMAT, JsonFormatter, TextFormatter
from postboard.seed import DEMO_PASSWORD
from tests.helpers import DEFAULT_PASSWORD, NEW_PASSWORD, TEST_SECRET_KEY
from tests.smtp_server import SMTP_TEST_PASSWORD

# The passwords tests send (those long enough not to be ordinary words), and the signing key.
KNOWN_SECRETS = (
    DEFAULT_PASSWORD,
    NEW_PASSWORD,
    DEMO_PASSWORD,
    TEST_SECRET_KEY,
    SMTP_TEST_PASSWORD,
    "not the password at all",
    "a fine password",
    "the original password",
    "an impostor's password",
    "an attacker's password",
    "a long password",
    "Val1d-But-Email-Is-Bad",
    "Secret-Trailing-Comma",
    "Secret-As-Text",
    "hunter2",
    "p@ss/word",
)
SECRET_PATTERNS = {
    # A JWT: three base64url segments, the first an encoded JSON object ({"...).
    "access token": re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    # "<login session id>.<secret>" (postboard.auth.tokens.compose_refresh_token).
    "refresh token": re.compile(r"\b[0-9a-f]{32}\.[A-Za-z0-9_-]{43}"),
    # "<user id>.<login session id>.<signature>" (postboard.web.sessions.CookieSigner.session_cookie).
    "web session cookie": re.compile(r"\b[0-9]+\.[0-9a-f]{32}\.[0-9a-f]{64}"),
    "bearer credential": re.compile(r"bearer ", re.IGNORECASE),
    "Authorization header": re.compile(r"authorization", re.IGNORECASE),
}
# The test client's own records (the URLs it requests) are the test's, not the server's.
CLIENT_LOGGERS = ("httpx", "httpcore")


def secrets_in(line: str) -> list[str]:
    """What kinds of secret `line` holds (none: an empty list)."""
    found = [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(line)]
    found += [f"password {secret!r}" for secret in KNOWN_SECRETS if secret in line]
    return found


@dataclass(frozen=True)
class Finding:
    where: str
    secrets: list[str]
    line: str


class SecretScanner(logging.Handler):
    """Formats each record in both of `postboard serve`'s formats and keeps the lines that hold secrets."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.formatters = (JsonFormatter(), TextFormatter(fmt=TEXT_FORMAT, use_colors=False))
        self.findings: list[Finding] = []
        self.lines_read = 0
        self.current_test = "(no test)"

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            return
        for formatter in self.formatters:
            self.scan(formatter.format(record).splitlines(), f"{self.current_test}, logger {record.name}")

    def scan(self, lines: Iterable[str], where: str) -> None:
        for line in lines:
            self.lines_read += 1
            if found := secrets_in(line):
                self.findings.append(Finding(where, found, line[:500]))


scanner = SecretScanner()


def scan_log_file(path: Path) -> None:
    """Called by tests/live_server.py for the output of each `postboard serve` it ran."""
    scanner.scan(path.read_text(errors="replace").splitlines(), f"{scanner.current_test}, {path.name}")


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(scanner)
    # INFO, as `postboard serve` logs: access lines and auth events are made, and so read.
    logging.getLogger("postboard").setLevel(logging.INFO)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    scanner.current_test = item.nodeid
    try:
        return (yield)
    finally:
        scanner.current_test = "(between tests)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    logging.getLogger().removeHandler(scanner)
    if not scanner.findings:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.section("secrets in log lines", sep="=", red=True)
        for finding in scanner.findings:
            reporter.line(f"{finding.where}: {', '.join(finding.secrets)}: {finding.line}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
