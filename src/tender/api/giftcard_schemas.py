"""The gift card admin API's request and response models (the seed's ``BalanceType`` among them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, StrictInt

from tender.api.schemas import MoneyIn, MoneyOut, Strict
from tender.domain.codes import mask
from tender.domain.ledger import Activity, BalanceResult, Card, CardStatus
from tender.services.ledger import IssuedCard

MAX_HTTP_BATCH = 1000


class CardBalances(BaseModel):
    posted: MoneyOut = Field(description="Money on the card.")
    held: MoneyOut = Field(description="Reserved by active holds, not yet captured or released.")
    available: MoneyOut = Field(description="posted - held: what can be spent now.")

    @classmethod
    def of(cls, posted: int, held: int, currency: str) -> CardBalances:
        return cls(
            posted=MoneyOut.of(posted, currency),
            held=MoneyOut.of(held, currency),
            available=MoneyOut.of(posted - held, currency),
        )


class GiftCardPublic(BaseModel):
    id: str
    code: str = Field(description="Masked: only the last four characters are ever shown again.")
    pinRequired: bool
    currency: str
    status: CardStatus
    balance: CardBalances
    expiresAt: datetime | None
    metadata: dict[str, Any]
    version: int
    createdAt: datetime
    lastModifiedAt: datetime

    @classmethod
    def of(cls, card: Card) -> GiftCardPublic:
        cur = card.currency
        return cls(
            id=card.id,
            code=mask(card.code_last4),
            pinRequired=card.pin_required,
            currency=cur,
            status=card.status,
            balance=CardBalances.of(card.posted, card.held, cur),
            expiresAt=card.expires_at,
            metadata=card.metadata,
            version=card.version,
            createdAt=card.created_at,
            lastModifiedAt=card.updated_at,
        )


class GiftCardIssued(GiftCardPublic):
    code: str = Field(description="The full code. Shown in this response only: store it now.")
    pin: str | None = Field(None, description="The PIN, if any. Shown in this response only.")

    @classmethod
    def issued(cls, issued: IssuedCard) -> GiftCardIssued:
        public = GiftCardPublic.of(issued.card).model_dump()
        public.update(code=issued.code, pin=issued.pin)
        return cls(**public)


class GiftCardCreate(Strict):
    amount: MoneyIn = Field(description="Initial balance of each card; centAmount may be 0.")
    count: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_HTTP_BATCH,
        description='Issue a batch; the answer is then `{"results": [...]}`, a card each.',
    )
    pinRequired: StrictBool = False
    pin: str | None = Field(None, description="Choose the PIN of a single card (4 to 12 digits).")
    expiresAt: AwareDatetime | None = None
    metadata: dict[str, Any] | None = None


class GiftCardBatch(BaseModel):
    results: list[GiftCardIssued]


class MoneyMovement(Strict):
    amount: MoneyIn
    reference: str | None = Field(None, max_length=200)


class StatusChange(Strict):
    reason: str | None = Field(None, max_length=200)


class BalanceCheck(Strict):
    code: str = Field(max_length=128)
    pin: str | None = Field(None, max_length=32)
    currency: str | None = Field(None, description="Answer CurrencyNotMatch unless the card's.")


class CardBalanceError(BaseModel):
    code: str
    message: str


class CardBalanceStatus(BaseModel):
    state: str = Field(description="Valid, NotFound, Expired, CurrencyNotMatch, ZeroBalance, …")
    errors: list[CardBalanceError] | None = None


class CardBalanceType(BaseModel):
    """The commercetools connector's ``BalanceType`` (named apart from the processor's own
    model of it, so that OpenAPI names neither by its module)."""

    status: CardBalanceStatus
    amount: MoneyOut | None = None
    giftCardId: str | None = Field(None, description="Server callers only.")

    @classmethod
    def of(cls, result: BalanceResult, *, with_id: bool) -> CardBalanceType:
        errors = [CardBalanceError(code=e.code, message=e.message) for e in result.errors]
        return cls(
            status=CardBalanceStatus(state=result.state.value, errors=errors or None),
            amount=MoneyOut.of(result.amount.minor, result.amount.currency)
            if result.amount
            else None,
            giftCardId=result.card_id if with_id else None,
        )


class ActivityPublic(BaseModel):
    id: str
    type: str
    amount: MoneyOut
    balanceAfter: CardBalances
    reference: str | None
    actor: str | None
    holdId: str | None
    createdAt: datetime

    @classmethod
    def of(cls, a: Activity) -> ActivityPublic:
        cur = a.currency
        return cls(
            id=a.id,
            type=a.type.value,
            amount=MoneyOut.of(a.amount, cur),
            balanceAfter=CardBalances.of(a.posted_after, a.held_after, cur),
            reference=a.reference,
            actor=a.actor,
            holdId=a.hold_id,
            createdAt=a.created_at,
        )
