"""Real SMTP servers for tests (aiosmtpd, each on a free port of 127.0.0.1, in a thread of its own), which
keep the mails they receive; a pytest plugin (registered in tests/conftest.py) with a fixture for each kind.

    async def test_it(smtp_server: SmtpServer, database_url: str) -> None:
        app = create_app(make_settings(database_url, **smtp_server.settings_overrides()))
        ...
        mail = await smtp_server.wait_for_mail("someone@example.com")

`postboard serve` in a subprocess reaches the plain server too: pass `smtp_server.environment()`. For a
server of another scope (a module's), use `with running_smtp_server(Setup()) as server:`."""

import asyncio
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from postboard.config import SmtpTls

HOST = "127.0.0.1"
SMTP_TEST_USERNAME = "relay-user"
SMTP_TEST_PASSWORD = "relay password 7f3c"  # tests/log_secrets.py fails the run if a log line holds it
ACCEPTED = "250 Message accepted for delivery"


@dataclass
class Recorder:
    """aiosmtpd's handler: keeps each mail, or answers with the next scripted reply instead."""

    messages: list[EmailMessage] = field(default_factory=list)
    # Replies to the next DATA commands, in order, such as "451 4.3.0 Try again later".
    scripted_replies: list[str] = field(default_factory=list)
    # Set: each DATA waits this long before answering (a relay that hangs).
    delay_seconds: float = 0
    data_commands: int = 0
    # Set when the server stops: a hanging DATA then ends, so that stopping takes no longer.
    stopping: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.data_commands += 1
        await self._hang()
        if self.scripted_replies:
            return self.scripted_replies.pop(0)
        content = envelope.original_content or b""
        message = BytesParser(policy=email.policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return ACCEPTED

    async def _hang(self) -> None:
        if self.delay_seconds:
            await asyncio.to_thread(self.stopping.wait, self.delay_seconds)


def _check_login(
    _server: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, auth_data: Any
) -> AuthResult:
    accepted = isinstance(auth_data, LoginPassword) and (
        auth_data.login == SMTP_TEST_USERNAME.encode() and auth_data.password == SMTP_TEST_PASSWORD.encode()
    )
    # handled=False: aiosmtpd then answers 535 itself (True says the reply was sent already).
    return AuthResult(success=accepted, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    tls: SmtpTls
    recorder: Recorder
    # The CA that signed the server's certificate (STARTTLS and TLS servers), for SMTP_CA_FILE.
    ca_file: Path | None = None
    requires_auth: bool = False

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages

    def settings_overrides(self) -> dict[str, Any]:
        """Settings that send through this server, for tests.helpers.make_settings."""
        overrides: dict[str, Any] = {"smtp_host": self.host, "smtp_port": self.port, "smtp_tls": self.tls}
        if self.ca_file is not None:
            overrides["smtp_ca_file"] = self.ca_file
        if self.requires_auth:
            overrides.update(smtp_username=SMTP_TEST_USERNAME, smtp_password=SMTP_TEST_PASSWORD)
        return overrides

    def environment(self) -> dict[str, str]:
        """The same, as the environment of a `postboard serve` subprocess."""
        return {name.upper(): str(value) for name, value in self.settings_overrides().items()}

    def mails_to(self, to: str) -> list[EmailMessage]:
        """The mails received so far for `to`, oldest first."""
        return [message for message in self.messages if to in message.get_all("To", [])]

    async def wait_for_mail(self, to: str, timeout: float = 5) -> EmailMessage:  # noqa: ASYNC109 (polls)
        """The first mail received for `to` (which may have arrived already)."""
        [first, *_] = await self.wait_for_mails(to, 1, timeout)
        return first

    async def wait_for_mails(self, to: str, count: int, timeout: float = 5) -> list[EmailMessage]:  # noqa: ASYNC109
        """The first `count` mails received for `to`, oldest first, once that many have arrived."""
        deadline = time.monotonic() + timeout
        while len(received := self.mails_to(to)) < count:
            if time.monotonic() > deadline:
                addressed = [message["To"] for message in self.messages]
                raise AssertionError(
                    f"{len(received)} of {count} mails for {to} within {timeout} s; all: {addressed}"
                )
            await asyncio.sleep(0.02)
        return received[:count]


def production_mail(server: SmtpServer) -> dict[str, str]:
    """The environment that production asks for besides SECRET_KEY: a relay (this one), https links."""
    return {**server.environment(), "PUBLIC_URL": "https://postboard.example.com"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class SmtpCertificates:
    """A TLS server's certificate, and the file that SMTP_CA_FILE names to trust it."""

    server_context: ssl.SSLContext
    ca_file: Path


def _server_context(certificate_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate_file, key_file)
    return context


@pytest.fixture(scope="session")
def smtp_certificates(tmp_path_factory: pytest.TempPathFactory) -> SmtpCertificates:
    """A CA made for the test run, which signs the TLS servers' certificates."""
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("smtp")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server = ca.issue_cert(HOST, "localhost")
    server.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
    server.private_key_pem.write_to_path(str(folder / "server.key"))
    return SmtpCertificates(_server_context(folder / "server.pem", folder / "server.key"), folder / "ca.pem")


@pytest.fixture(scope="session")
def self_signed_certificate(tmp_path_factory: pytest.TempPathFactory) -> SmtpCertificates:
    """A certificate that signs itself, as a small relay's often does: SMTP_CA_FILE names it to trust it."""
    folder = tmp_path_factory.mktemp("smtp-self-signed")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)  # its own issuer
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = folder / "relay.pem", folder / "relay.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return SmtpCertificates(_server_context(certificate_file, key_file), certificate_file)


@dataclass(frozen=True)
class Setup:
    tls: SmtpTls = "none"
    requires_auth: bool = False


@contextmanager
def running_smtp_server(setup: Setup, certificates: SmtpCertificates | None = None) -> Iterator[SmtpServer]:
    """A server for as long as the `with` lasts: the fixtures' own, for tests that need another scope
    (a browser test's server for a whole module)."""
    recorder = Recorder()
    options: dict[str, Any] = {}
    if setup.tls != "none":
        assert certificates is not None, "a TLS server needs a certificate"
        context = certificates.server_context
        options["tls_context" if setup.tls == "starttls" else "ssl_context"] = context
        if setup.tls == "starttls":
            options["require_starttls"] = True
    if setup.requires_auth:
        options.update(authenticator=_check_login, auth_required=True, auth_require_tls=setup.tls != "none")
    port = _free_port()
    controller = Controller(recorder, hostname=HOST, port=port, server_hostname="localhost", **options)
    controller.start()
    try:
        yield SmtpServer(
            HOST,
            port,
            setup.tls,
            recorder,
            ca_file=certificates.ca_file if certificates and setup.tls != "none" else None,
            requires_auth=setup.requires_auth,
        )
    finally:
        recorder.stopping.set()
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """Plain SMTP (SMTP_TLS=none), no AUTH: the simplest relay, reachable from a subprocess too."""
    with running_smtp_server(Setup()) as server:
        yield server


@pytest.fixture
def starttls_smtp_server(smtp_certificates: SmtpCertificates) -> Iterator[SmtpServer]:
    """STARTTLS required, with a certificate of the test CA (SMTP_CA_FILE)."""
    with running_smtp_server(Setup(tls="starttls"), smtp_certificates) as server:
        yield server


@pytest.fixture
def self_signed_starttls_smtp_server(self_signed_certificate: SmtpCertificates) -> Iterator[SmtpServer]:
    """STARTTLS required, with a self-signed certificate (SMTP_CA_FILE names the certificate itself)."""
    with running_smtp_server(Setup(tls="starttls"), self_signed_certificate) as server:
        yield server


@pytest.fixture
def tls_smtp_server(smtp_certificates: SmtpCertificates) -> Iterator[SmtpServer]:
    """Implicit TLS from the first byte (SMTP_TLS=tls)."""
    with running_smtp_server(Setup(tls="tls"), smtp_certificates) as server:
        yield server


@pytest.fixture
def auth_smtp_server(smtp_certificates: SmtpCertificates) -> Iterator[SmtpServer]:
    """STARTTLS, then AUTH with SMTP_TEST_USERNAME and SMTP_TEST_PASSWORD before any mail."""
    with running_smtp_server(Setup(tls="starttls", requires_auth=True), smtp_certificates) as server:
        yield server
