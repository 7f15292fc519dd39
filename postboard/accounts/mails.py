"""The mails about an account: a password reset link, an email verification link, and the notice of an
email change. Their links point at the web app's pages under PUBLIC_URL, never at the Host a request
named: a forged Host would otherwise get the victim a link to the attacker's site (reset-link poisoning)."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from postboard.accounts.account_tokens import IssuedToken
from postboard.config import Settings
from postboard.headers import WEB_PREFIX
from postboard.mail import Mailer, compose_mail

# Where `postboard serve` listens by default: the links of a development server without PUBLIC_URL.
DEVELOPMENT_URL = "http://127.0.0.1:8000"
RESET_PAGE = f"{WEB_PREFIX}/password/reset"
VERIFY_PAGE = f"{WEB_PREFIX}/email/verify"
RESET_SUBJECT = "Reset your Postboard password"
VERIFICATION_SUBJECT = "Verify your email address for Postboard"
EMAIL_CHANGED_SUBJECT = "Your Postboard email was changed"


@dataclass(frozen=True)
class AccountMails:
    """Composes and sends an account's mails; how long their links last is the settings'."""

    mailer: Mailer
    public_url: str
    reset_lifetime: timedelta
    verification_lifetime: timedelta

    def send_password_reset(self, to: str, issued: IssuedToken) -> None:
        link = self._link(RESET_PAGE, issued.token)
        self._send("password_reset", to, RESET_SUBJECT, link, issued, self.reset_lifetime)

    def send_verification(self, to: str, issued: IssuedToken) -> None:
        link = self._link(VERIFY_PAGE, issued.token)
        self._send("email_verification", to, VERIFICATION_SUBJECT, link, issued, self.verification_lifetime)

    def send_email_changed(self, old_email: str, new_email: str) -> None:
        """Tells the old address, so that a change its owner did not make does not go unnoticed."""
        mail = compose_mail(
            "email_changed", old_email, EMAIL_CHANGED_SUBJECT, new_email=new_email, site=self.public_url
        )
        self.mailer.send(mail)

    def _send(
        self, template: str, to: str, subject: str, link: str, issued: IssuedToken, lifetime: timedelta
    ) -> None:
        expires_at = issued.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        mail = compose_mail(
            template, to, subject, link=link, expires_at=expires_at, expires_in=_in_words(lifetime)
        )
        self.mailer.send(mail)

    def _link(self, page: str, token: str) -> str:
        return f"{self.public_url}{page}?{urlencode({'token': token})}"


def account_mails(settings: Settings, mailer: Mailer) -> AccountMails:
    public_url = DEVELOPMENT_URL if settings.public_url is None else str(settings.public_url).rstrip("/")
    return AccountMails(
        mailer, public_url, settings.password_reset_lifetime, settings.email_verification_lifetime
    )


def _in_words(duration: timedelta) -> str:
    """Such as "30 minutes" or "48 hours": the units the settings give lifetimes in."""
    minutes = round(duration.total_seconds() / 60)
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
