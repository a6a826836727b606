"""Gift cards sent in a Glue document's ``payments``: ``{"paymentMethodName": "giftcard",
"giftCard": {"code": …, "pin": …}}``, one entry per card.

Each code is one card lookup, guarded by the same budgets as every other route that checks a
code (``tender.api.rate_limits``: 429 before anything is looked up, a failure claimed before),
and applied by the same service as tender's own cart API and the Norce route
(``Carts.apply_gift_card``: verification, PIN attempts, the cart's currency and card limit).
A refusal is answered on the entry's field (``payments.1.giftCard.code``), every refused entry
at once, and the document's whole unit of work is rolled back: a refused code changes nothing.
A card already on the cart adds nothing, so a document sent again never pays twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request

from tender.api.compat.spryker.documents import CheckoutAttributes
from tender.api.compat.spryker.jsonapi import Caller
from tender.api.rate_limits import CardLookup
from tender.api.security import runtime_of
from tender.domain.cart import Cart
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError, InvalidCredentials, InvalidInput
from tender.domain.payments import GIFT_CARD, PaymentMethodNotAllowed, method_allowed
from tender.runtime import Runtime

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CardEntry:
    """One entry of ``payments`` that carries a gift card."""

    index: int
    code: str
    pin: str | None

    @property
    def field(self) -> str:
        return f"payments.{self.index}.giftCard"


def card_entries(attributes: CheckoutAttributes) -> list[CardEntry]:
    """The entries carrying a card; a card on another method's entry is refused, since
    nothing but the gift card method could use it."""
    entries: list[CardEntry] = []
    misplaced: list[DomainError] = []
    for index, payment in enumerate(attributes.payments or []):
        if payment.giftCard is None:
            continue
        entry = CardEntry(index, payment.giftCard.code, payment.giftCard.pin)
        if payment.paymentMethodName.lower() != GIFT_CARD:
            misplaced.append(
                InvalidInput(f"only the {GIFT_CARD} method takes a gift card", field=entry.field)
            )
        entries.append(entry)
    if misplaced:
        raise DomainError.all_of(misplaced)
    return entries


class CardsToApply:
    """The document's cards, each admitted by the budgets, to apply in one unit of work."""

    def __init__(
        self, runtime: Runtime, who: Caller, entries: list[CardEntry], lookups: list[CardLookup]
    ) -> None:
        self.runtime = runtime
        self.who = who
        self.entries = entries
        self.lookups = lookups

    async def apply(self, work: Work, cart: Cart) -> bool:
        """Apply every card to ``cart``; whether any was new. Every refusal is collected and
        raised together, each on its entry's field; a wrong code or PIN is counted as its
        own lookup's failure only."""
        errors: list[DomainError] = []
        added = False
        for entry, lookup in zip(self.entries, self.lookups, strict=True):
            try:
                payment = await self.runtime.carts.apply_gift_card(
                    work, cart, code=entry.code, pin=entry.pin, allowed=self.who.allowed
                )
            except DomainError as error:
                if isinstance(error, InvalidCredentials):
                    lookup.failed()
                errors.append(_on_entry(error, entry))
            else:
                added = added or payment is not None
        if errors:
            raise DomainError.all_of(errors)
        return added


def _on_entry(error: DomainError, entry: CardEntry) -> DomainError:
    """The error on the entry's field: its PIN when the error names the PIN, else its code."""
    part = "pin" if error.field == "pin" else "code"
    error.field = f"{entry.field}.{part}"
    return error


async def with_cards(
    request: Request,
    who: Caller,
    entries: list[CardEntry],
    body: Callable[[CardsToApply], Awaitable[T]],
) -> T:
    """Run ``body`` with the document's cards admitted by the card budgets (429 before any is
    looked up when one is spent). The failures are counted once ``body`` ended, whatever it
    raised; only a lookup marked failed counts as one."""
    if entries and not method_allowed(GIFT_CARD, who.allowed):
        raise PaymentMethodNotAllowed(
            "this session does not allow gift cards", field=f"{entries[0].field}.code"
        )
    refused: DomainError | None = None
    async with AsyncExitStack() as stack:
        lookups = [
            await stack.enter_async_context(who.card_lookup(request, code=entry.code))
            for entry in entries
        ]
        try:
            return await body(CardsToApply(runtime_of(request), who, entries, lookups))
        except DomainError as error:
            # Raised past the lookups, a wrong code would count as every card's failure.
            refused = error
    assert refused is not None
    raise refused
