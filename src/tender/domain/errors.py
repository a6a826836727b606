"""Business errors: one class each, with a fixed code and message. No HTTP status lives here.

Errors live beside the concept they belong to; this drawing is the index of all of them (a test
keeps it whole). The API layer maps each branch to a status in one table
(``tender.api.errors.STATUS``), so a new error's parent decides its status::

    DomainError
    ├── BrowserUnauthorized                  domain.sessions             Unauthorized
    │   ├── CredentialsInBrowser             domain.sessions             CredentialsNotAllowed
    │   ├── OriginNotAllowed                 domain.sessions             OriginNotAllowed
    │   ├── SessionExpired                   domain.sessions             SessionExpired
    │   └── SessionInvalid                   domain.sessions             InvalidSession
    ├── BusinessRuleViolation                domain.errors               BusinessRuleViolation
    │   ├── BalanceLimitExceeded             domain.errors               BalanceLimitExceeded
    │   ├── CaptureExceedsAuthorization      domain.errors               CaptureExceedsAuthorization
    │   ├── CardDisabled                     domain.errors               GiftCardDisabled
    │   ├── CardExpired                      domain.errors               GiftCardExpired
    │   ├── CartPaidInFull                   domain.redemption           CartPaidInFull
    │   ├── CheckoutDataInvalid              services.orders.base        CheckoutDataInvalid
    │   ├── ConfirmationRefused              services.external_payments  PaymentConfirmationRefused
    │   ├── CurrencyMismatch                 domain.errors               CurrencyMismatch
    │   ├── IdempotencyKeyReused             domain.idempotency          IdempotencyKeyReused
    │   ├── InsufficientFunds                domain.errors               InsufficientFunds
    │   ├── NothingToCapture                 domain.payments             NothingToCapture
    │   ├── PaymentIncomplete                domain.payments             PaymentIncomplete
    │   ├── PaymentMethodNotAllowed          domain.payments             PaymentMethodNotAllowed
    │   ├── RedeemedBeyondTotal              domain.redemption           RedeemedBeyondTotal
    │   ├── ReferenceAlreadyPosted           domain.errors               ReferenceAlreadyPosted
    │   └── RefundExceedsCapture             domain.errors               RefundExceedsCapture
    ├── Conflict                             domain.errors               ConcurrentModification
    │   ├── GiftCardReservationFailed        domain.payments             GiftCardReservationFailed
    │   │   └── GiftCardShortfall            domain.payments             GiftCardShortfall
    │   ├── IdempotencyKeyInUse              domain.idempotency          IdempotencyKeyInUse
    │   ├── OrderNumberTaken                 domain.sessions             DuplicateOrderNumber
    │   ├── ProviderDeclined                 services.orders.intents     GiftCardProviderDeclined
    │   ├── StaleVersion                     services.carts              ConcurrentModification
    │   └── StaleWrite                       domain.checkout_ports       ConcurrentModification
    ├── IllegalTransition                    domain.errors               InvalidStateTransition
    │   ├── CardStatusUnchanged              domain.errors               GiftCardStatusUnchanged
    │   ├── CartLocked                       services.carts              CartLocked
    │   ├── HoldNotActive                    domain.errors               ReservationNotActive
    │   ├── NothingToDo                      services.orders.base        PaymentTransactionRefused
    │   ├── OrderAlreadyPlaced               services.orders.base        OrderAlreadyPlaced
    │   ├── OrderTransitionRefused           domain.orders               InvalidOrderStateTransition
    │   ├── PaymentAwaitingProvider          services.external_payments  PaymentAwaitingProvider
    │   ├── PaymentCaptured                  domain.payments             PaymentCaptured
    │   ├── PaymentNotAuthorized             services.orders.base        PaymentNotAuthorized
    │   ├── PaymentNotInOrder                services.orders.intents     PaymentNotInOrder
    │   ├── PaymentsShortOfTotal             domain.payments             PaymentsShortOfTotal
    │   └── RedeemedPaymentKept              domain.redemption           RedeemedPaymentKept
    ├── InvalidCredentials                   domain.errors               InvalidGiftCard
    ├── InvalidInput                         domain.errors               InvalidInput
    │   ├── CardAlreadyOnCart                services.card_payments      GiftCardAlreadyAdded
    │   ├── GiftCardNotUsable                services.card_payments      GiftCardNotUsable
    │   ├── InvalidAmount                    domain.errors               InvalidAmount
    │   ├── InvalidCardCode                  domain.errors               InvalidCardCode
    │   ├── MissingCredentials               api.compat.spryker.jsonapi  MissingCredentials
    │   ├── OrderReferenceAmbiguous          domain.payments             OrderReferenceAmbiguous
    │   ├── ShippingMethodNotApplicable      domain.shipping             ShippingMethodNotApplicable
    │   ├── TooManyGiftCards                 services.card_payments      TooManyGiftCards
    │   ├── TooManyPayments                  services.card_payments      TooManyPayments
    │   ├── UnknownCurrency                  domain.errors               InvalidCurrency
    │   └── UnsupportedParameter             api.compat.spryker.jsonapi  UnsupportedParameter
    ├── NotFound                             domain.errors               ResourceNotFound
    │   ├── CardNotFound                     domain.errors               GiftCardNotFound
    │   ├── CartNotFound                     domain.cart                 CartNotFound
    │   ├── ClientNotFound                   domain.errors               ClientNotFound
    │   ├── HoldNotFound                     domain.errors               HoldNotFound
    │   ├── LineItemNotFound                 domain.cart                 LineItemNotFound
    │   ├── OrderNotFound                    domain.payments             OrderNotFound
    │   ├── PaymentNotFound                  domain.payments             PaymentNotFound
    │   ├── SessionNotFound                  services.sessions           SessionNotFound
    │   ├── ShippingMethodNotFound           domain.shipping             ShippingMethodNotFound
    │   └── TransactionNotFound              services.orders.intents     TransactionNotFound
    └── RateLimited                          domain.errors               TooManyRequests

Columns: the class, the module it lives in, and the ``code`` clients receive.
"""

from __future__ import annotations

from typing import ClassVar


class StoreUnavailable(Exception):
    """The database cannot take requests now (down, restarting, out of connections, too busy).
    Not a ``DomainError``: nothing was wrong with the request, which may be sent again."""


class DomainError(Exception):
    code: ClassVar[str] = "GenericError"
    message: ClassVar[str] = "The request could not be processed."
    source: ClassVar[str] = "body"
    """Where the ``field`` an error names was sent: ``body``, ``query`` or ``header``."""

    def __init__(
        self, detail: str | None = None, *, field: str | None = None, **params: object
    ) -> None:
        self.template = detail or self.message
        """The English message, with ``{name}`` placeholders when ``params`` are given: a
        message catalogue translates the template, and each value (an amount, a method's
        name) is formatted in the reader's language, not baked into the text."""
        self.params = params
        self.detail = self.template.format(**params) if params else self.template
        self.field = field
        self.more: list[DomainError] = []
        """Further errors reported together with this one (one per invalid field)."""
        super().__init__(self.detail)

    @classmethod
    def all_of(cls, errors: list[DomainError]) -> DomainError:
        """The first error, carrying the others, so a client learns every problem at once."""
        first = errors[0]
        first.more = errors[1:]
        return first


class InvalidInput(DomainError):
    code = "InvalidInput"
    message = "The request is invalid."


class InvalidAmount(InvalidInput):
    code = "InvalidAmount"
    message = "The amount is invalid."


class UnknownCurrency(InvalidInput):
    code = "InvalidCurrency"
    message = "The currency is not a known ISO 4217 code."

    SHOWN = 12
    """Characters of the refused text the message repeats: a caller sending a megabyte of
    currency must not get it back twice over."""

    def __init__(self, currency: object, *, field: str | None = None) -> None:
        shown = repr(currency)
        if len(shown) > self.SHOWN:
            shown = shown[: self.SHOWN] + "…"
        super().__init__(f"{shown} is not a known ISO 4217 currency code", field=field)


class InvalidCardCode(InvalidInput):
    code = "InvalidCardCode"
    message = "The gift card code is malformed."


class NotFound(DomainError):
    code = "ResourceNotFound"
    message = "The resource was not found."


class CardNotFound(NotFound):
    code = "GiftCardNotFound"
    message = "The gift card was not found."


class HoldNotFound(NotFound):
    code = "HoldNotFound"
    message = "The reservation was not found."


class ClientNotFound(NotFound):
    code = "ClientNotFound"
    message = "The API client was not found."


class InvalidCredentials(DomainError):
    code = "InvalidGiftCard"
    message = "The gift card code or PIN is not valid."


class BusinessRuleViolation(DomainError):
    code = "BusinessRuleViolation"


class CurrencyMismatch(BusinessRuleViolation):
    code = "CurrencyMismatch"
    message = "The currency does not match."

    def __init__(self, expected: str, got: str, *, field: str | None = None) -> None:
        super().__init__(
            "expected currency {expected}, got {got}", field=field, expected=expected, got=got
        )


class InsufficientFunds(BusinessRuleViolation):
    code = "InsufficientFunds"
    message = "The gift card's available balance is too low."


class BalanceLimitExceeded(BusinessRuleViolation):
    code = "BalanceLimitExceeded"
    message = "The operation would take the balance past its limit."


class CaptureExceedsAuthorization(BusinessRuleViolation):
    """As a refund over what was captured: the amount is well formed, the payment's state is
    what refuses it (422, not the 400 of an amount that could never be right)."""

    code = "CaptureExceedsAuthorization"
    message = "The capture is larger than what is authorized."


class RefundExceedsCapture(BusinessRuleViolation):
    code = "RefundExceedsCapture"
    message = "The refund is larger than what was captured and not yet refunded."


class ReferenceAlreadyPosted(BusinessRuleViolation):
    code = "ReferenceAlreadyPosted"
    message = "A movement of this kind was already posted under this reference."


class CardExpired(BusinessRuleViolation):
    code = "GiftCardExpired"
    message = "The gift card has expired."


class CardDisabled(BusinessRuleViolation):
    code = "GiftCardDisabled"
    message = "The gift card is disabled."


class IllegalTransition(DomainError):
    code = "InvalidStateTransition"
    message = "The object is not in a state that allows this change."


class HoldNotActive(IllegalTransition):
    code = "ReservationNotActive"
    message = "The reservation is no longer active."


class CardStatusUnchanged(IllegalTransition):
    code = "GiftCardStatusUnchanged"
    message = "The gift card already has that status."


class Conflict(DomainError):
    code = "ConcurrentModification"
    message = "A concurrent change won; retry the request."


class RateLimited(DomainError):
    code = "TooManyRequests"
    message = "Too many gift card attempts; wait before trying again."

    def __init__(self, retry_after: int) -> None:
        super().__init__("retry after {seconds} seconds", seconds=retry_after)
        self.retry_after = retry_after
