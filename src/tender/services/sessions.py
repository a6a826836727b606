"""Browser sessions: a merchant's backend opens one for a cart; the page then acts on that cart
alone with ``X-Session-Id``. The id is 256 random bits, stored only as a keyed hash."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from tender.domain.cart import CartNotFound
from tender.domain.checkout_ports import Work
from tender.domain.codes import Hasher
from tender.domain.errors import InvalidInput, NotFound
from tender.domain.events import NewEvent
from tender.domain.ownership import visible
from tender.domain.ports import Clock
from tender.domain.sessions import (
    OrderNumberTaken,
    Session,
    SessionExpired,
    SessionInvalid,
    check_metadata,
)

SESSION_PREFIX = "tnd_ss_"


class SessionNotFound(NotFound):
    code = "SessionNotFound"
    message = "The session was not found."


class Sessions:
    def __init__(
        self, hasher: Hasher, clock: Clock, *, ttl: timedelta, offered: frozenset[str]
    ) -> None:
        self.hasher = hasher
        self.clock = clock
        self.ttl = ttl
        self.offered = offered
        """The payment methods this service offers, by their lower-case names."""

    async def create(
        self,
        work: Work,
        *,
        owner: str | None,
        cart_id: str,
        metadata: dict[str, Any],
        creator: str,
    ) -> tuple[str, Session]:
        cart = await work.carts.get_cart(cart_id, lock=True, owner=owner)
        if not visible(cart, owner):
            raise CartNotFound(field="cart.cartRef.id")
        metadata = check_metadata(dict(metadata))
        self._check_methods(metadata.get("allowedPaymentMethods"))
        number = metadata.get("futureOrderNumber")
        if number is not None and not await work.orders.take_order_number(cart.owner, number):
            raise OrderNumberTaken(field="metadata.futureOrderNumber")
        now = self.clock.now()
        token = SESSION_PREFIX + secrets.token_urlsafe(32)
        session = Session(
            token_hash=self.hasher.secret(token),
            cart_id=cart.id,
            currency=cart.currency,
            owner=cart.owner,
            metadata=metadata,
            future_order_number=number,
            expires_at=now + self.ttl,
            created_at=now,
            updated_at=now,
        )
        await work.sessions.insert_session(session)
        if session.allowed_origins:
            await work.sessions.allow_origins(session.allowed_origins, session.expires_at)
        await work.events.append_events(
            [NewEvent("SessionCreated", "cart", cart.id, cart.owner, {"by": creator})],
            correlation_id=work.correlation_id,
            now=now,
        )
        return token, session

    def _check_methods(self, allowed: list[str] | None) -> None:
        """A session whose ``allowedPaymentMethods`` name none of the methods offered here
        (a typo such as ``gift-card``, or only another connector's) could pay with nothing,
        which its shopper would find out at the last step. Names of methods offered elsewhere
        may stand beside tender's: one list may serve several connectors."""
        if allowed is None or self.offered.intersection(m.lower() for m in allowed):
            return
        raise InvalidInput(
            "allowedPaymentMethods names none of the payment methods offered here: "
            + ", ".join(sorted(self.offered)),
            field="metadata.allowedPaymentMethods",
        )

    async def get(self, work: Work, *, token: str, owner: str | None) -> Session:
        session = await work.sessions.session(self.hasher.secret(token))
        if not visible(session, owner):
            raise SessionNotFound()
        return session

    async def resolve(self, work: Work, *, token: str) -> Session:
        """The live session behind a browser's ``X-Session-Id``, or 401."""
        if not token.startswith(SESSION_PREFIX) or len(token) > 100:
            raise SessionInvalid()
        session = await work.sessions.session(self.hasher.secret(token))
        if session is None:
            raise SessionInvalid()
        if session.expires_at <= self.clock.now():
            raise SessionExpired()
        return session
