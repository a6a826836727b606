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

LABEL = b"tender/jwt-signing-key/ed25519/v1"
"""HKDF ``info``: changing it (v2) would derive a new key, invalidating every token."""
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
    def derive(cls, secret: bytes) -> SigningKey:
        seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(secret)
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

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk]}
