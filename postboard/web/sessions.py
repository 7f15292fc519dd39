"""Browser sessions: a cookie that names a login session of the same kind `POST /login` starts, and the
CSRF tokens of the forms.

The cookie carries the user id and the login session id, signed with a key of its own derived from
SECRET_KEY: it says nothing secret, and cannot be made up. Whether its login session is still alive is the
database's to say at every request, in the same queries a bearer token's caller goes through, so logout,
a password change, account deletion and refresh-token reuse end browser sessions too. The bearer-token API
never reads this cookie.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from postboard.auth.tokens import Caller
from postboard.orm import is_storable_id

SESSION_COOKIE = "postboard_session"
# Before a login there is no session to tie a form's CSRF token to: this random cookie stands in for it
# (a double submit, with the field an HMAC of the cookie rather than its copy).
FORM_COOKIE = "postboard_form"
# Set at an admin's login, for their login session: the pages then show the Admin link. Only a hint for
# the navigation: every admin page and action reads the role from the database.
ADMIN_COOKIE = "postboard_admin"
# Set while the signed-in account's email awaits verification, so that pages show the banner without a
# query of their own (the feed stays one statement). Login, the account page, verifying, a refused resend
# and the ways of signing out set or clear it; it says nothing that is not the browser's own business.
UNVERIFIED_COOKIE = "postboard_unverified"
# Over HTTPS the names take the __Host- prefix: browsers then keep such a cookie only if it was set Secure,
# for Path=/ and without Domain, so a neighbouring subdomain cannot plant one (a login of its choosing).
_HOST_ONLY_PREFIX = "__Host-"
CSRF_FIELD = "csrf_token"
_FORM_SECRET_BYTES = 32
# Far longer than any cookie made here; a longer one is not ours.
_COOKIE_MAX_LENGTH = 256


@dataclass(frozen=True)
class WebCookies:
    """The names of the web app's cookies, and whether they are sent over HTTPS only."""

    secure: bool
    session: str
    form: str
    admin: str
    unverified: str


def web_cookies(secure: bool) -> WebCookies:
    prefix = _HOST_ONLY_PREFIX if secure else ""
    return WebCookies(
        secure,
        prefix + SESSION_COOKIE,
        prefix + FORM_COOKIE,
        prefix + ADMIN_COOKIE,
        prefix + UNVERIFIED_COOKIE,
    )


class NotSignedIn(Exception):
    """The request carries no valid session cookie: the page needs a login."""


class CsrfRefused(Exception):
    """A state-changing form came without its CSRF token, or with a wrong one."""


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: whom the cookie names, the CSRF token of its forms, whether it logged in as an
    admin (which shows the Admin link; what an admin may do is the database's to say), and, on the pages
    it shows, whether its email awaits verification (the banner's)."""

    caller: Caller
    csrf_token: str
    shows_admin_link: bool = False
    unverified: bool = False


class CookieSigner:
    """Signs and checks the session cookie, and makes and checks CSRF tokens, with keys derived from
    SECRET_KEY, one per purpose: none of them can stand in for another, nor for an access token."""

    def __init__(self, secret_key: str) -> None:
        self._session_key = _derive(secret_key, b"postboard web session cookie")
        self._csrf_key = _derive(secret_key, b"postboard web csrf")
        self._admin_key = _derive(secret_key, b"postboard web admin link")

    def session_cookie(self, caller: Caller) -> str:
        payload = f"{caller.user_id}.{caller.login_session_id}"
        return f"{payload}.{_mac(self._session_key, payload)}"

    def caller_of(self, cookie: str | None) -> Caller | None:
        """The caller a session cookie names, if it was made here; None otherwise."""
        if not cookie or len(cookie) > _COOKIE_MAX_LENGTH:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(_mac(self._session_key, payload), signature):
            return None
        user_id, _, login_session_id = payload.partition(".")
        if not user_id.isdigit() or not user_id.isascii() or not is_storable_id(int(user_id)):
            return None
        return Caller(int(user_id), login_session_id)

    def admin_cookie(self, caller: Caller) -> str:
        return _mac(self._admin_key, caller.login_session_id)

    def shows_admin_link(self, caller: Caller, cookie: str | None) -> bool:
        """Whether `cookie` was set at this login session's start, by the login of an admin."""
        return cookie is not None and hmac.compare_digest(
            self.admin_cookie(caller).encode(), cookie.encode("utf-8", "surrogatepass")
        )

    def session_csrf_token(self, caller: Caller) -> str:
        return _mac(self._csrf_key, f"session.{caller.login_session_id}")

    def form_csrf_token(self, form_secret: str) -> str:
        return _mac(self._csrf_key, f"form.{form_secret}")

    def check_session_csrf(self, caller: Caller, presented: str | None) -> None:
        _check(self.session_csrf_token(caller), presented)

    def check_form_csrf(self, form_secret: str | None, presented: str | None) -> None:
        if not form_secret or len(form_secret) > _COOKIE_MAX_LENGTH:
            raise CsrfRefused
        _check(self.form_csrf_token(form_secret), presented)


def new_form_secret() -> str:
    return secrets.token_urlsafe(_FORM_SECRET_BYTES)


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return hmac.new(secret_key.encode(), purpose, hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def _check(expected: str, presented: str | None) -> None:
    if presented is None or not hmac.compare_digest(
        expected.encode(), presented.encode("utf-8", "surrogatepass")
    ):
        raise CsrfRefused
