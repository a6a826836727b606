"""The gift card processor's browser calls: a shopper's page checks a card's balance and redeems
it on its session's cart. A redemption is a payment on the cart like any card added through
checkout (one list, one allocation), except that its money is reserved (or, with immediate
capture, taken) at once, through the provider, for the amount the page asked for at most.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum

from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.errors import CurrencyMismatch, DomainError, InvalidAmount, InvalidCredentials
from tender.domain.ledger import BalanceError, BalanceResult
from tender.domain.money import Money
from tender.domain.orders import PaymentStatus, TransactionState, TransactionType
from tender.domain.payments import GIFT_CARD, Payment, PaymentMethodNotAllowed, method_allowed
from tender.domain.ports import Clock, ProviderCard
from tender.domain.redemption import (
    NOT_FOUND,
    CaptureMode,
    CartPaidInFull,
    card_balance,
    redeemable,
    refusal_errors,
)
from tender.domain.sessions import Session
from tender.faults import crash_point
from tender.services.card_payments import card_payment, check_card_fits
from tender.services.carts import CartLocked, Carts
from tender.services.orders.base import OrderService


@dataclass(frozen=True, slots=True)
class Redeemed:
    payment: Payment
    succeeded: bool
    amount: Money
    """What was taken (or, for a refused card, what was asked of it)."""
    hold_ref: str | None
    """The provider's reference of the redemption; none when the card was refused."""
    errors: tuple[BalanceError, ...] = ()
    """Why the card was refused, as a balance check would say it; none when it was not."""


class PinField(StrEnum):
    """Whether the shopper's page asks for a PIN: not at all, for the cards that have one
    (the shopper leaves it empty otherwise), or always."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclass(frozen=True, slots=True)
class PageSettings:
    """What the enabler on the session's page needs to draw the gift card form."""

    currency: str
    locale: str
    pin: PinField
    still_to_pay: Money


class Redemptions(OrderService):
    def __init__(
        self,
        carts: Carts,
        clock: Clock,
        *,
        capture: CaptureMode,
        pin: PinField | str,
        payment_window: timedelta,
    ) -> None:
        super().__init__(carts, clock, methods={}, payment_window=payment_window)
        self.capture = capture
        self.pin = PinField(pin)

    async def balance(
        self, work: Work, *, session: Session, code: str, pin: str | None
    ) -> BalanceResult:
        """The card's state for the session's cart; never raises for a bad code or PIN (a
        wrong PIN is still counted towards the card's lockout by the provider)."""
        self._check_allowed(session)
        try:
            card = await work.provider.authenticate(code=code, pin=pin)
        except InvalidCredentials:
            return NOT_FOUND
        return card_balance(card, session.currency, self.clock.now())

    async def settings(self, work: Work, *, session: Session) -> PageSettings:
        view = await self.carts.get(work, cart_id=session.cart_id, owner=None)
        currency = view.cart.currency
        return PageSettings(
            currency=currency,
            locale=session.locale,
            pin=self.pin,
            still_to_pay=Money(view.totals.remaining, currency),
        )

    async def redeem(
        self, work: Work, *, session: Session, code: str, pin: str | None, amount: Money
    ) -> Redeemed:
        """Take at most ``amount`` from the card for the session's cart, never more than the
        cart still needs or the card holds. A card the provider refuses leaves no hold: its
        payment records the refusal and is not counted (the answer says ``Failure``)."""
        self._check_allowed(session)
        cart = await self.carts.lock(work, cart_id=session.cart_id, owner=None)
        if cart.locked:
            raise CartLocked()
        if amount.currency != cart.currency:
            raise CurrencyMismatch(cart.currency, amount.currency, field="amount.currency")
        if amount.minor <= 0:
            raise InvalidAmount("the amount must be greater than zero", field="amount")
        view = await self.carts.view(work, cart)
        if view.totals.remaining <= 0:
            raise CartPaidInFull(field="amount")
        card = await work.provider.authenticate(code=code, pin=pin)
        check_card_fits(cart, card, view.payments)
        wanted = redeemable(amount.minor, view.totals.remaining, card.available)
        payment = card_payment(
            cart,
            card,
            provider=session.payment_interface or work.provider.name,
            position=len(view.payments) + 1,
            now=self.clock.now(),
            amount=wanted,
            redeemed=True,
        )
        try:
            hold_ref = await self._take(work, card, payment)
        except DomainError as refusal:
            return await self._refused(work, cart, card, payment, refusal)
        crash_point("money_reserved")
        payment = replace(payment, hold_ref=hold_ref)
        await work.payments.insert_payment(payment)
        await self._transaction(work, payment, self._kind, wanted, interaction_id=hold_ref)
        await self._redeemed_event(work, cart, payment, succeeded=True)
        await self.carts.update_allocation(work, cart)
        fresh = await self._reload(work, payment)
        return Redeemed(fresh, True, Money(wanted, cart.currency), hold_ref)

    @property
    def _kind(self) -> TransactionType:
        """The transaction a redemption records: the template records a ``Charge``."""
        if self.capture is CaptureMode.IMMEDIATE:
            return TransactionType.CHARGE
        return TransactionType.AUTHORIZATION

    @staticmethod
    def _check_allowed(session: Session) -> None:
        if not method_allowed(GIFT_CARD, session.allowed_payment_methods):
            raise PaymentMethodNotAllowed("this session does not allow gift cards", field="code")

    async def _take(self, work: Work, card: ProviderCard, payment: Payment) -> str:
        """Reserve, and capture at once if so configured; a failed capture gives the hold back,
        so a refused redemption never leaves money held."""
        money = Money(payment.amount_planned, payment.currency)
        hold_ref = await work.provider.reserve(
            ref=card.ref, amount=money, reference=payment.id, expires_in=self.payment_window
        )
        if self.capture is CaptureMode.IMMEDIATE:
            try:
                await work.provider.capture(hold_ref=hold_ref, amount=money)
            except DomainError:
                await work.provider.release(hold_ref=hold_ref)
                raise
        return hold_ref

    async def _refused(
        self, work: Work, cart: Cart, card: ProviderCard, payment: Payment, refusal: DomainError
    ) -> Redeemed:
        """The refused redemption stays in the cart's history, removed at once so that it
        covers nothing, with a failed transaction naming the provider's reason."""
        failed = replace(payment, status=PaymentStatus.REMOVED)
        await work.payments.insert_payment(failed)
        await self._transaction(
            work,
            failed,
            self._kind,
            failed.amount_planned,
            TransactionState.FAILURE,
            error_code=refusal.code,
        )
        await self._redeemed_event(work, cart, failed, succeeded=False)
        fresh = await self._reload(work, failed)
        errors = refusal_errors(card, cart.currency, self.clock.now(), refusal)
        return Redeemed(fresh, False, Money(failed.amount_planned, cart.currency), None, errors)

    async def _redeemed_event(
        self,
        work: Work,
        cart: Cart,
        payment: Payment,
        *,
        succeeded: bool,
    ) -> None:
        await self.carts.event(
            work,
            "GiftCardRedeemed" if succeeded else "GiftCardRedemptionFailed",
            cart,
            {  # the cart's id is added by the event itself
                "paymentId": payment.id,
                "card": f"****{payment.card_last4}",
                "amount": payment.amount_planned,
                "currency": payment.currency,
            },
        )
