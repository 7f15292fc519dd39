"""`postboard send-test-mail ADDRESS`: one mail through the configured relay, and a clear answer."""

from pathlib import Path

from tests.live_server import run_postboard
from tests.smtp_server import SmtpServer


async def test_the_relay_gets_the_test_mail_and_the_command_says_so(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    settings = {
        **smtp_server.environment(),
        "PUBLIC_URL": "https://board.example.org",
        "MAIL_FROM": "ops@example.org",
    }
    result = run_postboard(["send-test-mail", "admin@example.org"], tmp_path, **settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "postboard: 127.0.0.1 accepted a test mail to admin@example.org\n"
    received = await smtp_server.wait_for_mail("admin@example.org")
    assert received["From"] == "ops@example.org"
    assert received["Subject"] == "Postboard test mail"
    text = received.get_body(("plain",))
    assert text is not None
    assert "https://board.example.org/" in text.get_content()


def test_a_refusal_is_reported_with_the_relays_reply(tmp_path: Path, smtp_server: SmtpServer) -> None:
    smtp_server.recorder.scripted_replies = ["554 5.7.1 Relay access denied"]
    result = run_postboard(["send-test-mail", "admin@example.org"], tmp_path, **smtp_server.environment())
    assert result.returncode == 1
    assert (
        result.stderr == "postboard: error: 127.0.0.1 did not take the mail: 554 5.7.1 Relay access denied\n"
    )


def test_without_smtp_host_there_is_no_relay_to_test(tmp_path: Path) -> None:
    result = run_postboard(["send-test-mail", "admin@example.org"], tmp_path)
    assert result.returncode == 1
    assert "SMTP_HOST is unset" in result.stderr
