"""Unit tests of the access tokens (no database): what verify_access_token accepts and what it refuses."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from postboard.auth.tokens import (
    CLOCK_LEEWAY,
    InvalidToken,
    TokenConfig,
    create_access_token,
    verify_access_token,
)
from tests.conftest import TEST_SECRET_KEY

CONFIG = TokenConfig(TEST_SECRET_KEY, timedelta(minutes=30))
OTHER_KEY = "another-secret-key-that-is-also-long-enough"
USER_ID = 42
_HASHES: dict[str, Callable[[], Any]] = {
    "HS256": hashlib.sha256,
    "HS384": hashlib.sha384,
    "HS512": hashlib.sha512,
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def now() -> int:
    return int(datetime.now(UTC).timestamp())


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for USER_ID; an override of `...` removes the claim."""
    issued_at = now()
    values: dict[str, Any] = {
        "sub": str(USER_ID),
        "user_id": USER_ID,
        "iat": issued_at,
        "exp": issued_at + 1800,
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not ...}


def hand_signed(
    payload: dict[str, Any] | list[Any] | str,
    key: str = TEST_SECRET_KEY,
    alg: str = "HS256",
    header: dict[str, Any] | None = None,
) -> str:
    """A JWT built without PyJWT: any header, any payload, HMAC-signed with `key` using `alg`'s hash."""
    header_part = b64url_json(header if header is not None else {"alg": alg, "typ": "JWT"})
    payload_part = b64url_json(payload)
    signing_input = f"{header_part}.{payload_part}".encode()
    signature = hmac.new(key.encode(), signing_input, _HASHES.get(alg, hashlib.sha256)).digest()
    return f"{header_part}.{payload_part}.{b64url(signature)}"


def assert_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_access_token(token, CONFIG)


# --- accepted -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", [1, 42, 2**31 - 1])
def test_round_trip(user_id: int) -> None:
    token = create_access_token(user_id, CONFIG)

    assert verify_access_token(token, CONFIG).id == user_id


def test_created_token_carries_the_contract_claims() -> None:
    before = now()
    token = create_access_token(USER_ID, CONFIG)

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    decoded = jwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"])
    assert type(decoded["user_id"]) is int
    assert decoded["user_id"] == USER_ID
    assert before - 1 <= decoded["iat"] <= now() + 1
    assert decoded["exp"] - decoded["iat"] == 30 * 60


def test_lifetime_follows_the_config() -> None:
    token = create_access_token(USER_ID, TokenConfig(TEST_SECRET_KEY, timedelta(minutes=5)))

    decoded = jwt.decode(token, TEST_SECRET_KEY, algorithms=["HS256"])
    assert decoded["exp"] - decoded["iat"] == 5 * 60


def test_hand_built_valid_token_is_accepted() -> None:
    # The control for the refusals below: the builder makes tokens the verifier accepts.
    assert verify_access_token(hand_signed(claims()), CONFIG).id == USER_ID


def test_expiry_within_the_clock_leeway_is_tolerated() -> None:
    slack = int(CLOCK_LEEWAY.total_seconds()) // 2
    token = hand_signed(claims(iat=now() - 3600, exp=now() - slack))

    assert verify_access_token(token, CONFIG).id == USER_ID


def test_extra_claims_are_ignored() -> None:
    assert verify_access_token(hand_signed(claims(scope="anything", name="x")), CONFIG).id == USER_ID


# --- refused: time --------------------------------------------------------------------------------------


def test_expired_token_is_refused() -> None:
    beyond = int(CLOCK_LEEWAY.total_seconds()) + 30
    assert_refused(hand_signed(claims(iat=now() - 3600, exp=now() - beyond)))


def test_token_created_with_a_past_expiry_is_refused() -> None:
    expired_config = TokenConfig(TEST_SECRET_KEY, -CLOCK_LEEWAY - timedelta(minutes=1))

    assert_refused(create_access_token(USER_ID, expired_config))


def test_iat_in_the_future_beyond_the_leeway_is_refused() -> None:
    ahead = int(CLOCK_LEEWAY.total_seconds()) + 60
    assert_refused(hand_signed(claims(iat=now() + ahead, exp=now() + ahead + 1800)))


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


def test_tampered_payload_is_refused() -> None:
    header, _payload, signature = create_access_token(USER_ID, CONFIG).split(".")
    forged = b64url_json(claims(sub="1", user_id=1))

    assert_refused(f"{header}.{forged}.{signature}")


def test_tampered_header_is_refused() -> None:
    _header, payload, signature = create_access_token(USER_ID, CONFIG).split(".")
    forged = b64url_json({"alg": "HS256", "typ": "JWT", "kid": "x"})

    assert_refused(f"{forged}.{payload}.{signature}")


@pytest.mark.parametrize("position", [0, 10, 20])
def test_tampered_signature_is_refused(position: int) -> None:
    header, payload, signature = create_access_token(USER_ID, CONFIG).split(".")
    # Not the last character: its low bits are padding, so changing it may not change the signature.
    replacement = "A" if signature[position] != "A" else "B"
    tampered = signature[:position] + replacement + signature[position + 1 :]

    assert_refused(f"{header}.{payload}.{tampered}")


def test_missing_signature_is_refused() -> None:
    header, payload, _signature = create_access_token(USER_ID, CONFIG).split(".")

    assert_refused(f"{header}.{payload}.")


def test_token_signed_with_another_key_is_refused() -> None:
    assert_refused(jwt.encode(claims(), OTHER_KEY, algorithm="HS256"))
    assert_refused(create_access_token(USER_ID, TokenConfig(OTHER_KEY, timedelta(minutes=30))))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(alg: str) -> None:
    unsigned = f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(claims())}."

    assert_refused(unsigned)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused_even_with_the_right_key(alg: str) -> None:
    assert_refused(hand_signed(claims(), alg=alg))


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
def test_asymmetric_algorithms_are_refused(alg: str) -> None:
    # `cryptography` is not installed, so the header is crafted by hand; the signature is an HMAC of the
    # signing input with the secret key, as in an algorithm-confusion attack.
    assert_refused(hand_signed(claims(), header={"alg": alg, "typ": "JWT"}))


def test_header_without_alg_is_refused() -> None:
    assert_refused(hand_signed(claims(), header={"typ": "JWT"}))


# --- refused: claims ------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "user_id"])
def test_missing_claim_is_refused(missing: str) -> None:
    assert_refused(hand_signed(claims(**{missing: ...})))


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
    token = create_access_token(USER_ID, CONFIG)

    assert_refused(token + "x")
    assert_refused(token + ".extra")
    assert_refused("x" + token)
