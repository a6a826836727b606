"""Builds the service's parts once from settings; the API and the CLI share this wiring."""

from __future__ import annotations

from datetime import timedelta

from tender.auth.oauth import OAuth
from tender.config import Settings
from tender.db.engine import Database
from tender.domain.codes import Hasher
from tender.domain.ports import Clock, SystemClock
from tender.services.ledger import Ledger


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        settings.validate_secrets()
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.database_url, pool_size=settings.db_pool_size)
        self.hasher = Hasher(settings.secret_bytes())
        self.ledger = Ledger(self.hasher, policy=settings.ledger_policy, clock=self.clock)
        self.oauth = OAuth(
            self.hasher, token_ttl=timedelta(seconds=settings.token_ttl_seconds), clock=self.clock
        )

    @property
    def jwt_key(self) -> str:
        assert self.settings.jwt_secret is not None  # validate_secrets() guarantees it
        return self.settings.jwt_secret.get_secret_value()

    async def close(self) -> None:
        await self.db.dispose()
