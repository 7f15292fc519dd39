"""The app's Mailer: made from the settings, and drained when the app shuts down."""

from postboard.app import create_app
from postboard.mail import Mailer, compose_mail
from tests.helpers import make_settings
from tests.smtp_server import SmtpServer


async def test_mail_queued_before_shutdown_is_delivered_before_the_app_stops(
    smtp_server: SmtpServer, database_url: str
) -> None:
    smtp_server.recorder.delay_seconds = 0.3
    app = create_app(
        make_settings(database_url, mail_from="Board <board@example.com>", **smtp_server.settings_overrides())
    )
    async with app.router.lifespan_context(app):
        mailer: Mailer = app.state.mailer
        mailer.send(compose_mail("test_mail", "late@example.com", "Sent at shutdown", site_url="http://x/"))
    # The lifespan returned only once the relay had the mail.
    [received] = smtp_server.messages
    assert received["To"] == "late@example.com"
    assert received["From"] == "Board <board@example.com>"


async def test_the_shutdown_gives_up_on_a_relay_that_hangs_after_the_grace_period(
    smtp_server: SmtpServer, database_url: str
) -> None:
    smtp_server.recorder.delay_seconds = 30
    settings = make_settings(database_url, graceful_shutdown_seconds=1, **smtp_server.settings_overrides())
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.mailer.send(
            compose_mail("test_mail", "late@example.com", "Never sent", site_url="http://x/")
        )
    assert app.state.mailer.pending == 0
    assert smtp_server.messages == []
