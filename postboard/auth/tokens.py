"""Access tokens (JWTs signed with HS256) and refresh tokens (opaque random values, stored only as hashes)."""

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "access"
# Tolerated clock difference between the host that issued a token and the one checking it.
CLOCK_LEEWAY = timedelta(seconds=10)
REQUIRED_CLAIMS = ["exp", "iat", "sub", "user_id", "jti", "sid", "type"]
# 256 bits of randomness in each refresh token's secret part.
REFRESH_SECRET_BYTES = 32
# Ours are 76 characters (a 32-character login session id, a dot, 43 of base64url); longer is not ours.
REFRESH_TOKEN_MAX_LENGTH = 128
# Far longer than any token Postboard issues (an access token is about 300 characters): a longer one is
# refused before anything parses, hashes or looks it up.
TOKEN_MAX_LENGTH = 4096


class InvalidToken(Exception):
    """The token cannot be trusted: malformed, tampered, expired, wrongly signed, or missing a claim."""


@dataclass(frozen=True)
class TokenConfig:
    secret_key: str
    access_lifetime: timedelta
    refresh_lifetime: timedelta
    # How long a login session lives, however often it is refreshed.
    login_session_lifetime: timedelta
    # Live login sessions an account may hold: a login past it ends the oldest.
    login_sessions_per_account: int
    issuer: str | None = None
    audience: str | None = None


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says: whose it is, the login session it is from, and
    when it expires (seconds since the epoch)."""

    user_id: int
    login_session_id: str
    expires_at: float


def create_access_token(user_id: int, login_session_id: str, config: TokenConfig) -> str:
    issued_at = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "user_id": user_id,  # the course's clients read it
        "iat": issued_at,
        "exp": issued_at + config.access_lifetime,
        "jti": uuid.uuid4().hex,
        "sid": login_session_id,
        "type": ACCESS_TOKEN_TYPE,
    }
    if config.issuer is not None:
        claims["iss"] = config.issuer
    if config.audience is not None:
        claims["aud"] = config.audience
    return jwt.encode(claims, config.secret_key, algorithm=ALGORITHM)


def verify_access_token(token: str, config: TokenConfig) -> AccessClaims:
    required = [*REQUIRED_CLAIMS, *(["iss"] if config.issuer else []), *(["aud"] if config.audience else [])]
    try:
        claims = jwt.decode(
            token,
            config.secret_key,
            algorithms=[ALGORITHM],
            options={"require": required},
            issuer=config.issuer,
            audience=config.audience,
            leeway=CLOCK_LEEWAY,
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from None
    user_id, login_session_id = claims["user_id"], claims["sid"]
    # bool is an int in Python; a token saying `"user_id": true` was not made here.
    if type(user_id) is not int or claims["sub"] != str(user_id):
        raise InvalidToken("user_id must be an integer matching sub")
    if claims["type"] != ACCESS_TOKEN_TYPE or not isinstance(login_session_id, str):
        raise InvalidToken("not an access token")
    return AccessClaims(user_id=user_id, login_session_id=login_session_id, expires_at=claims["exp"])


@dataclass(frozen=True)
class Caller:
    """Whom a verified access token names: the user, and the login session it was issued from. Whether
    that login session still exists is the database's to say, at every request: `CurrentUser` asks it in the
    request's transaction, and reads fold the question into their own statement (`postboard.auth.reads`).
    """

    user_id: int
    login_session_id: str


class TokenVerifier:
    """Verifies access tokens cheaply, for every request.

    A client sends the same token with every request for its whole lifetime, and PyJWT spends about 70 µs
    on one (it checks each base64 character in Python): a tenth of a page read. So the last `capacity`
    tokens that passed PyJWT's full verification are remembered, and refused again once they expire.
    Tokens that were not signed with our key are refused by one HMAC comparison, before PyJWT, so a flood
    of forged tokens costs next to nothing. Whether a token's login session still exists is checked in
    the database at every request either way.
    """

    def __init__(self, config: TokenConfig, capacity: int = 4096) -> None:
        self._config = config
        self._capacity = capacity
        self._mac = hmac.new(config.secret_key.encode(), digestmod=hashlib.sha256)
        self._remembered: OrderedDict[str, AccessClaims] = OrderedDict()  # least recently used first

    def verify(self, token: str) -> AccessClaims | None:
        """The token's claims, or None if it must be refused."""
        if len(token) > TOKEN_MAX_LENGTH:
            return None
        claims = self._remembered.get(token)
        if claims is None:
            claims = self._verify_unknown(token)
        else:
            self._remembered.move_to_end(token)
        if claims is None or claims.expires_at + CLOCK_LEEWAY.total_seconds() <= time.time():
            return None
        return claims

    def _verify_unknown(self, token: str) -> AccessClaims | None:
        if not self._signed_with_our_key(token):
            return None
        try:
            claims = verify_access_token(token, self._config)
        except InvalidToken:
            return None
        self._remembered[token] = claims
        if len(self._remembered) > self._capacity:
            self._remembered.popitem(last=False)
        return claims

    def _signed_with_our_key(self, token: str) -> bool:
        """Whether the token's third part is the HS256 signature of the first two with our key: every
        token PyJWT would accept is, so a token that is not can be refused without it."""
        signing_input, _, signature = token.rpartition(".")
        try:
            presented = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        except ValueError:  # binascii.Error: not base64url
            return False
        mac = self._mac.copy()
        mac.update(signing_input.encode())
        return hmac.compare_digest(mac.digest(), presented)


def new_login_session_id() -> str:
    return uuid.uuid4().hex


def new_refresh_secret() -> str:
    return secrets.token_urlsafe(REFRESH_SECRET_BYTES)


def hash_refresh_secret(secret: str) -> str:
    """SHA-256 suffices: the secret is random, so there is no dictionary to guess it from."""
    return hashlib.sha256(secret.encode()).hexdigest()


def refresh_secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_refresh_secret(secret), stored_hash)


def compose_refresh_token(login_session_id: str, secret: str) -> str:
    """The login session's id travels in the token, so that a retired token still names the login session it
    came from."""
    return f"{login_session_id}.{secret}"


def parse_refresh_token(token: str) -> tuple[str, str] | None:
    if len(token) > REFRESH_TOKEN_MAX_LENGTH:
        return None
    login_session_id, _, secret = token.partition(".")
    if not login_session_id or not secret:
        return None
    return login_session_id, secret
