"""One mail: its parts rendered from templates (postboard/mail/templates/), and its MIME form."""

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES_DIRECTORY = Path(__file__).parent / "templates"
SITE_NAME = "Postboard"

# HTML bodies are autoescaped (an address or a title is people's text, never markup); text bodies are not
# markup at all. Templates ship with the package: compiled once, never checked for changes.
_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIRECTORY),
    auto_reload=False,
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_environment.globals.update(site_name=SITE_NAME)


@dataclass(frozen=True)
class Mail:
    """One message, ready to send."""

    to: str
    subject: str
    text: str
    html: str


def compose_mail(template: str, to: str, subject: str, **context: Any) -> Mail:
    """Renders `{template}.txt` and `{template}.html`, each within the shared layout; the subject is in
    their context too."""
    context = {"subject": subject, **context}
    return Mail(
        to=to,
        subject=subject,
        text=_environment.get_template(f"{template}.txt").render(context),
        html=_environment.get_template(f"{template}.html").render(context),
    )


def mime_message(mail: Mail, sender: str) -> EmailMessage:
    """multipart/alternative: the text first, the HTML preferred by readers that show it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain_of(sender))
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def _domain_of(sender: str) -> str:
    """The sender's domain, for Message-ID: not this host's name, which make_msgid would look up."""
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"
