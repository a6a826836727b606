"""API clients and their tokens as stored: what the OAuth2 server and its storage share.

Kept in the domain so storage speaks these types without importing the auth logic that
issues and verifies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tender.domain.principals import Scope


@dataclass(frozen=True, slots=True)
class ApiClient:
    id: str
    client_id: str
    name: str
    scopes: frozenset[Scope]
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredClient:
    client: ApiClient
    secret_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredToken:
    client_id: str
    scopes: frozenset[Scope]
    issued_at: datetime
    expires_at: datetime


class ClientStore(Protocol):
    async def insert_client(self, client: ApiClient, secret_hash: bytes) -> None: ...

    async def client_by_client_id(self, client_id: str) -> StoredClient | None: ...

    async def list_clients(self) -> list[ApiClient]: ...

    async def set_client_active(self, client_id: str, active: bool) -> bool: ...

    async def replace_secret(self, client_id: str, secret_hash: bytes) -> bool:
        """The client's new secret; every token issued before is revoked with the old one.
        Whether the client exists."""
        ...

    async def insert_token(self, token_hash: bytes, token: StoredToken, secret_hash: bytes) -> bool:
        """Writes the token only while the client is active and its secret's hash is
        ``secret_hash``, in one statement that keeps the client from changing until this
        commits. Whether it was written."""
        ...

    async def token(self, token_hash: bytes, now: datetime) -> StoredToken | None: ...

    async def delete_expired_tokens(self, now: datetime) -> int: ...
