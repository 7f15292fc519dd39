"""Where a mail goes: an SMTP relay, or, with no SMTP_HOST, the log."""

import logging
import ssl
from contextlib import suppress
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
from pydantic import SecretStr

from postboard.config import ConfigError, Settings, SmtpTls, check_production_mail

logger = logging.getLogger("postboard.mail")
# The first line of a mail written to the log: what a developer looks for (README: Email).
NOT_SENT_MARKER = "MAIL NOT SENT (SMTP_HOST is unset)"


class DeliveryFailed(Exception):
    """One attempt failed; a permanent failure (a 5xx reply) will fail again, a transient one may not."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Transport(Protocol):
    async def deliver(self, message: EmailMessage) -> None:
        """Hands the message on, or raises DeliveryFailed."""


class LogOnly:
    """Development's default: the mail, its text body included, is written to the log at INFO."""

    async def deliver(self, message: EmailMessage) -> None:
        body = message.get_body(("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        logger.info("%s: to=%s subject=%s\n%s", NOT_SENT_MARKER, message["To"], message["Subject"], text)


@dataclass(frozen=True)
class SmtpRelay:
    host: str
    port: int
    tls: SmtpTls
    username: str | None
    password: SecretStr | None
    # Verifies the relay's certificate and name; never None: there is no way to turn verification off.
    tls_context: ssl.SSLContext
    timeout_seconds: float

    async def deliver(self, message: EmailMessage) -> None:
        relay = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            use_tls=self.tls == "tls",
            # False, not None, for "none": aiosmtplib would otherwise upgrade when offered.
            start_tls=self.tls == "starttls",
            tls_context=self.tls_context,
            timeout=self.timeout_seconds,
        )
        try:
            await relay.connect()  # and STARTTLS, and AUTH, as configured
            await relay.send_message(message)
            with suppress(aiosmtplib.SMTPException):  # the mail is the relay's now, whatever QUIT says
                await relay.quit()
        except aiosmtplib.SMTPRecipientsRefused as error:
            replies = [refused.code for refused in error.recipients]
            raise DeliveryFailed(
                "recipient refused: " + "; ".join(f"{r.code} {r.message}" for r in error.recipients),
                permanent=all(code >= 500 for code in replies),
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            raise DeliveryFailed(f"{error.code} {error.message}", permanent=error.code >= 500) from error
        except aiosmtplib.SMTPNotSupported as error:
            # The relay lacks what the settings ask for (STARTTLS, AUTH): asking again will not help.
            raise DeliveryFailed(f"{error}", permanent=True) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}", permanent=False) from error
        finally:
            # Not QUIT, whose answer a relay that hangs would keep a cancelled attempt waiting for.
            relay.close()


def transport_for(settings: Settings, timeout_seconds: float) -> Transport:
    """Refuses (ConfigError) settings that could not deliver mail: production's without a relay or https
    links, and an SMTP_CA_FILE that is not one."""
    check_production_mail(settings)
    if not settings.smtp_host:
        return LogOnly()
    return SmtpRelay(
        host=settings.smtp_host,
        port=settings.smtp_port_for_tls,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        tls_context=_tls_context(settings),
        timeout_seconds=timeout_seconds,
    )


def _tls_context(settings: Settings) -> ssl.SSLContext:
    if settings.smtp_ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=settings.smtp_ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"SMTP_CA_FILE: cannot read CA certificates from {settings.smtp_ca_file}: {error}"
        ) from None
