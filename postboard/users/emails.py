"""The one form of an email address that accounts are stored, compared and looked up by.

Owners' emails are shown on their posts, so two addresses that a person reads as the same must be one
account, and an address that can pass for another must not be registered at all:
- Compatibility forms and letter case are folded away: NFKC and case folding of the part before the @
  (fullwidth letters become ASCII ones, the ligature U+FB00 becomes `ff`); the domain goes through IDNA's
  own mapping (UTS #46, which email_validator applies), which folds alike and yields the Unicode form shown.
- Look-alike letters of different scripts (a Cyrillic U+0430 among Latin letters) cannot be folded onto
  each other, so each of the part before the @ and the domain's labels must be written in one script: UTS
  #39's "highly restrictive" level, with its Han + Hiragana + Katakana, Han + Bopomofo and Han + Hangul
  (each with Latin) combinations, over the scripts in everyday use (UTS #31's Recommended Scripts, as UTS
  #39's general security profile does). Digits and punctuation belong to every script.

Rows stored before this rule are not rewritten. ASCII addresses come out of it unchanged. A stored
non-ASCII one that it now folds elsewhere (`ß` to `ss`, fullwidth letters to ASCII) or refuses no longer
matches what its owner types, so that account cannot log in; but it may be the look-alike of another
account, folding onto the very same address, and which one keeps it is for a person to judge, not for a
migration. An operator lists the candidates with `SELECT id, email FROM users` filtered to non-ASCII.
"""

import unicodedata
from collections.abc import Sequence

import regex
from email_validator import EmailNotValidError, validate_email

from postboard.users.models import EMAIL_MAX_LENGTH

# UTS #31's Table 5: the scripts in customary modern use.
_RECOMMENDED_SCRIPTS = (
    "Arabic",
    "Armenian",
    "Bengali",
    "Bopomofo",
    "Cyrillic",
    "Devanagari",
    "Ethiopic",
    "Georgian",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hebrew",
    "Hiragana",
    "Kannada",
    "Katakana",
    "Khmer",
    "Lao",
    "Latin",
    "Malayalam",
    "Myanmar",
    "Oriya",
    "Sinhala",
    "Tamil",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
)
# The mixtures that UTS #39's "highly restrictive" level allows: how Japanese, Chinese and Korean are written.
_SCRIPT_COMBINATIONS = (
    ("Latin", "Han", "Hiragana", "Katakana"),
    ("Latin", "Han", "Bopomofo"),
    ("Latin", "Han", "Hangul"),
)


def _written_in(scripts: Sequence[str]) -> regex.Pattern[str]:
    """Text whose every character is used by one of `scripts`, or by any script. Script_Extensions, not
    Script: a mark shared by a few scripts (the Japanese prolonged sound mark) belongs to each of them."""
    members = "".join(rf"\p{{scx={script}}}" for script in (*scripts, "Common", "Inherited"))
    return regex.compile(rf"[{members}]*+")


_WRITING_SYSTEMS = [_written_in([script]) for script in _RECOMMENDED_SCRIPTS] + [
    _written_in(scripts) for scripts in _SCRIPT_COMBINATIONS
]


def normalize_email(email: str) -> str:
    """The stored form of `email`; ValueError, with a message for the client, if it is no address an
    account may have."""
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValueError(f"The email address is longer than {EMAIL_MAX_LENGTH} characters.")
    local_part, at_sign, domain = email.strip().rpartition("@")
    try:
        address = validate_email(_fold(local_part) + at_sign + domain, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    for part in (address.local_part, *address.domain.split(".")):
        _require_one_script(part)
    return f"{address.local_part}@{address.domain}"


def login_email(username: str) -> str:
    """The address a login names, as stored; text that no account can have is only folded, so that it is
    looked up, and counted against the failed-login budgets, like any unknown address. (The login form
    caps `username` at EMAIL_MAX_LENGTH, so folding it is cheap.)"""
    try:
        return normalize_email(username)
    except ValueError:
        return _fold(username)


def _fold(text: str) -> str:
    """Unicode's compatibility caseless form (NFKC before and after case folding, as its definition of
    compatibility caseless matching does)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _require_one_script(part: str) -> None:
    # ASCII is Latin letters and characters of every script: the common case needs no lookup.
    if part.isascii() or any(writing_system.fullmatch(part) for writing_system in _WRITING_SYSTEMS):
        return
    foreign = dict.fromkeys(f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in part if not c.isascii())
    raise ValueError(
        f"The email address is not written in one script in {part!r} ({', '.join(list(foreign)[:3])}): "
        "each part of it must use the letters of one script in common use, so that it cannot pass for "
        "another address."
    )
