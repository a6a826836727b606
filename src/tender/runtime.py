"""Builds the service's parts once from settings; the API and the CLI share this wiring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from tender import faults
from tender.auth.jwt import OWN_ISSUER, JwtVerifier, LocalKeys, TrustedIssuer
from tender.auth.keys import SigningKeys
from tender.auth.oauth import OAuth
from tender.config import InsecureSettings, Settings
from tender.db.cart_store import SqlCartStore
from tender.db.client_store import SqlClientStore
from tender.db.engine import Database
from tender.db.event_store import SqlEventStore
from tender.db.idempotency_store import SqlIdempotencyStore
from tender.db.ledger_store import SqlLedgerStore
from tender.db.migrate import SqlSchema
from tender.db.order_store import SqlOrderStore
from tender.db.payment_store import SqlPaymentStore
from tender.db.pin_attempts import SqlPinAttempts
from tender.db.purge import SqlPurge
from tender.db.rate_limit_store import SqlLimitCounters
from tender.db.session_store import SqlSessionStore
from tender.db.shipping_store import SqlShippingStore
from tender.domain.checkout_ports import Work
from tender.domain.clients import ClientStore
from tender.domain.codes import Hasher
from tender.domain.idempotency import IdempotencyStore
from tender.domain.payments import GIFT_CARD
from tender.domain.ports import Clock, SystemClock
from tender.domain.principals import PrincipalKind
from tender.domain.redemption import CaptureMode
from tender.domain.upkeep import LimitCounters, Purge, Schema
from tender.providers import ProviderContext, UnknownProvider, provider_factory
from tender.services.carts import Carts
from tender.services.checkout_data import CheckoutDataService
from tender.services.external_payments import (
    SIMULATOR_PAGE,
    ExternalMethod,
    InvoiceMethod,
    RedirectMethod,
    methods_by_name,
)
from tender.services.ledger import Ledger
from tender.services.orders import Orders
from tender.services.redemption import Redemptions
from tender.services.sessions import Sessions

if TYPE_CHECKING:  # with an external issuer only: httpx's import is a tenth of a worker's start
    import httpx

    from tender.auth.jwks import RemoteKeys


class Runtime:
    remote_keys: RemoteKeys | None = None
    """The external JWT issuer's keys, if one is configured."""
    customer_keys: RemoteKeys | None = None
    customer_jwt: JwtVerifier | None = None
    """Tokens of the merchant's identity provider, for Glue customers, if one is configured."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``jwks_transport``: how an external JWT issuer's keys are fetched (tests fake it)."""
        settings.validate_secrets()
        faults.configure(settings.fault_plan)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            apart_pool_size=settings.db_apart_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
        )
        self.schema: Schema = SqlSchema(self.db)
        self.hasher = Hasher(settings.secret_bytes())
        self.ledger = Ledger(self.hasher, policy=settings.ledger_policy, clock=self.clock)
        try:
            self.provider = provider_factory(settings.gift_card_provider)
        except UnknownProvider as error:
            raise InsecureSettings(str(error)) from None
        self.oauth = OAuth(
            self.hasher, token_ttl=timedelta(seconds=settings.token_ttl_seconds), clock=self.clock
        )
        self.signing_keys = SigningKeys.derive(
            settings.secret_bytes(),
            settings.jwt_key_generation,
            keep_previous=settings.jwt_previous_key,
        )
        self.jwt = self._jwt_verifier(jwks_transport)
        self._customer_verifier(jwks_transport)

        self._checkout_services(settings)

    def _checkout_services(self, settings: Settings) -> None:
        """Carts, orders, sessions, checkout data and the processor's redemptions, with the
        external methods the settings offer."""
        # Redirect payments exist only with a provider that confirms them by signed callback,
        # or with the development simulator standing in for one.
        self.redirect_method = RedirectMethod(settings.redirect_provider_url or SIMULATOR_PAGE)
        available: dict[str, ExternalMethod] = {
            "invoice": InvoiceMethod(),
            "redirect": self.redirect_method,
        }
        methods = methods_by_name([available[name] for name in settings.offered_payment_methods()])
        self.sessions = Sessions(
            self.hasher,
            self.clock,
            ttl=timedelta(seconds=settings.session_ttl_seconds),
            offered=frozenset({GIFT_CARD, *methods}),
        )
        self.carts = Carts(self.clock, payment_methods=(GIFT_CARD, *methods), hasher=self.hasher)
        window = timedelta(seconds=settings.order_payment_window_seconds)
        self.orders = Orders(self.carts, self.clock, methods=methods, payment_window=window)
        self.checkout_data = CheckoutDataService(self.carts)
        self.redemptions = Redemptions(
            self.carts,
            self.clock,
            capture=CaptureMode(settings.redeem_capture),
            pin=settings.redeem_pin,
            payment_window=window,
        )

    def _jwt_verifier(self, transport: httpx.AsyncBaseTransport | None) -> JwtVerifier:
        """tender's own tokens, and those of the external issuer if one is configured."""
        settings, clock = self.settings, self.clock
        issuers = [TrustedIssuer(OWN_ISSUER, LocalKeys(self.signing_keys), own=True)]
        if settings.jwt_issuer and settings.jwt_jwks_url:
            from tender.auth.jwks import RemoteKeys

            self.remote_keys = RemoteKeys(
                settings.jwt_jwks_url,
                transport=transport,
                clock=clock.now,
            )
            issuers.append(TrustedIssuer(settings.jwt_issuer, self.remote_keys, own=False))
        return JwtVerifier(
            issuers,
            audience=settings.jwt_audience,
            max_lifetime=timedelta(seconds=settings.jwt_max_lifetime_seconds),
        )

    def _customer_verifier(self, transport: httpx.AsyncBaseTransport | None) -> None:
        settings = self.settings
        issuer, url = settings.customer_jwt_issuer, settings.customer_jwks_url
        if issuer is None or url is None or settings.customer_jwt_audience is None:
            return
        from tender.auth.jwks import RemoteKeys

        self.customer_keys = RemoteKeys(url, transport=transport, clock=self.clock.now)
        self.customer_jwt = JwtVerifier(
            [TrustedIssuer(issuer, self.customer_keys, own=False)],
            audience=settings.customer_jwt_audience,
            max_lifetime=timedelta(seconds=settings.jwt_max_lifetime_seconds),
            kind=PrincipalKind.CUSTOMER,
        )

    def work(
        self, conn: AsyncConnection, *, actor: str | None, correlation_id: str | None = None
    ) -> Work:
        """Checkout's stores and gift card provider, and the ledger's store, all bound to one
        transaction; PIN attempts are counted apart from it."""
        ledger, pins = SqlLedgerStore(conn), SqlPinAttempts(self.db, conn)
        provider = self.provider(ProviderContext(self.ledger, ledger, actor, pins))
        return Work(
            carts=SqlCartStore(conn),
            shipping=SqlShippingStore(conn),
            payments=SqlPaymentStore(conn),
            orders=SqlOrderStore(conn),
            sessions=SqlSessionStore(conn),
            events=SqlEventStore(conn),
            provider=provider,
            correlation_id=correlation_id,
            ledger=ledger,
            pins=pins,
        )

    def clients(self, conn: AsyncConnection) -> ClientStore:
        """API clients and their tokens, in the transaction of ``conn``."""
        return SqlClientStore(conn)

    def idempotency(self, conn: AsyncConnection) -> IdempotencyStore:
        return SqlIdempotencyStore(conn)

    def limit_counters(self, conn: AsyncConnection, now: Callable[[], float]) -> LimitCounters:
        """Rate-limit counters on ``now``'s clock (Unix seconds), in ``conn``'s transaction."""
        return SqlLimitCounters(conn, now)

    def purge(self, conn: AsyncConnection) -> Purge:
        return SqlPurge(conn)

    async def close(self) -> None:
        for keys in (self.remote_keys, self.customer_keys):
            if keys is not None:
                await keys.close()
        await self.db.dispose()
