"""Unit tests of the tokens (no database): what verify_access_token accepts and what it refuses, and the
refresh-token helpers. The forged-token defects that tests/auth/test_attacks.py sends over HTTP (algorithms,
keys, times, missing claims, token types) are not repeated here."""

import base64
import hashlib
import re
import string
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from postboard.auth import tokens
from postboard.auth.models import LOGIN_SESSION_ID_LENGTH
from postboard.auth.tokens import (
    CLOCK_LEEWAY,
    REFRESH_SECRET_BYTES,
    AccessClaims,
    InvalidToken,
    TokenConfig,
    TokenVerifier,
    compose_refresh_token,
    create_access_token,
    hash_refresh_secret,
    new_login_session_id,
    new_refresh_secret,
    parse_refresh_token,
    refresh_secret_matches,
    verify_access_token,
)
from tests.forged_tokens import OTHER_KEY, access_claims, b64url, b64url_json, hand_signed, unverified_claims
from tests.helpers import TEST_SECRET_KEY

CONFIG = TokenConfig(
    TEST_SECRET_KEY,
    access_lifetime=timedelta(minutes=30),
    refresh_lifetime=timedelta(days=14),
    login_session_lifetime=timedelta(days=90),
    login_sessions_per_account=100,
)
ISSUER = "https://postboard.test"
AUDIENCE = "postboard-api"
# The same key, with iss and aud configured: then both are put in tokens, required and checked.
SCOPED_CONFIG = replace(CONFIG, issuer=ISSUER, audience=AUDIENCE)
USER_ID = 42
SESSION_ID = "0123456789abcdef0123456789abcdef"
BASE64URL = frozenset(string.ascii_letters + string.digits + "-_")


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def leeway_seconds() -> int:
    return int(CLOCK_LEEWAY.total_seconds())


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for USER_ID in SESSION_ID; an override of `...` removes the claim."""
    return access_claims(USER_ID, SESSION_ID, **overrides)


def scoped_claims(**overrides: Any) -> dict[str, Any]:
    return claims(**{"iss": ISSUER, "aud": AUDIENCE, **overrides})


def assert_refused(token: str, config: TokenConfig = CONFIG) -> None:
    """Refused by PyJWT's verification, and by the verifier every request goes through."""
    with pytest.raises(InvalidToken):
        verify_access_token(token, config)
    assert TokenVerifier(config).verify(token) is None


# --- accepted -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", [1, 42, 2**31 - 1])
def test_round_trip(user_id: int) -> None:
    token = create_access_token(user_id, SESSION_ID, CONFIG)

    claims = verify_access_token(token, CONFIG)

    assert (claims.user_id, claims.login_session_id) == (user_id, SESSION_ID)
    assert claims.expires_at == jwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"])["exp"]


def test_created_token_carries_the_contract_claims() -> None:
    before = now()
    token = create_access_token(USER_ID, SESSION_ID, CONFIG)

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"])
    assert set(payload) == {"sub", "user_id", "iat", "exp", "jti", "sid", "type"}
    assert type(payload["user_id"]) is int
    assert payload["user_id"] == USER_ID
    assert payload["sub"] == str(USER_ID)
    assert before - 1 <= payload["iat"] <= now() + 1
    assert payload["exp"] - payload["iat"] == 30 * 60


def test_created_token_names_its_session_and_type() -> None:
    payload = unverified_claims(create_access_token(USER_ID, SESSION_ID, CONFIG))

    assert payload["sid"] == SESSION_ID
    assert payload["type"] == "access"


def test_jti_is_unique_per_token() -> None:
    # Same user, same session, same second: only the jti tells the tokens apart.
    tokens = [create_access_token(USER_ID, SESSION_ID, CONFIG) for _ in range(50)]
    jtis = [unverified_claims(token)["jti"] for token in tokens]

    assert all(isinstance(jti, str) and len(jti) >= 16 for jti in jtis)
    assert len(set(jtis)) == len(jtis)
    assert len(set(tokens)) == len(tokens)


def test_lifetime_follows_the_config() -> None:
    token = create_access_token(USER_ID, SESSION_ID, replace(CONFIG, access_lifetime=timedelta(minutes=5)))

    payload = jwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"])
    assert payload["exp"] - payload["iat"] == 5 * 60


def test_hand_built_valid_token_is_accepted() -> None:
    # The control for the refusals below: the builder makes tokens the verifier accepts.
    token_claims = claims()

    assert verify_access_token(hand_signed(token_claims), CONFIG) == AccessClaims(
        USER_ID, SESSION_ID, token_claims["exp"]
    )


def test_expiry_within_the_clock_leeway_is_tolerated() -> None:
    token = hand_signed(claims(iat=now() - 3600, exp=now() - leeway_seconds() // 2))

    assert verify_access_token(token, CONFIG).user_id == USER_ID


def test_extra_claims_are_ignored() -> None:
    token = hand_signed(claims(scope="anything", name="x"))

    assert verify_access_token(token, CONFIG).user_id == USER_ID


# --- refused: time --------------------------------------------------------------------------------------


def test_clock_leeway_is_at_most_30_seconds() -> None:
    assert timedelta(0) <= CLOCK_LEEWAY <= timedelta(seconds=30)


def test_token_expired_31_seconds_ago_is_refused_whatever_the_leeway() -> None:
    assert_refused(hand_signed(claims(iat=now() - 3600, exp=now() - 31)))


def test_token_created_with_a_past_expiry_is_refused() -> None:
    expired_config = replace(CONFIG, access_lifetime=-CLOCK_LEEWAY - timedelta(minutes=1))

    assert_refused(create_access_token(USER_ID, SESSION_ID, expired_config))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": "tomorrow"},
        {"exp": None},
        {"exp": [1]},
        {"iat": "yesterday"},
        {"iat": None},
    ],
)
def test_time_claims_of_the_wrong_type_are_refused(overrides: dict[str, Any]) -> None:
    assert_refused(hand_signed(claims(**overrides)))


# --- refused: tampering and signatures ------------------------------------------------------------------


def test_tampered_header_is_refused() -> None:
    _header, payload, signature = create_access_token(USER_ID, SESSION_ID, CONFIG).split(".")
    forged = b64url_json({"alg": "HS256", "typ": "JWT", "kid": "x"})

    assert_refused(f"{forged}.{payload}.{signature}")


@pytest.mark.parametrize("position", [0, 10, 20])
def test_tampered_signature_is_refused(position: int) -> None:
    header, payload, signature = create_access_token(USER_ID, SESSION_ID, CONFIG).split(".")
    # Not the last character: its low bits are padding, so changing it may not change the signature.
    replacement = "A" if signature[position] != "A" else "B"
    tampered = signature[:position] + replacement + signature[position + 1 :]

    assert_refused(f"{header}.{payload}.{tampered}")


def test_missing_signature_is_refused() -> None:
    header, payload, _signature = create_access_token(USER_ID, SESSION_ID, CONFIG).split(".")

    assert_refused(f"{header}.{payload}.")


def test_header_without_alg_is_refused() -> None:
    assert_refused(hand_signed(claims(), header={"typ": "JWT"}))


# --- refused: claims ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sid", [None, 1, [SESSION_ID], {"id": SESSION_ID}])
def test_sid_that_is_not_a_string_is_refused(sid: Any) -> None:
    assert_refused(hand_signed(claims(sid=sid)))


@pytest.mark.parametrize(
    ("user_id", "sub"),
    [
        ("42", "42"),
        (True, "1"),
        (True, "True"),
        (False, "0"),
        (42.0, "42"),
        (42.5, "42.5"),
        (None, "None"),
        ([42], "42"),
        ({"id": 42}, "42"),
    ],
)
def test_user_id_that_is_not_an_integer_is_refused(user_id: Any, sub: str) -> None:
    assert_refused(hand_signed(claims(user_id=user_id, sub=sub)))


@pytest.mark.parametrize("sub", ["43", "", "042", " 42", "alice@example.com"])
def test_sub_not_matching_user_id_is_refused(sub: str) -> None:
    assert_refused(hand_signed(claims(sub=sub)))


@pytest.mark.parametrize("sub", [42, None, [42]])
def test_sub_that_is_not_a_string_is_refused(sub: Any) -> None:
    assert_refused(hand_signed(claims(sub=sub)))


@pytest.mark.parametrize("payload", [[1, 2], "a string", 42])
def test_payload_that_is_not_an_object_is_refused(payload: Any) -> None:
    assert_refused(hand_signed(payload))


# --- issuer and audience --------------------------------------------------------------------------------


def test_configured_issuer_and_audience_are_put_in_the_token() -> None:
    token = create_access_token(USER_ID, SESSION_ID, SCOPED_CONFIG)

    payload = unverified_claims(token)
    assert payload["iss"] == ISSUER
    assert payload["aud"] == AUDIENCE
    verified = verify_access_token(token, SCOPED_CONFIG)
    assert (verified.user_id, verified.login_session_id) == (USER_ID, SESSION_ID)


def test_without_configured_issuer_and_audience_the_token_has_neither() -> None:
    payload = unverified_claims(create_access_token(USER_ID, SESSION_ID, CONFIG))

    assert "iss" not in payload
    assert "aud" not in payload


def test_hand_built_scoped_token_is_accepted() -> None:
    # The control for the refusals below.
    assert verify_access_token(hand_signed(scoped_claims()), SCOPED_CONFIG).user_id == USER_ID


@pytest.mark.parametrize("issuer", ["https://evil.example", "https://postboard.test/", "", None, [ISSUER]])
def test_wrong_issuer_is_refused(issuer: Any) -> None:
    assert_refused(hand_signed(scoped_claims(iss=issuer)), SCOPED_CONFIG)


@pytest.mark.parametrize("audience", ["another-api", "postboard", "", None, ["another-api"]])
def test_wrong_audience_is_refused(audience: Any) -> None:
    assert_refused(hand_signed(scoped_claims(aud=audience)), SCOPED_CONFIG)


@pytest.mark.parametrize("missing", ["iss", "aud"])
def test_missing_issuer_or_audience_is_refused_when_configured(missing: str) -> None:
    assert_refused(hand_signed(scoped_claims(**{missing: ...})), SCOPED_CONFIG)


def test_token_made_without_issuer_and_audience_is_refused_when_they_are_configured() -> None:
    assert_refused(create_access_token(USER_ID, SESSION_ID, CONFIG), SCOPED_CONFIG)


def test_issuer_alone_is_required_when_only_the_issuer_is_configured() -> None:
    config = replace(CONFIG, issuer=ISSUER)

    assert verify_access_token(hand_signed(claims(iss=ISSUER)), config).user_id == USER_ID
    assert_refused(hand_signed(claims()), config)


def test_audience_alone_is_required_when_only_the_audience_is_configured() -> None:
    config = replace(CONFIG, audience=AUDIENCE)

    assert verify_access_token(hand_signed(claims(aud=AUDIENCE)), config).user_id == USER_ID
    assert_refused(hand_signed(claims()), config)


def test_token_with_an_audience_is_refused_when_none_is_configured() -> None:
    # A token minted for some other service must not open this one.
    assert_refused(hand_signed(claims(aud=AUDIENCE)))
    assert_refused(create_access_token(USER_ID, SESSION_ID, SCOPED_CONFIG))


# --- refused: not a JWT at all --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "",
        " ",
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "..",
        "...",
        "ü.ü.ü",
        "\x00",
        "Bearer",
        "null",
        "eyJhbGciOiJIUzI1NiJ9",
        "eyJhbGciOiJIUzI1NiJ9..",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        f"{b64url(b'not json')}.{b64url(b'not json')}.{b64url(b'sig')}",
        f"{b64url(b'[1]')}.{b64url_json({'user_id': 1})}.{b64url(b'sig')}",
        "x" * 10_000,
        ".".join(["eyJ" * 1000] * 3),
    ],
)
def test_garbage_is_refused(token: str) -> None:
    assert_refused(token)


def test_valid_token_with_surrounding_garbage_is_refused() -> None:
    token = create_access_token(USER_ID, SESSION_ID, CONFIG)

    assert_refused(token + "x")
    assert_refused(token + ".extra")
    assert_refused("x" + token)


# --- the verifier every request goes through ------------------------------------------------------------


class CountedVerification:
    """verify_access_token, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, token: str, config: TokenConfig) -> AccessClaims:
        self.calls += 1
        return verify_access_token(token, config)


@pytest.fixture
def pyjwt_calls(monkeypatch: pytest.MonkeyPatch) -> CountedVerification:
    counted = CountedVerification()
    monkeypatch.setattr(tokens, "verify_access_token", counted)
    return counted


def test_the_verifier_accepts_what_pyjwt_accepts_and_remembers_it(pyjwt_calls: CountedVerification) -> None:
    verifier = TokenVerifier(CONFIG)
    token = create_access_token(USER_ID, SESSION_ID, CONFIG)

    first, second = verifier.verify(token), verifier.verify(token)

    assert first == second == verify_access_token(token, CONFIG)
    assert pyjwt_calls.calls == 1


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier(CONFIG)
    token = create_access_token(USER_ID, SESSION_ID, CONFIG)
    claims = verifier.verify(token)
    assert claims is not None

    monkeypatch.setattr(time, "time", lambda: claims.expires_at + leeway_seconds() - 1)
    assert verifier.verify(token) == claims
    monkeypatch.setattr(time, "time", lambda: claims.expires_at + leeway_seconds())
    assert verifier.verify(token) is None


def test_a_token_signed_with_another_key_never_reaches_pyjwt(pyjwt_calls: CountedVerification) -> None:
    verifier = TokenVerifier(CONFIG)

    for token in (
        create_access_token(USER_ID, SESSION_ID, replace(CONFIG, secret_key=OTHER_KEY)),
        hand_signed(claims(), alg="HS512"),
        "garbage",
        "a.b.c",
    ):
        assert verifier.verify(token) is None
    assert pyjwt_calls.calls == 0


def test_refused_tokens_are_not_remembered(pyjwt_calls: CountedVerification) -> None:
    verifier = TokenVerifier(CONFIG)
    expired = hand_signed(claims(exp=now() - 3600))

    assert verifier.verify(expired) is None
    assert verifier.verify(expired) is None
    assert pyjwt_calls.calls == 2


def test_the_verifier_remembers_at_most_its_capacity(pyjwt_calls: CountedVerification) -> None:
    verifier = TokenVerifier(CONFIG, capacity=2)
    first, second, third = (create_access_token(USER_ID, SESSION_ID, CONFIG) for _ in range(3))
    for token in (first, second, third, first):
        assert verifier.verify(token) is not None

    assert pyjwt_calls.calls == 4  # the first was forgotten when the third came


# --- refresh-token helpers ------------------------------------------------------------------------------


def test_refresh_token_round_trips_through_compose_and_parse() -> None:
    secret = new_refresh_secret()

    token = compose_refresh_token(SESSION_ID, secret)

    assert token.startswith(SESSION_ID)
    assert secret in token
    assert parse_refresh_token(token) == (SESSION_ID, secret)


@pytest.mark.parametrize("token", ["", ".", "no-dot-at-all", f"{SESSION_ID}.", ".a-secret", ".."])
def test_malformed_refresh_token_parses_to_none(token: str) -> None:
    assert parse_refresh_token(token) is None


def test_access_token_does_not_parse_as_a_refresh_token() -> None:
    assert parse_refresh_token(create_access_token(USER_ID, SESSION_ID, CONFIG)) is None


def test_refresh_secret_has_at_least_256_bits_of_entropy() -> None:
    refresh_secrets = [new_refresh_secret() for _ in range(50)]

    assert REFRESH_SECRET_BYTES * 8 >= 256
    for secret in refresh_secrets:
        # 256 bits take 43 base64url characters; fewer characters cannot carry them.
        assert len(secret) >= 43
        assert set(secret) <= BASE64URL
        padded = secret + "=" * (-len(secret) % 4)
        assert len(base64.urlsafe_b64decode(padded)) * 8 >= 256
    assert len(set(refresh_secrets)) == len(refresh_secrets)


def test_refresh_secret_has_no_dot_so_the_session_id_splits_off_cleanly() -> None:
    for _ in range(50):
        secret = new_refresh_secret()
        assert parse_refresh_token(compose_refresh_token(SESSION_ID, secret)) == (SESSION_ID, secret)


def test_hash_refresh_secret_is_the_sha256_hex_digest_not_the_secret() -> None:
    secret = new_refresh_secret()

    stored = hash_refresh_secret(secret)

    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    assert secret not in stored
    assert stored != hash_refresh_secret(new_refresh_secret())


def test_refresh_secret_matches_only_its_own_hash() -> None:
    secret, other = new_refresh_secret(), new_refresh_secret()
    stored = hash_refresh_secret(secret)

    assert refresh_secret_matches(secret, stored)
    assert not refresh_secret_matches(other, stored)
    assert not refresh_secret_matches(stored, stored)  # the hash, if leaked, is no secret
    assert not refresh_secret_matches(secret, secret)  # a plaintext stored by mistake does not match
    assert not refresh_secret_matches(secret[:-1], stored)
    assert not refresh_secret_matches("", stored)


def test_session_ids_are_unique_and_fit_the_column() -> None:
    ids = [new_login_session_id() for _ in range(50)]

    assert all(re.fullmatch(r"[0-9a-f]+", login_session_id) for login_session_id in ids)
    assert all(len(login_session_id) <= LOGIN_SESSION_ID_LENGTH for login_session_id in ids)
    assert len(set(ids)) == len(ids)
