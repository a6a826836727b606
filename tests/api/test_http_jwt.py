"""JWTs: tender's own signing key published at ``/.well-known/jwks.json`` and the tokens it mints
accepted; forgeries and misaddressed tokens refused (``alg: none``, HS256 signed with the public
key, a wrong ``kid``, issuer or audience, expired); an external issuer's keys fetched by ``kid``
from its JWK Set (a fake issuer behind ``httpx.MockTransport``), never more often than the
minimum interval however many junk ``kid``s arrive."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tender.api.app import create_app
from tender.auth.jwks import MAX_JWKS_BYTES, RemoteKeys, parse_jwks
from tender.auth.keys import SigningKey, SigningKeys, thumbprint
from tender.domain.principals import MAX_ADMIN_SUBJECT
from tender.runtime import Runtime
from tests.api.conftest import SECRET, SIGNING_KEY, Api, assert_error

JWKS = "/.well-known/jwks.json"
CARDS = "/giftcards"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A token put together by hand, as an attacker would, with any header at all."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(sign(f'{head}.{body}'.encode()))}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_thumbprint_is_rfc_7638s() -> None:
    """The example of RFC 8037, appendix A.3."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


async def test_the_jwks_publishes_the_key_tokens_are_signed_with(api: Api) -> None:
    response = await api.client.get(JWKS)  # no credentials needed
    assert response.status_code == 200, response.text
    assert "max-age" in response.headers["cache-control"]
    (key,) = response.json()["keys"]
    assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "d" not in key
    assert key["kid"] == thumbprint({"kty": "OKP", "crv": "Ed25519", "x": key["x"]})
    token = api.admin_jwt("view_giftcards")
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key["kid"], "typ": "JWT"}
    claims = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["EdDSA"],
        audience="tender",
        issuer="tender",
        options={"verify_exp": False, "verify_iat": False},  # minted on the test's clock
    )
    assert claims["sub"] == "ops@example.com"
    # Every worker, and the service after a restart, derives the same key from the settings.
    again = Runtime(api.runtime.settings, clock=api.clock)
    try:
        assert again.signing_keys.jwks() == response.json()
    finally:
        await again.close()
    assert SigningKey.derive(b"another-secret-0123456789abcdefghijkl").kid != key["kid"]


def test_generation_one_is_the_key_tender_always_had() -> None:
    """Rotation came later: the first generation is derived under the label of before, so
    the tokens of a deployment that never rotated stay good."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    label = b"tender/jwt-signing-key/ed25519/v1"
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(SECRET.encode())
    before = SigningKey(Ed25519PrivateKey.from_private_bytes(seed))
    assert SIGNING_KEY.kid == before.kid == SigningKey.derive(SECRET.encode(), 1).kid
    assert SigningKey.derive(SECRET.encode(), 2).kid != before.kid
    with pytest.raises(ValueError, match="count from 1"):
        SigningKey.derive(SECRET.encode(), 0)


@asynccontextmanager
async def rotated(api: Api, generation: int, *, previous: bool = True) -> AsyncIterator[Api]:
    """The same deployment after ``TENDER_JWT_KEY_GENERATION`` (and the previous key's switch)
    changed: every worker derives the same keys again."""
    settings = api.runtime.settings.model_copy(
        update={"jwt_key_generation": generation, "jwt_previous_key": previous}
    )
    runtime = Runtime(settings, clock=api.clock)
    app = httpx.ASGITransport(app=create_app(runtime=runtime))
    try:
        async with httpx.AsyncClient(transport=app, base_url="http://test") as client:
            yield Api(client, runtime, api.clock)
    finally:
        await runtime.close()


async def test_a_rotated_key_signs_and_the_one_before_still_verifies(api: Api) -> None:
    """Raised by one, the generation signs with a new key and keeps verifying tokens minted
    before; raised again, or with the previous key switched off after a leak, those stop."""
    secret = SECRET.encode()
    first, second, third = (SigningKey.derive(secret, n) for n in (1, 2, 3))
    minted_before = api.admin_jwt("view_giftcards")  # generation 1, as ever
    async with rotated(api, 2) as after:
        published = (await after.client.get(JWKS)).json()["keys"]
        assert [key["kid"] for key in published] == [second.kid, first.kid]  # signing first
        assert published == SigningKeys.derive(secret, 2).jwks()["keys"]
        minted_after = after.admin_jwt("view_giftcards", key=second)
        for token in (minted_before, minted_after):
            response = await after.client.get(CARDS, headers=bearer(token))
            assert response.status_code == 200, response.text
    async with rotated(api, 3) as later:
        assert [key["kid"] for key in (await later.client.get(JWKS)).json()["keys"]] == [
            third.kid,
            second.kid,
        ]
        assert (await later.client.get(CARDS, headers=bearer(minted_after))).status_code == 200
        refused = await later.client.get(CARDS, headers=bearer(minted_before))
        assert_error(refused, 401)
    async with rotated(api, 2, previous=False) as leaked:
        assert [key["kid"] for key in (await leaked.client.get(JWKS)).json()["keys"]] == [
            second.kid
        ]
        assert_error(await leaked.client.get(CARDS, headers=bearer(minted_before)), 401)
        assert (await leaked.client.get(CARDS, headers=bearer(minted_after))).status_code == 200


async def test_forged_and_misaddressed_tokens_are_refused(api: Api) -> None:
    kid = SIGNING_KEY.kid
    now = int(api.clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": "tender",
        "aud": "tender",
        "sub": "ops",
        "scope": "view_giftcards",
        "exp": now + 300,
    }

    def own(changes: dict[str, Any], drop: str = "", key_id: str | None = kid) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if k != drop}
        headers = {"kid": key_id} if key_id is not None else None
        return jwt.encode(body, SIGNING_KEY.private, algorithm="EdDSA", headers=headers)

    good = own({})
    assert (await api.client.get(CARDS, headers=bearer(good))).status_code == 200
    raw_public = base64.urlsafe_b64decode(SIGNING_KEY.public_jwk["x"] + "==")
    pem = SIGNING_KEY.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def hs256(secret: bytes) -> str:
        return handmade(
            {"alg": "HS256", "kid": kid, "typ": "JWT"},
            claims,
            lambda m: hmac.new(secret, m, hashlib.sha256).digest(),
        )

    head, body, _ = good.split(".")
    elevated = b64url(json.dumps({**claims, "scope": "manage_giftcards"}).encode())
    forged = {
        "alg none": handmade({"alg": "none", "kid": kid}, claims, lambda _: b""),
        "alg none, no kid": handmade({"alg": "none"}, claims, lambda _: b""),
        "HS256 keyed with the public key": hs256(raw_public),
        "HS256 keyed with its PEM": hs256(pem),
        "HS256 keyed with its x": hs256(SIGNING_KEY.public_jwk["x"].encode()),
        "our kid, another key": jwt.encode(
            claims,
            SigningKey.derive(b"another-secret-0123456789abcdefghijkl").private,
            algorithm="EdDSA",
            headers={"kid": kid},
        ),
        "our kid, ES256": jwt.encode(
            claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": kid}
        ),
        "unknown kid": own({}, key_id="not-our-key"),
        "no kid": own({}, key_id=None),
        "claims changed after signing": f"{head}.{elevated}.{good.split('.')[2]}",
        "wrong issuer": own({"iss": "https://evil.example"}),
        "no issuer": own({}, drop="iss"),
        "wrong audience": own({"aud": "another-service"}),
        "no audience": own({}, drop="aud"),
        "expired beyond the leeway": own({"exp": now - 61}),
        "not valid yet": own({"nbf": now + 120}),
        "no expiry": own({}, drop="exp"),
    }
    assert body  # the good token had claims to tamper with
    for name, token in forged.items():
        response = await api.client.get(CARDS, headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert_error(response, 401, "invalid_token")
    within_leeway = own({"exp": now - 20})
    assert (await api.client.get(CARDS, headers=bearer(within_leeway))).status_code == 200


def test_a_jwk_set_gives_only_public_signing_keys() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    leaked = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private))
    document = {
        "keys": [
            {"kty": "oct", "k": b64url(b"shared-secret"), "kid": "symmetric"},
            {**leaked, "kid": "with-private-part"},
            {**public, "kid": "for-encryption", "use": "enc"},
            {**public, "kid": "hs-labelled", "alg": "HS256"},
            {**public},
            {**public, "kid": 7},
            {"kty": "RSA", "kid": "broken", "n": "x", "e": "AQAB"},
            "not a key",
            {**public, "kid": "good"},
        ]
    }
    keys = parse_jwks(document)
    assert list(keys) == ["good"]
    assert keys["good"].algorithm_name == "ES256"
    with pytest.raises(ValueError, match="JWK Set"):
        parse_jwks({"keys": "none"})


# --- an external issuer --------------------------------------------------------------------

ISSUER = "https://idp.example"
ISSUER_JWKS = "https://idp.example/.well-known/jwks.json"


class FakeIssuer:
    """An identity provider's JWK Set endpoint: it counts the requests it gets."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.requests = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == ISSUER_JWKS
        self.requests += 1
        if self.down:
            return httpx.Response(503)
        published = []
        for kid, key in self.keys.items():
            algorithm = jwt.algorithms.ECAlgorithm if kid.startswith("ec") else None
            algorithm = algorithm or jwt.algorithms.RSAAlgorithm
            jwk = json.loads(algorithm.to_jwk(key.public_key()))
            published.append({**jwk, "kid": kid, "use": "sig"})
        return httpx.Response(200, json={"keys": published})

    def token(self, kid: str, now: int, **claims: Any) -> str:
        alg = "ES256" if kid.startswith("ec") else "RS256"
        body = {"iss": ISSUER, "aud": "tender", "sub": "mc-user-1", "exp": now + 300, **claims}
        return jwt.encode(body, self.keys[kid], algorithm=alg, headers={"kid": kid})


@pytest.fixture
async def external(api: Api) -> AsyncIterator[tuple[Api, FakeIssuer]]:
    issuer = FakeIssuer()
    issuer.keys["ec-1"] = ec.generate_private_key(ec.SECP256R1())
    settings = api.runtime.settings.model_copy(
        update={"jwt_issuer": ISSUER, "jwt_jwks_url": ISSUER_JWKS}
    )
    transport = httpx.MockTransport(issuer.handler)
    runtime = Runtime(settings, clock=api.clock, jwks_transport=transport)
    app = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=app, base_url="http://test") as client:
        yield Api(client, runtime, api.clock), issuer
    await runtime.close()


async def test_an_external_issuers_tokens_verify_with_its_keys(
    external: tuple[Api, FakeIssuer],
) -> None:
    api, issuer = external
    now = int(api.clock.now().timestamp())
    # Its own scope names are ignored; the ones tender knows are granted.
    token = issuer.token("ec-1", now, scope="manage_project:shop view_giftcards")
    for _ in range(3):
        assert (await api.client.get(CARDS, headers=bearer(token))).status_code == 200
    assert issuer.requests == 1  # fetched once, then cached
    status = await api.client.get("/operations/status", headers=bearer(issuer.token("ec-1", now)))
    assert status.status_code == 200, status.text
    assert (await api.client.get(CARDS, headers=bearer(api.admin_jwt("")))).status_code == 403
    pem = (
        issuer.keys["ec-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = {
        "iss": ISSUER,
        "aud": "tender",
        "sub": "x",
        "exp": now + 60,
        "scope": "view_giftcards",
    }
    refused = {
        "wrong audience": issuer.token("ec-1", now, aud="someone-else", scope="view_giftcards"),
        "unknown issuer": issuer.token("ec-1", now, iss="https://other", scope="view_giftcards"),
        "tender as issuer": issuer.token("ec-1", now, iss="tender", scope="view_giftcards"),
        "HS256 keyed with its PEM": handmade(
            {"alg": "HS256", "kid": "ec-1"},
            claims,
            lambda m: hmac.new(pem, m, hashlib.sha256).digest(),
        ),
        "alg none": handmade({"alg": "none", "kid": "ec-1"}, claims, lambda _: b""),
        "too long-lived": issuer.token("ec-1", now, exp=now + 30 * 86400, scope="view_giftcards"),
        "expired": issuer.token("ec-1", now, exp=now - 120, scope="view_giftcards"),
    }
    for name, forged in refused.items():
        response = await api.client.get(CARDS, headers=bearer(forged))
        assert response.status_code == 401, (name, response.text)
    assert issuer.requests == 1


async def test_junk_kids_do_not_make_tender_hammer_the_issuer(
    external: tuple[Api, FakeIssuer],
) -> None:
    api, issuer = external
    now = int(api.clock.now().timestamp())
    junk_key = issuer.keys["ec-1"]

    async def junk() -> int:
        body = {"iss": ISSUER, "aud": "tender", "sub": "x", "exp": now + 60}
        kid = f"ec-{uuid.uuid4()}"
        token = jwt.encode(body, junk_key, algorithm="ES256", headers={"kid": kid})
        return (await api.client.get("/operations/status", headers=bearer(token))).status_code

    assert await asyncio.gather(*(junk() for _ in range(20))) == [401] * 20  # all at once
    for _ in range(10):
        body = {"iss": ISSUER, "aud": "tender", "sub": "x", "exp": now + 60}
        kid = f"ec-{uuid.uuid4()}"
        token = jwt.encode(body, junk_key, algorithm="ES256", headers={"kid": kid})
        assert (
            await api.client.get("/operations/status", headers=bearer(token))
        ).status_code == 401
    assert issuer.requests == 1
    # A real rotation: the new key is fetched once the minimum interval has passed.
    issuer.keys["rsa-2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated = issuer.token("rsa-2", now, scope="view_giftcards")
    assert (await api.client.get(CARDS, headers=bearer(rotated))).status_code == 401
    assert issuer.requests == 1
    api.clock.advance(seconds=31)
    assert (await api.client.get(CARDS, headers=bearer(rotated))).status_code == 200
    assert issuer.requests == 2


async def test_an_issuer_outage_keeps_its_keys_and_a_withdrawn_key_stops_working(
    external: tuple[Api, FakeIssuer],
) -> None:
    api, issuer = external
    now = int(api.clock.now().timestamp())
    token = issuer.token("ec-1", now, scope="view_giftcards")
    assert (await api.client.get(CARDS, headers=bearer(token))).status_code == 200
    issuer.down = True
    api.clock.advance(hours=2)  # the keys are old: fetched again, which fails
    now = int(api.clock.now().timestamp())
    token = issuer.token("ec-1", now, scope="view_giftcards")
    for _ in range(3):
        assert (await api.client.get(CARDS, headers=bearer(token))).status_code == 200
    assert issuer.requests == 2
    issuer.down = False
    withdrawn = issuer.keys.pop("ec-1")
    issuer.keys["ec-3"] = ec.generate_private_key(ec.SECP256R1())
    api.clock.advance(hours=2)
    now = int(api.clock.now().timestamp())
    token = issuer.token("ec-3", now, scope="view_giftcards")
    assert (await api.client.get(CARDS, headers=bearer(token))).status_code == 200
    old = jwt.encode(
        {"iss": ISSUER, "aud": "tender", "sub": "x", "exp": now + 60, "scope": "view_giftcards"},
        withdrawn,
        algorithm="ES256",
        headers={"kid": "ec-1"},
    )
    assert (await api.client.get(CARDS, headers=bearer(old))).status_code == 401


async def test_two_issuers_admins_of_one_name_keep_keys_of_their_own(
    external: tuple[Api, FakeIssuer],
) -> None:
    """tender's own admin and the trusted issuer's admin may both be called
    "ops@example.com"; they are not one caller, so one's key never replays the other's answer
    (here a new card's full code)."""
    api, issuer = external
    now = int(api.clock.now().timestamp())
    body = {"amount": {"centAmount": 1000, "currency": "EUR"}}
    own = {**bearer(api.admin_jwt()), "Idempotency-Key": "same"}
    theirs = issuer.token("ec-1", now, sub="ops@example.com", scope="manage_giftcards")
    first = await api.client.post(CARDS, json=body, headers=own)
    assert first.status_code == 201, first.text
    other = await api.client.post(
        CARDS, json=body, headers={**bearer(theirs), "Idempotency-Key": "same"}
    )
    assert other.status_code == 201, other.text
    assert other.headers["idempotent-replayed"] == "false"
    assert other.json()["code"] != first.json()["code"]
    again = await api.client.post(CARDS, json=body, headers=own)
    assert again.headers["idempotent-replayed"] == "true"


async def test_an_admin_whose_subject_cannot_be_recorded_is_refused(api: Api) -> None:
    """An admin's subject is recorded as the owner of what it creates and in the ledger: one
    the database cannot hold (too long for an owner, a NUL, a lone surrogate) or that could
    pass for another (blank, padded) is an invalid token, not a 500 on the first write."""
    now = int(api.clock.now().timestamp())

    def token(subject: str) -> dict[str, str]:
        claims = {
            "iss": "tender",
            "aud": "tender",
            "sub": subject,
            "scope": "manage_orders manage_giftcards",
            "exp": now + 300,
        }
        signed = jwt.encode(claims, SIGNING_KEY.private, algorithm="EdDSA",
                            headers={"kid": SIGNING_KEY.kid})  # fmt: skip
        return bearer(signed)

    cart = {"currency": "EUR", "country": "DE"}
    longest = "a" * MAX_ADMIN_SUBJECT
    created = await api.client.post("/carts", json=cart, headers=token(longest))
    assert created.status_code == 201, created.text
    for subject in (longest + "a", "ops\x00x", "ops\ud800", "", " ops", "ops\n"):
        response = await api.client.post("/carts", json=cart, headers=token(subject))
        assert_error(response, 401, "invalid_token")
        issued = await api.client.post(
            "/giftcards", json={"amount": {"centAmount": 500, "currency": "EUR"}},
            headers=token(subject),
        )  # fmt: skip
        assert_error(issued, 401, "invalid_token")
    listed = await api.client.get(CARDS, headers=token(longest))
    assert listed.status_code == 200, listed.text
    assert listed.json()["results"] == []  # none of the refused issued a card


async def test_a_slow_or_endless_issuer_is_given_up_on() -> None:
    """The fetch's timeout is for the whole answer: an issuer that trickles bytes (each in time
    for a per-read timeout) or sends a JWK Set without end is left after ``timeout`` or
    ``MAX_JWKS_BYTES``, and the token's key is simply unknown."""
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        while True:
            sent.append(1)
            await asyncio.sleep(0)
            yield b'{"kid": "k", "kty": "EC"},' * 100

    async def trickle() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.01)
            yield b" "

    for body in (endless, trickle):

        def answer(_: httpx.Request, body: Callable[[], AsyncIterator[bytes]] = body) -> Any:
            return httpx.Response(200, content=body())

        keys = RemoteKeys(
            "https://issuer.test/jwks",
            transport=httpx.MockTransport(answer),
            timeout=timedelta(seconds=0.3),
        )
        try:
            assert await asyncio.wait_for(keys.key("k"), timeout=5) is None
        finally:
            await keys.close()
    assert 0 < len(sent) * 2_600 <= MAX_JWKS_BYTES + 2_600  # read no further than the cap


async def test_a_jwk_set_nested_too_deep_is_a_failed_fetch() -> None:
    """60 kB of brackets fit under the cap and overflow the JSON parser's recursion: the fetch
    failed, as for any answer that is no JWK Set (it once escaped as a 500)."""
    body = b"[" * 30_000 + b"]" * 30_000
    keys = RemoteKeys(
        "https://issuer.test/jwks",
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)),
    )
    try:
        assert await keys.key("k") is None
        assert keys.fetches == 1
    finally:
        await keys.close()
