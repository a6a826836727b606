"""Stored answers sealed so that a copy of the database alone opens none of them.

An idempotent answer may carry a full card code and PIN, a session id or an access token, and is
kept for a day so a retry can get it again. It is stored encrypted with AES-256-GCM under a key
derived (HKDF-SHA256) from ``TENDER_SECRET_KEY`` *and* the raw ``Idempotency-Key``, which the
database never holds (rows are found by a keyed hash of it): opening a row needs the service's
secret and the retrying caller's key. The row's lookup hash is bound in as associated data, so a
sealed answer moved to another row does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tender.domain.idempotency import StoredResponse

VERSION = b"\x01"
NONCE_BYTES = 12


class SealBroken(Exception):
    """The sealed answer does not open with this key: another secret, or tampering."""


class Sealer:
    def __init__(self, secret: bytes) -> None:
        self._lookup_key = hmac.new(secret, b"tender/idempotency-lookup", hashlib.sha256).digest()
        self._seal_key = hmac.new(secret, b"tender/idempotency-seal", hashlib.sha256).digest()
        self._request_key = hmac.new(secret, b"tender/idempotency-request", hashlib.sha256).digest()

    def lookup_hash(self, *parts: bytes) -> bytes:
        """Where a key's row lives: a keyed hash, so the raw key cannot be tried offline."""
        mac = hmac.new(self._lookup_key, digestmod=hashlib.sha256)
        for part in parts:
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.digest()

    def request_fingerprint(self, body: bytes) -> bytes:
        """What tells a retry from another request under the same key: a keyed hash, since a
        body may carry a card's code and PIN, and a plain hash of a body whose other parts are
        known (the amount, the card's last digits) gives the PIN up to a few seconds of
        guessing."""
        return hmac.new(self._request_key, body, hashlib.sha256).digest()

    def _aead(self, idempotency_key: bytes) -> AESGCM:
        hkdf = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"tender/idempotent-answer\x00" + idempotency_key,
        )
        return AESGCM(hkdf.derive(self._seal_key))

    def seal(self, response: StoredResponse, *, idempotency_key: bytes, row: bytes) -> bytes:
        plain = json.dumps(
            {"status": response.status, "headers": response.headers},
            separators=(",", ":"),
        ).encode()
        payload = len(plain).to_bytes(4, "big") + plain + response.body
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead(idempotency_key).encrypt(nonce, payload, row)

    def open(self, sealed: bytes, *, idempotency_key: bytes, row: bytes) -> StoredResponse:
        if sealed[:1] != VERSION:
            raise SealBroken("unknown seal version")
        nonce, box = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            payload = self._aead(idempotency_key).decrypt(nonce, box, row)
        except InvalidTag as error:
            raise SealBroken("the answer does not open with this key") from error
        size = int.from_bytes(payload[:4], "big")
        meta = json.loads(payload[4 : 4 + size])
        return StoredResponse(int(meta["status"]), meta["headers"], payload[4 + size :])
