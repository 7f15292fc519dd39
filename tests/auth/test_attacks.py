"""The attack matrix over HTTP: forged, tampered, replayed and revoked tokens against the protected routes.

Each forged token is signed with the real TEST_SECRET_KEY and carries every claim and a live session, but
for the one defect under test, so that only the check aimed at that defect can stop it; the positive
control below shows that without the defect such a token is accepted.
"""

import time
import uuid
from functools import cache
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from postboard.auth.tokens import CLOCK_LEEWAY
from tests.forged_tokens import (
    OTHER_KEY,
    b64url_json,
    hand_signed,
    live_claims,
    session_of,
    tampered_payload,
    unsigned,
    unverified_claims,
)
from tests.helpers import (
    INVALID_REFRESH_TOKEN,
    INVALID_TOKEN,
    NEW_PASSWORD,
    TEST_SECRET_KEY,
    Account,
    MakeAccount,
    bearer,
    log_in,
    refresh,
    refresh_pair,
)

PROTECTED_ROUTES = ["/users/me", "/posts/"]
LEEWAY_SECONDS = int(CLOCK_LEEWAY.total_seconds())


# --- a real RSA key, as an attacker holding their own key pair would have ------------------------------


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """The public key as an attacker would find it published: SubjectPublicKeyInfo in PEM."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def rs256_signed(claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    return jwt.encode(claims, key, algorithm="RS256")


# --- calling the API ------------------------------------------------------------------------------------


async def assert_accepted(client: httpx.AsyncClient, token: str, user_id: int) -> None:
    headers = bearer(token)
    for path in PROTECTED_ROUTES:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    me = await client.get("/users/me", headers=headers)
    assert me.json()["id"] == user_id


async def assert_refused(client: httpx.AsyncClient, token: str) -> None:
    headers = bearer(token)
    for path in PROTECTED_ROUTES:
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, f"{path}: {response.status_code} {response.text}"
        assert response.json() == INVALID_TOKEN, path
        assert response.headers.get("WWW-Authenticate") == "Bearer", path


async def assert_refresh_refused(client: httpx.AsyncClient, refresh_token: str) -> None:
    response = await refresh(client, refresh_token)
    assert response.status_code == 401, response.text
    assert response.json() == INVALID_REFRESH_TOKEN
    assert "access_token" not in response.text


# --- the positive control -------------------------------------------------------------------------------


async def test_correctly_forged_token_with_every_claim_and_a_live_session_is_accepted(
    client: httpx.AsyncClient, alice: Account
) -> None:
    # Without this, every refusal below could pass because the forging itself was broken.
    await assert_accepted(client, hand_signed(live_claims(alice)), alice.id)
    await assert_accepted(
        client, jwt.encode(live_claims(alice), TEST_SECRET_KEY, algorithm="HS256"), alice.id
    )


async def test_rs256_token_verifies_under_its_public_key(alice: Account) -> None:
    # The control for the RS256 attacks: they are refused for their algorithm, not for being malformed.
    token = rs256_signed(live_claims(alice), rsa_key())

    claims = jwt.decode(token, public_pem(rsa_key()), algorithms=["RS256"])

    assert claims["user_id"] == alice.id


# --- algorithms and keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(client: httpx.AsyncClient, alice: Account, alg: str) -> None:
    await assert_refused(client, unsigned(live_claims(alice), alg))


async def test_alg_none_with_an_hs256_signature_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    # A correct HMAC under the header "none": a verifier must not fall back to HS256 for it.
    await assert_refused(client, hand_signed(live_claims(alice), alg="none"))


@pytest.mark.parametrize("alg", ["HS512", "HS384"])
async def test_other_hmac_algorithm_with_the_right_key_is_refused(
    client: httpx.AsyncClient, alice: Account, alg: str
) -> None:
    await assert_refused(client, hand_signed(live_claims(alice), alg=alg))


async def test_rs256_token_signed_with_an_rsa_key_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await assert_refused(client, rs256_signed(live_claims(alice), rsa_key()))


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "EdDSA"])
async def test_asymmetric_alg_header_over_an_hmac_with_the_secret_key_is_refused(
    client: httpx.AsyncClient, alice: Account, alg: str
) -> None:
    # The algorithm-confusion attack: an asymmetric algorithm named, an HMAC with the secret key signed.
    await assert_refused(client, hand_signed(live_claims(alice), alg=alg))


async def test_key_confusion_hs256_signed_with_a_public_key_pem_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    # The classic attack on verifiers that take the algorithm from the header: HMAC with the published
    # RSA public key as the secret. Here it is merely a wrong key.
    await assert_refused(client, hand_signed(live_claims(alice), key=public_pem(rsa_key())))


async def test_token_signed_with_another_key_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    await assert_refused(client, jwt.encode(live_claims(alice), OTHER_KEY, algorithm="HS256"))


# --- tampering ------------------------------------------------------------------------------------------


async def test_payload_switched_to_another_user_after_signing_is_refused(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    # Bob's genuine signature over a payload that names alice and her live session: only the signature
    # check stands between bob and alice's account.
    header, _payload, signature = bob.token.split(".")
    payload = b64url_json({**unverified_claims(bob.token), **live_claims(alice)})

    await assert_refused(client, f"{header}.{payload}.{signature}")


async def test_payload_with_a_later_expiry_after_signing_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await assert_refused(client, tampered_payload(alice))


# --- time -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds_past_the_leeway", [30, 60])
async def test_token_expired_beyond_the_leeway_is_refused(
    client: httpx.AsyncClient, alice: Account, seconds_past_the_leeway: int
) -> None:
    now = int(time.time())
    claims = live_claims(alice, iat=now - 3600, exp=now - LEEWAY_SECONDS - seconds_past_the_leeway)

    await assert_refused(client, hand_signed(claims))


@pytest.mark.parametrize("seconds_past_the_leeway", [60, 3600])
async def test_token_with_nbf_in_the_future_is_refused(
    client: httpx.AsyncClient, alice: Account, seconds_past_the_leeway: int
) -> None:
    claims = live_claims(alice, nbf=int(time.time()) + LEEWAY_SECONDS + seconds_past_the_leeway)

    await assert_refused(client, hand_signed(claims))


async def test_token_issued_in_the_future_beyond_the_leeway_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    issued_at = int(time.time()) + LEEWAY_SECONDS + 60
    claims = live_claims(alice, iat=issued_at, exp=issued_at + 1800)

    await assert_refused(client, hand_signed(claims))


# --- claims ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "user_id", "jti", "sid", "type"])
async def test_token_missing_a_required_claim_is_refused(
    client: httpx.AsyncClient, alice: Account, missing: str
) -> None:
    await assert_refused(client, hand_signed(live_claims(alice, **{missing: ...})))


@pytest.mark.parametrize("token_type", ["refresh", "Access", "ACCESS", "access ", "", None, 1, ["access"]])
async def test_token_whose_type_is_not_access_is_refused(
    client: httpx.AsyncClient, alice: Account, token_type: object
) -> None:
    await assert_refused(client, hand_signed(live_claims(alice, type=token_type)))


async def test_sid_that_names_no_session_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    await assert_refused(client, hand_signed(live_claims(alice, sid=uuid.uuid4().hex)))


async def test_sid_of_another_users_session_is_refused(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    # Bob's session is live, and alice exists: only the session's owner can tell them apart.
    await assert_refused(client, hand_signed(live_claims(alice, sid=session_of(bob))))


# --- tokens used for what they are not ------------------------------------------------------------------


async def test_refresh_token_used_as_a_bearer_token_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    tokens = await log_in(client, alice.email, alice.password)

    await assert_refused(client, tokens.refresh)


async def test_access_token_used_as_a_refresh_token_is_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    await assert_refresh_refused(client, alice.token)

    # Refused as not a refresh token at all, not as a replay: alice's session goes on.
    await assert_accepted(client, alice.token, alice.id)


# --- revoked sessions -----------------------------------------------------------------------------------


async def test_logged_out_tokens_are_refused(client: httpx.AsyncClient, alice: Account) -> None:
    tokens = await log_in(client, alice.email, alice.password)
    forged = hand_signed(live_claims(alice, sid=unverified_claims(tokens.access)["sid"]))
    await assert_accepted(client, forged, alice.id)

    logout = await client.post("/logout", headers=tokens.headers)

    assert logout.status_code == 204, logout.text
    await assert_refused(client, tokens.access)
    await assert_refused(client, forged)
    await assert_refresh_refused(client, tokens.refresh)
    # Only that session ended: alice's other login still works.
    await assert_accepted(client, alice.token, alice.id)


async def test_tokens_of_a_deleted_user_are_refused(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    ghost = await make_account()
    other_session = await log_in(client, ghost.email, ghost.password)
    forged = hand_signed(live_claims(ghost))

    deleted = await client.request(
        "DELETE", "/users/me", json={"password": ghost.password}, headers=ghost.headers
    )

    assert deleted.status_code == 204, deleted.text
    await assert_refused(client, ghost.token)
    await assert_refused(client, other_session.access)
    await assert_refused(client, forged)
    await assert_refresh_refused(client, other_session.refresh)


async def test_tokens_from_before_a_password_change_are_refused(
    client: httpx.AsyncClient, alice: Account
) -> None:
    other_session = await log_in(client, alice.email, alice.password)

    changed = await client.put(
        "/users/me/password",
        json={"current_password": alice.password, "new_password": NEW_PASSWORD},
        headers=alice.headers,
    )

    assert changed.status_code == 204, changed.text
    await assert_refused(client, alice.token)
    await assert_refused(client, other_session.access)
    await assert_refresh_refused(client, other_session.refresh)
    # The control: a login with the new password opens the account again.
    fresh = await log_in(client, alice.email, NEW_PASSWORD)
    await assert_accepted(client, fresh.access, alice.id)


async def test_refresh_token_reuse_revokes_the_whole_family(
    client: httpx.AsyncClient, alice: Account
) -> None:
    first = await log_in(client, alice.email, alice.password)
    second = await refresh_pair(client, first.refresh)
    await assert_accepted(client, second.access, alice.id)

    # The retired token comes back, from the thief or the rightful client: the session ends.
    await assert_refresh_refused(client, first.refresh)

    await assert_refresh_refused(client, first.refresh)
    await assert_refresh_refused(client, second.refresh)
    await assert_refused(client, second.access)
    await assert_refused(client, first.access)
    # Alice's other login session is untouched.
    await assert_accepted(client, alice.token, alice.id)
