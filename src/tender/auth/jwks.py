"""Keys of an external JWT issuer, fetched from its JWK Set URL and cached by ``kid``.

An unknown ``kid`` is the normal sign of a key rotation, so it triggers a fetch, but anyone can
send a token with a made-up ``kid``: fetches are spaced at least ``min_interval`` apart whatever
arrives, failed fetches included, so junk tokens cannot make tender hammer the issuer. Between
fetches an unknown ``kid`` is simply refused. Known keys are fetched again once they are older
than ``max_age``, so a key the issuer withdrew stops being trusted.

A fetch has ``timeout`` in all, not per step: the requests that wait for it (every token of
that issuer, while its keys are stale) wait no longer, however slowly an issuer answers, and
no more than ``MAX_JWKS_BYTES`` of its answer are ever read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 64 * 1024
MAX_KEYS = 50
ALGORITHMS = {
    "OKP": frozenset({"EdDSA"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
}
"""What each key type may verify. A symmetric key (``oct``) is never taken from a JWK Set: it
would be a shared secret published for anyone to sign with."""


class RemoteKeys:
    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        min_interval: timedelta = timedelta(seconds=30),
        max_age: timedelta = timedelta(hours=1),
        timeout: timedelta = timedelta(seconds=5),
    ) -> None:
        self.url = url
        self.clock = clock
        self.min_interval = min_interval
        self.max_age = max_age
        self.timeout = timeout
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout.total_seconds())
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the issuer was asked (tests and operators read it)."""

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self._fresh() and kid in self._keys:
            return self._keys[kid]
        async with self._lock:  # one fetch at a time; waiters see its result
            if not (self._fresh() and kid in self._keys) and self._may_fetch():
                await self._fetch()
        return self._keys.get(kid)

    def _fresh(self) -> bool:
        return self._fetched_at is not None and self.clock() - self._fetched_at < self.max_age

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self.clock() - self._fetched_at >= self.min_interval

    async def _fetch(self) -> None:
        self._fetched_at = self.clock()
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout.total_seconds()):
                document = await self._download()
            keys = parse_jwks(json.loads(document))
        except (httpx.HTTPError, ValueError, RecursionError, TimeoutError) as error:
            # Keep the keys we had: the issuer being briefly down must not log everyone out.
            log.warning("fetching the JWT issuer's keys failed: %s", type(error).__name__)
            return
        self._keys = keys

    async def _download(self) -> bytes:
        """The issuer's answer, read no further than ``MAX_JWKS_BYTES``."""
        headers = {"Accept": "application/json"}
        async with self._http.stream("GET", self.url, headers=headers) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"the JWK Set is larger than {MAX_JWKS_BYTES} bytes")
            return bytes(body)

    async def close(self) -> None:
        await self._http.aclose()


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWK Set by ``kid``, each pinned to one algorithm (its
    ``alg``, or its type's default); keys without a ``kid``, symmetric or of unknown types,
    holding private parts, or marked for encryption are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: dict[str, jwt.PyJWK] = {}
    for item in document["keys"][:MAX_KEYS]:
        if not isinstance(item, dict) or not isinstance(item.get("kid"), str):
            continue
        if item.get("use", "sig") != "sig" or "d" in item:  # never trust a leaked private key
            continue
        if item.get("kty") not in ALGORITHMS:
            continue
        try:
            key = jwt.PyJWK(item)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        if key.algorithm_name in ALGORITHMS[item["kty"]]:
            keys[item["kid"]] = key
    return keys
