"""The connector template's documents, in its names, and their translation from tender's."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tender.api.schemas import MoneyIn, MoneyOut, Strict
from tender.domain.ledger import BalanceResult, BalanceState
from tender.domain.money import Money
from tender.services.redemption import PageSettings, PinField, Redeemed

BALANCE_STATUS = {
    BalanceState.VALID: 200,
    BalanceState.NOT_FOUND: 404,
    BalanceState.EXPIRED: 400,
    BalanceState.CURRENCY_NOT_MATCH: 400,
    BalanceState.ZERO_BALANCE: 400,
    BalanceState.GENERIC_ERROR: 400,
}
"""The template answers every state but ``Valid`` as an error: 404 for ``NotFound``, else 400."""


def amount_field(field: str | None, sent: MoneyIn) -> str | None:
    """tender's ``amount`` of a redemption is the template's ``redeemAmount``, and its
    currency has the name the page gave it."""
    if field == "amount.currency":
        return f"redeemAmount.{sent.currency_name()}"
    if field is not None and (field == "amount" or field.startswith("amount.")):
        return "redeemAmount" + field[len("amount") :]
    return field


class BalanceRequest(Strict):
    code: str = Field(max_length=128)
    pin: str | None = Field(None, max_length=32)


class RedeemRequest(Strict):
    code: str = Field(max_length=128)
    pin: str | None = Field(None, max_length=32)
    redeemAmount: MoneyIn = Field(description="At most this much is taken from the card.")

    def amount(self) -> Money:
        return self.redeemAmount.money("redeemAmount")


class BalanceError(BaseModel):
    code: str
    message: str


class BalanceStatus(BaseModel):
    state: str = Field(description="Valid, NotFound, Expired, CurrencyNotMatch, ZeroBalance …")
    errors: list[BalanceError] | None = Field(
        None, description="Every state but Valid; the first code is the state's name."
    )


class BalanceType(BaseModel):
    """The connector's ``BalanceType``: the amount names its currency both ways (the seed
    says ``currency``, the template sends ``currencyCode``)."""

    status: BalanceStatus
    amount: MoneyOut | None = None

    @classmethod
    def of(cls, result: BalanceResult) -> BalanceType:
        errors = [BalanceError(code=e.code, message=e.message) for e in result.errors]
        amount = result.amount
        return cls(
            status=BalanceStatus(state=result.state.value, errors=errors or None),
            amount=MoneyOut.of(amount.minor, amount.currency) if amount else None,
        )


class RedeemResponse(BaseModel):
    result: str = Field(description="Success, Failure or Initial, as the transaction's state.")
    paymentReference: str = Field(description="The payment made on the session's cart.")
    redemptionId: str = Field(description="The provider's reference; empty when refused.")
    redeemedAmount: MoneyOut = Field(
        description="What was taken: less than asked when the card or the cart needed less."
    )
    errors: list[BalanceError] | None = Field(
        None,
        description="With Failure: why, as a balance check says it (the first code is "
        "ZeroBalance, Expired or GenericError, which further errors explain).",
    )

    @classmethod
    def of(cls, redeemed: Redeemed) -> RedeemResponse:
        amount = redeemed.amount
        errors = [BalanceError(code=e.code, message=e.message) for e in redeemed.errors]
        return cls(
            result="Success" if redeemed.succeeded else "Failure",
            paymentReference=redeemed.payment.id,
            redemptionId=redeemed.hold_ref or "",
            redeemedAmount=MoneyOut.of(amount.minor if redeemed.succeeded else 0, amount.currency),
            errors=errors or None,
        )


class ProcessorConfig(BaseModel):
    """What the enabler needs to draw its form for the session's cart."""

    currency: str
    locale: str
    pinRequired: bool
    pin: str = Field(
        description="none, optional (a field for the cards that have a PIN) or required"
    )
    amountToPay: MoneyOut = Field(description="What the cart's payments leave open.")

    @classmethod
    def of(cls, settings: PageSettings) -> ProcessorConfig:
        left = settings.still_to_pay
        return cls(
            currency=settings.currency,
            locale=settings.locale,
            pinRequired=settings.pin is PinField.REQUIRED,
            pin=settings.pin.value,
            amountToPay=MoneyOut.of(left.minor, left.currency),
        )
