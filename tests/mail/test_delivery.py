"""The Mailer through real SMTP servers (tests/smtp_server.py): each way of securing the connection, the
message's parts and headers, retries, refusals, a relay that hangs, the backlog's bound, the log fallback."""

import asyncio
import logging
import time
from typing import Any

import pytest
from opentelemetry.metrics import Meter, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from postboard.config import Settings
from postboard.mail import Mail, Mailer, compose_mail
from postboard.mail.delivery import MailCounters
from postboard.mail.transports import NOT_SENT_MARKER, transport_for
from tests.smtp_server import SMTP_TEST_PASSWORD, SmtpServer

RECIPIENT = "reader@example.com"
SENDER = "Postboard <no-reply@postboard.example.com>"
# Retries at once: the back-off's length is not what these tests are about.
NO_WAIT = (0.0, 0.0)


def a_mail(to: str = RECIPIENT, subject: str = "Hello from Postboard") -> Mail:
    return compose_mail("test_mail", to=to, subject=subject, site_url="https://postboard.example.com/")


def mailer_for(server: SmtpServer | None, meter: Meter | None = None, **options: Any) -> Mailer:
    """A Mailer sending through `server` (None: the log), as the app's would with its settings."""
    settings = Settings(**server.settings_overrides()) if server else Settings(smtp_host=None)
    options = {"retry_delays": NO_WAIT, **options}
    counters = MailCounters(meter or NoOpMeterProvider().get_meter("tests"))
    return Mailer(transport_for(settings, timeout_seconds=5), SENDER, counters, **options)


def errors_of_the_mailer(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The test relay (aiosmtpd, logger mail.log) logs its own errors beside these."""
    return [
        record
        for record in caplog.records
        if record.name == "postboard.mail" and record.levelno >= logging.ERROR
    ]


async def send_and_wait(mailer: Mailer, mail: Mail) -> None:
    mailer.send(mail)
    await asyncio.wait_for(mailer.wait_until_idle(), 10)


@pytest.mark.parametrize(
    "server_fixture",
    [
        "smtp_server",
        "starttls_smtp_server",
        "self_signed_starttls_smtp_server",
        "tls_smtp_server",
        "auth_smtp_server",
    ],
)
async def test_a_mail_arrives_through_each_way_of_connecting(
    server_fixture: str, request: pytest.FixtureRequest
) -> None:
    server: SmtpServer = request.getfixturevalue(server_fixture)
    await send_and_wait(mailer_for(server), a_mail())
    received = await server.wait_for_mail(RECIPIENT)
    assert received["Subject"] == "Hello from Postboard"


async def test_the_mail_has_text_and_html_parts_and_the_headers_readers_need(smtp_server: SmtpServer) -> None:
    mail = compose_mail(
        "test_mail",
        to=RECIPIENT,
        subject="Links & <tags>",
        site_url="https://postboard.example.com/?a=1&b=<2>",
    )
    await send_and_wait(mailer_for(smtp_server), mail)
    received = await smtp_server.wait_for_mail(RECIPIENT)
    assert received["From"] == SENDER
    assert received["To"] == RECIPIENT
    assert received["Subject"] == "Links & <tags>"
    assert received["Date"].datetime.tzinfo is not None
    assert received["Message-ID"].endswith("@postboard.example.com>")
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None
    assert html is not None
    # The text part is not markup: nothing escaped; the HTML part escapes what it is given.
    assert "https://postboard.example.com/?a=1&b=<2>" in text.get_content()
    assert 'href="https://postboard.example.com/?a=1&amp;b=&lt;2&gt;"' in html.get_content()
    assert "<title>Links &amp; &lt;tags&gt;</title>" in html.get_content()


async def test_two_mails_get_different_message_ids(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server)
    mailer.send(a_mail(subject="First"))
    mailer.send(a_mail(subject="Second"))
    await mailer.wait_until_idle()
    first, second = await smtp_server.wait_for_mails(RECIPIENT, 2)
    assert {first["Subject"], second["Subject"]} == {"First", "Second"}
    assert first["Message-ID"] != second["Message-ID"]


async def test_a_transient_failure_is_retried_until_the_mail_gets_through(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.scripted_replies = ["451 4.3.0 Try again later", "421 4.3.2 Shutting down"]
    await send_and_wait(mailer_for(smtp_server), a_mail())
    await smtp_server.wait_for_mail(RECIPIENT)
    assert smtp_server.recorder.data_commands == 3
    retries = [record for record in caplog.records if "retrying" in record.getMessage()]
    assert [record.levelno for record in retries] == [logging.WARNING, logging.WARNING]
    assert "451 4.3.0 Try again later" in retries[0].getMessage()


async def test_a_mail_is_given_up_after_the_retries_and_that_is_logged(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.scripted_replies = ["451 4.3.0 Try again later"] * 5
    await send_and_wait(mailer_for(smtp_server), a_mail())
    assert smtp_server.recorder.data_commands == 3
    assert smtp_server.messages == []
    [given_up] = errors_of_the_mailer(caplog)
    assert f"to={RECIPIENT}" in given_up.getMessage()
    assert "given up after 3 attempt(s): 451 4.3.0 Try again later" in given_up.getMessage()


async def test_a_permanent_refusal_is_not_retried(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.scripted_replies = ["550 5.1.1 No such mailbox", "250 would have been accepted"]
    await send_and_wait(mailer_for(smtp_server), a_mail())
    assert smtp_server.recorder.data_commands == 1
    [refused] = errors_of_the_mailer(caplog)
    assert "refused, not retried: 550 5.1.1 No such mailbox" in refused.getMessage()


async def test_a_relay_that_does_not_answer_is_given_up_on_after_the_attempt_timeout(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.delay_seconds = 30
    await send_and_wait(mailer_for(smtp_server, attempt_timeout=0.2, retry_delays=()), a_mail())
    [given_up] = errors_of_the_mailer(caplog)
    assert "no answer within 0.2 s" in given_up.getMessage()


async def test_send_returns_at_once_while_the_relay_hangs(smtp_server: SmtpServer) -> None:
    smtp_server.recorder.delay_seconds = 30
    mailer = mailer_for(smtp_server)
    started = time.monotonic()
    mailer.send(a_mail())
    returned_after = time.monotonic() - started
    assert mailer.pending == 1
    # Generous: a hanging relay would hold send() for the full 30 s.
    assert returned_after < 5
    await mailer.close(grace_seconds=0.1)
    assert mailer.pending == 0


async def test_no_relay_writes_the_mail_to_the_log_with_a_marker(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="postboard.mail")
    await send_and_wait(mailer_for(None), a_mail())
    [logged] = [record for record in caplog.records if NOT_SENT_MARKER in record.getMessage()]
    assert logged.levelno == logging.INFO
    assert f"to={RECIPIENT} subject=Hello from Postboard" in logged.getMessage()
    assert "mail from https://postboard.example.com/ reaches you" in logged.getMessage()


async def test_past_the_backlog_mails_are_dropped_with_an_error(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.recorder.delay_seconds = 30
    mailer = mailer_for(smtp_server, max_backlog=3)
    for number in range(5):
        mailer.send(a_mail(f"reader{number}@example.com"))
    assert mailer.pending == 3
    dropped = [record for record in caplog.records if "dropped" in record.getMessage()]
    assert [("reader3@example.com" in record.getMessage()) for record in dropped] == [True, False]
    await mailer.close(grace_seconds=0.1)


async def test_deliveries_run_a_bounded_number_at_a_time(smtp_server: SmtpServer) -> None:
    smtp_server.recorder.delay_seconds = 0.3
    mailer = mailer_for(smtp_server, concurrency=2)
    for number in range(4):
        mailer.send(a_mail(f"reader{number}@example.com"))
    await asyncio.sleep(0.2)
    assert smtp_server.recorder.data_commands == 2
    await mailer.wait_until_idle()
    assert len(smtp_server.messages) == 4


async def test_a_wrong_relay_password_is_refused_and_never_logged(
    auth_smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        **{**auth_smtp_server.settings_overrides(), "smtp_password": "not the relay's password"}
    )
    mailer = Mailer(
        transport_for(settings, timeout_seconds=5),
        SENDER,
        MailCounters(NoOpMeterProvider().get_meter("tests")),
        retry_delays=NO_WAIT,
    )
    await send_and_wait(mailer, a_mail())
    assert auth_smtp_server.messages == []
    [refused] = errors_of_the_mailer(caplog)
    assert "refused, not retried: 535" in refused.getMessage()
    assert all(SMTP_TEST_PASSWORD not in record.getMessage() for record in caplog.records)
    assert all("not the relay's password" not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("server_fixture", ["starttls_smtp_server", "self_signed_starttls_smtp_server"])
async def test_a_relay_whose_certificate_is_not_trusted_gets_no_mail(
    server_fixture: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    server: SmtpServer = request.getfixturevalue(server_fixture)
    settings = Settings(**{**server.settings_overrides(), "smtp_ca_file": None})
    counters = MailCounters(NoOpMeterProvider().get_meter("tests"))
    mailer = Mailer(transport_for(settings, timeout_seconds=5), SENDER, counters, retry_delays=())
    await send_and_wait(mailer, a_mail())
    assert server.messages == []
    [failed] = errors_of_the_mailer(caplog)
    assert "CERTIFICATE_VERIFY_FAILED" in failed.getMessage()


async def test_starttls_asked_for_and_not_offered_sends_nothing_in_the_clear(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(**{**smtp_server.settings_overrides(), "smtp_tls": "starttls"})
    counters = MailCounters(NoOpMeterProvider().get_meter("tests"))
    mailer = Mailer(transport_for(settings, timeout_seconds=5), SENDER, counters, retry_delays=())
    await send_and_wait(mailer, a_mail())
    assert smtp_server.recorder.data_commands == 0
    [failed] = errors_of_the_mailer(caplog)
    assert "STARTTLS extension not supported" in failed.getMessage()


async def test_an_address_with_a_line_break_is_not_sent_and_send_does_not_raise(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    await send_and_wait(mailer_for(smtp_server), a_mail("reader@example.com\r\nBcc: everyone@example.com"))
    assert smtp_server.recorder.data_commands == 0
    [refused] = errors_of_the_mailer(caplog)
    assert "not sent" in refused.getMessage()


async def test_a_background_job_runs_after_send_returns_and_its_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailer = mailer_for(None)
    ran: list[str] = []

    async def job() -> None:
        ran.append("job")

    async def failing_job() -> None:
        raise RuntimeError("the job broke")

    mailer.run_later(job)
    mailer.run_later(failing_job)
    assert ran == []
    await mailer.wait_until_idle()
    assert ran == ["job"]
    [failed] = errors_of_the_mailer(caplog)
    assert "failed" in failed.getMessage()
    assert failed.exc_info is not None
    assert "the job broke" in str(failed.exc_info[1])


def counted(reader: InMemoryMetricReader) -> dict[tuple[str, str], float]:
    """Each counter's value by its `reason` attribute ("" for none)."""
    data = reader.get_metrics_data()
    assert data is not None
    values: dict[tuple[str, str], float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint)
                    reason = dict(point.attributes or {}).get("reason", "")
                    values[metric.name, str(reason)] = float(point.value)
    return values


async def test_sent_and_failed_mails_are_counted(smtp_server: SmtpServer) -> None:
    reader = InMemoryMetricReader()
    mailer = mailer_for(smtp_server, MeterProvider([reader]).get_meter("tests"), max_backlog=1)
    smtp_server.recorder.scripted_replies = ["550 5.1.1 No such mailbox", *["451 4.3.0 Try again later"] * 3]
    for _ in range(3):
        mailer.send(a_mail())  # refused; then gave up after 3 attempts; the third is delivered
        mailer.send(a_mail("dropped@example.com"))  # past the backlog of 1
        await mailer.wait_until_idle()
    smtp_server.recorder.delay_seconds = 30
    mailer.send(a_mail("at-shutdown@example.com"))
    await mailer.close(grace_seconds=0.1)  # the relay hangs: this one is dropped too
    assert counted(reader) == {
        ("postboard.mail.sent", ""): 1,
        ("postboard.mail.failed", "refused"): 1,
        ("postboard.mail.failed", "gave_up"): 1,
        ("postboard.mail.failed", "dropped"): 4,
    }
