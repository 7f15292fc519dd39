"""Access tokens built by hand, as an attacker would: any header, any claims, HMAC-signed with any key."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt

from tests.helpers import TEST_SECRET_KEY, Account

OTHER_KEY = "another-secret-key-that-is-also-long-enough"
_HASHES: dict[str, Callable[[], Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def access_claims(user_id: object, login_session_id: object, /, **overrides: Any) -> dict[str, Any]:
    """Every claim of a valid access token for `user_id` in the login session `login_session_id`; an
    override of `...` removes the claim."""
    issued_at = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "user_id": user_id,
        "iat": issued_at,
        "exp": issued_at + 1800,
        "jti": uuid.uuid4().hex,
        "sid": login_session_id,
        "type": "access",
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not ...}


def session_of(account: Account) -> str:
    login_session_id: str = unverified_claims(account.token)["sid"]
    return login_session_id


def live_claims(account: Account, as_user: int | None = None, /, **overrides: Any) -> dict[str, Any]:
    """Every claim of a valid access token for `account`'s live login session, naming `as_user` (the
    account by default); an override of `...` removes the claim."""
    return access_claims(account.id if as_user is None else as_user, session_of(account), **overrides)


def hand_signed(
    payload: dict[str, Any] | list[Any] | str,
    key: str = TEST_SECRET_KEY,
    alg: str = "HS256",
    header: dict[str, Any] | None = None,
) -> str:
    """A JWT built without PyJWT: any header, any payload, HMAC-signed with `key` using `alg`'s hash
    (SHA-256 for an `alg` that is not HMAC, as in an algorithm-confusion attack)."""
    header_part = b64url_json(header if header is not None else {"alg": alg, "typ": "JWT"})
    payload_part = b64url_json(payload)
    signing_input = f"{header_part}.{payload_part}".encode()
    signature = hmac.new(key.encode(), signing_input, _HASHES.get(alg, hashlib.sha256)).digest()
    return f"{header_part}.{payload_part}.{b64url(signature)}"


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    """A JWT whose header names `alg` and which carries no signature at all."""
    return f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(claims)}."


def tampered_payload(account: Account) -> str:
    """The account's token with a later expiry put in after signing, under the original signature."""
    header, _payload, signature = account.token.split(".")
    forged = b64url_json({**unverified_claims(account.token), "exp": 2**40})
    return f"{header}.{forged}.{signature}"


def tampered_signature(account: Account) -> str:
    header, payload, signature = account.token.split(".")
    return f"{header}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
