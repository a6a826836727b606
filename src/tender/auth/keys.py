"""tender's own JWT signing key (Ed25519, ``EdDSA``) and the JWK Set that publishes it.

The private key is derived from ``TENDER_SECRET_KEY`` with HKDF-SHA256 under a label of its
own, not kept as a setting apart, because that secret already has every property a signing key
needs here: it is required, it is the same in every worker and on every machine of one
deployment, and it must survive restarts (losing it orphans every card code). A second secret
would be one more thing to distribute and to lose, and a worker holding a different one would
mint tokens its neighbours refuse. HKDF under a purpose label keeps the keys independent: the
signing key tells nothing about the secret or the HMAC keys derived from it, and the public key
(all that ``/.well-known/jwks.json`` shows) tells nothing about the private one.

Ed25519 because it has one curve, one algorithm and no parameters to get wrong (no
RSA padding, no nonce reuse as with ECDSA), and verifying it is cheap.

Rotating it needs no new secret: ``TENDER_JWT_KEY_GENERATION`` names the label the key is
derived under (generation 1 is the label tender always used). Raised by one, tender signs with
a new key and still verifies, and publishes, the one before, so that tokens minted before the
rotation stay good until they expire; raised again, the oldest goes. After a leak,
``TENDER_JWT_PREVIOUS_KEY=false`` drops the previous key at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABEL = "tender/jwt-signing-key/ed25519/v{generation}"
"""HKDF ``info`` of each generation's key; generation 1's is the one label tender had before."""
ALGORITHM = "EdDSA"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 over the key's required members, sorted, without whitespace (for an
    OKP key, RFC 8037 §2: ``crv``, ``kty``, ``x``)."""
    required = {
        "OKP": ("crv", "kty", "x"),
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
    }
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @classmethod
    def derive(cls, secret: bytes, generation: int = 1) -> SigningKey:
        if generation < 1:
            raise ValueError("key generations count from 1")
        label = LABEL.format(generation=generation).encode()
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(secret)
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @cached_property
    def public_jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        return {**jwk, "kid": thumbprint(jwk), "use": "sig", "alg": ALGORITHM}

    @property
    def kid(self) -> str:
        return self.public_jwk["kid"]


@dataclass(frozen=True)
class SigningKeys:
    """The key tender signs with now, and the generation before it, which only verifies."""

    current: SigningKey
    previous: SigningKey | None

    @classmethod
    def derive(cls, secret: bytes, generation: int, *, keep_previous: bool = True) -> SigningKeys:
        before = generation - 1
        previous = SigningKey.derive(secret, before) if keep_previous and before >= 1 else None
        return cls(SigningKey.derive(secret, generation), previous)

    @property
    def verifying(self) -> tuple[SigningKey, ...]:
        """Every key a token of tender's may be signed with, the current one first."""
        return (self.current,) if self.previous is None else (self.current, self.previous)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.public_jwk for key in self.verifying]}
