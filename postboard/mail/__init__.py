"""Mail: composed from templates, delivered in the background through SMTP, or logged (README: Email)."""

from postboard.mail.delivery import Mailer, mailer_from_settings
from postboard.mail.dependencies import AppMailer
from postboard.mail.message import Mail, compose_mail

__all__ = ["AppMailer", "Mail", "Mailer", "compose_mail", "mailer_from_settings"]
