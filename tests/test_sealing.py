"""The kept answers' seal, held to its format: AES-256-GCM under HKDF-SHA256 (RFC 5869) of the
service's seal key and the idempotency key, the row's lookup hash bound in. A change to any
part of it would leave the answers kept before (for a day) unable to open, and their retries
refused: a new format needs a new ``VERSION``, and this test says so."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tender.auth.sealing import NONCE_BYTES, VERSION, SealBroken, Sealer
from tender.domain.idempotency import StoredResponse

SECRET = b"a-test-secret-key-of-enough-length-000"
ANSWER = StoredResponse(201, [["content-type", "application/json"]], b'{"code": "6033 9912"}')


def sealed_by_hand(key: bytes, row: bytes, nonce: bytes) -> bytes:
    """An answer sealed step by step as the format says."""
    seal_key = hmac.new(SECRET, b"tender/idempotency-seal", hashlib.sha256).digest()
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"tender/idempotent-answer\x00" + key,
    ).derive(seal_key)
    plain = b'{"status":201,"headers":[["content-type","application/json"]]}'
    payload = len(plain).to_bytes(4, "big") + plain + ANSWER.body
    return VERSION + nonce + AESGCM(derived).encrypt(nonce, payload, row)


@pytest.mark.parametrize("key", [b"k", b"order-4711", bytes(range(256)) * 2])
def test_the_seal_is_the_format_step_by_step(key: bytes) -> None:
    sealer = Sealer(SECRET)
    row = sealer.lookup_hash(b"client:1", key)
    nonce = bytes(range(NONCE_BYTES))
    assert sealer.open(sealed_by_hand(key, row, nonce), idempotency_key=key, row=row) == ANSWER
    ours = sealer.seal(ANSWER, idempotency_key=key, row=row)
    assert ours == sealed_by_hand(key, row, ours[1 : 1 + NONCE_BYTES])


def test_another_key_or_row_does_not_open_it() -> None:
    sealer = Sealer(SECRET)
    row = sealer.lookup_hash(b"client:1", b"k")
    sealed = sealer.seal(ANSWER, idempotency_key=b"k", row=row)
    with pytest.raises(SealBroken):
        sealer.open(sealed, idempotency_key=b"k2", row=row)
    with pytest.raises(SealBroken):
        sealer.open(sealed, idempotency_key=b"k", row=sealer.lookup_hash(b"client:2", b"k"))
