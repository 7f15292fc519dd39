"""The mail settings: their defaults and checks, and production's refusal to start without a relay and https
links, from create_app, `postboard serve` and `postboard check`."""

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from postboard.app import create_app
from postboard.config import ConfigError, Settings, startup_warnings
from postboard.mail.transports import LogOnly, SmtpRelay, transport_for
from tests.helpers import TEST_SECRET_KEY
from tests.live_server import run_postboard
from tests.smtp_server import SmtpServer

PRODUCTION = {"postboard_env": "production", "secret_key": TEST_SECRET_KEY}
RELAY = {"smtp_host": "smtp.postboard.example.com", "public_url": "https://postboard.example.com"}
NO_SMTP_HOST = "SMTP_HOST must be set when POSTBOARD_ENV=production"
NO_HTTPS_PUBLIC_URL = "PUBLIC_URL must be set to the site's https address"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(("tls", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_the_port_defaults_to_the_one_of_the_tls_mode(tls: str, port: int) -> None:
    assert settings(smtp_tls=tls).smtp_port_for_tls == port
    assert settings(smtp_tls=tls, smtp_port=2525).smtp_port_for_tls == 2525


def test_the_tls_mode_is_one_of_three_and_defaults_to_starttls() -> None:
    assert settings().smtp_tls == "starttls"
    with pytest.raises(ValidationError, match="smtp_tls"):
        settings(smtp_tls="ssl")


def test_mail_from_defaults_to_no_reply_at_the_public_host() -> None:
    assert settings().mail_sender == "Postboard <no-reply@localhost>"
    assert (
        settings(public_url="https://board.example.org/").mail_sender
        == "Postboard <no-reply@board.example.org>"
    )
    assert settings(mail_from="news@example.org").mail_sender == "news@example.org"
    assert settings(mail_from="The Board <news@example.org>").mail_sender == "The Board <news@example.org>"


@pytest.mark.parametrize(
    "mail_from",
    ["postboard", "@example.org", "news@", "a b@example.org", "news@example.org\r\nBcc: x@example.org"],
)
def test_mail_from_must_be_one_address(mail_from: str) -> None:
    with pytest.raises(ValidationError, match="MAIL_FROM must be one email address"):
        settings(mail_from=mail_from)


def test_empty_smtp_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_CA_FILE", "MAIL_FROM"):
        monkeypatch.setenv(name, "")
    empty = settings()
    assert (empty.smtp_host, empty.smtp_port, empty.smtp_username, empty.smtp_password) == (None,) * 4
    assert (empty.smtp_ca_file, empty.mail_from) == (None, None)


def test_the_relay_login_needs_both_username_and_password() -> None:
    with pytest.raises(ValidationError, match="SMTP_USERNAME and SMTP_PASSWORD"):
        settings(smtp_username="relay-user")
    with pytest.raises(ValidationError, match="SMTP_USERNAME and SMTP_PASSWORD"):
        settings(smtp_password="a relay password")


def test_no_smtp_host_logs_mails_and_an_smtp_host_sends_them() -> None:
    assert isinstance(transport_for(settings(), timeout_seconds=5), LogOnly)
    relay = transport_for(settings(smtp_host="smtp.example.org", smtp_tls="tls"), timeout_seconds=5)
    assert isinstance(relay, SmtpRelay)
    assert (relay.host, relay.port, relay.tls) == ("smtp.example.org", 465, "tls")


def test_an_smtp_ca_file_that_is_not_one_is_refused_at_start(tmp_path: Path) -> None:
    not_certificates = tmp_path / "ca.pem"
    not_certificates.write_text("not a certificate\n")
    for ca_file in (tmp_path / "missing.pem", not_certificates):
        with pytest.raises(ConfigError, match="SMTP_CA_FILE: cannot read CA certificates"):
            transport_for(settings(smtp_host="smtp.example.org", smtp_ca_file=ca_file), timeout_seconds=5)


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"public_url": "https://postboard.example.com"}, NO_SMTP_HOST),
        ({"smtp_host": "smtp.postboard.example.com"}, NO_HTTPS_PUBLIC_URL),
        (
            {"smtp_host": "smtp.postboard.example.com", "public_url": "http://postboard.example.com"},
            NO_HTTPS_PUBLIC_URL,
        ),
    ],
)
def test_production_refuses_to_create_the_app_without_a_relay_and_https_links(
    values: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        create_app(settings(**PRODUCTION, **values))


def test_production_with_a_relay_and_https_links_creates_the_app() -> None:
    app = create_app(settings(**PRODUCTION, **RELAY))
    assert isinstance(app.state.mailer.transport, SmtpRelay)


def test_serve_and_check_refuse_production_without_smtp_host_and_say_what_to_set(tmp_path: Path) -> None:
    production = {
        "POSTBOARD_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "PUBLIC_URL": "https://p.example.com",
    }
    for command in ("serve", "check"):
        result = run_postboard([command], tmp_path, **production)
        assert result.returncode == 1
        assert f"postboard: error: {NO_SMTP_HOST}" in result.stderr
        assert "set SMTP_HOST" in result.stderr
        assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is made before the settings are checked"


def test_serve_and_check_refuse_production_with_plain_http_links(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    production = {
        "POSTBOARD_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "PUBLIC_URL": "http://p.example.com",
        **smtp_server.environment(),
    }
    for command in ("serve", "check"):
        result = run_postboard([command], tmp_path, **production)
        assert result.returncode == 1
        assert NO_HTTPS_PUBLIC_URL in result.stderr


def test_check_passes_production_mail_settings(tmp_path: Path, smtp_server: SmtpServer) -> None:
    database_url = f"sqlite:///{tmp_path / 'postboard.db'}"
    assert run_postboard(["migrate"], tmp_path, DATABASE_URL=database_url).returncode == 0
    production = {
        "POSTBOARD_ENV": "production",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "PUBLIC_URL": "https://p.example.com",
        **smtp_server.environment(),
    }
    result = run_postboard(["check"], tmp_path, **production)
    assert result.returncode == 0, result.stderr
    assert "is reachable and up to date" in result.stdout


def test_a_relay_password_over_plain_smtp_is_warned_about_at_start() -> None:
    login = {"smtp_host": "smtp.example.org", "smtp_username": "u", "smtp_password": "a relay password"}
    [warning] = startup_warnings(settings(**login, smtp_tls="none"))
    assert warning.startswith("SMTP_TLS=none with SMTP_PASSWORD")
    assert startup_warnings(settings(**login)) == []
    assert startup_warnings(settings(smtp_host="localhost", smtp_tls="none")) == []
