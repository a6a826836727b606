"""The wire format of the connector's ``/operations/*`` routes, as the public commercetools
gift card connector template has it: payment intents (``{"actions": [one action]}`` →
``{"outcome"}``, amounts as ``{centAmount, currencyCode}``) and the status document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictInt

from tender.api.schemas import Strict
from tender.domain.errors import InvalidAmount, UnknownCurrency
from tender.domain.money import MAX_MINOR, Money, check_currency, exponent
from tender.services.orders.intents import IntentAction, Outcome, PaymentIntent

REFERENCE = Field(None, min_length=1, max_length=200, description="The merchant's reference.")


class IntentAmount(Strict):
    centAmount: StrictInt = Field(description="Minor units of the currency, greater than zero.")
    currencyCode: str = Field(max_length=10, description="ISO 4217, the payment's currency.")
    fractionDigits: StrictInt | None = Field(None, description="If sent, the currency's own.")
    type: str | None = Field(None, pattern="^centPrecision$", description="commercetools' Money")

    def money(self, field: str) -> Money:
        try:
            check_currency(self.currencyCode)
        except UnknownCurrency as error:
            error.field = f"{field}.currencyCode"
            raise
        digits = exponent(self.currencyCode)
        if self.fractionDigits is not None and self.fractionDigits != digits:
            raise InvalidAmount(
                f"{self.currencyCode} has {digits} fraction digits", field=f"{field}.fractionDigits"
            )
        if not 0 < self.centAmount <= MAX_MINOR:
            raise InvalidAmount(
                f"the amount must be between 1 and {MAX_MINOR} minor units",
                field=f"{field}.centAmount",
            )
        return Money(self.centAmount, self.currencyCode)


class CapturePayment(Strict):
    action: Literal["capturePayment"]
    amount: IntentAmount
    merchantReference: str | None = REFERENCE


class RefundPayment(Strict):
    action: Literal["refundPayment"]
    amount: IntentAmount
    merchantReference: str | None = REFERENCE
    transactionId: str | None = Field(None, max_length=36, description="The charge refunded.")


class CancelPayment(Strict):
    action: Literal["cancelPayment"]
    merchantReference: str | None = REFERENCE


class ReversePayment(Strict):
    action: Literal["reversePayment"]
    merchantReference: str | None = REFERENCE


Action = Annotated[
    CapturePayment | RefundPayment | CancelPayment | ReversePayment,
    Field(discriminator="action"),
]
ACTIONS = {
    "capturePayment": IntentAction.CAPTURE,
    "refundPayment": IntentAction.REFUND,
    "cancelPayment": IntentAction.CANCEL,
    "reversePayment": IntentAction.REVERSE,
}


class PaymentIntentRequest(Strict):
    actions: list[Action] = Field(min_length=1, max_length=1, description="Exactly one action.")

    def intent(self) -> PaymentIntent:
        action = self.actions[0]
        amount = getattr(action, "amount", None)
        return PaymentIntent(
            ACTIONS[action.action],
            amount=amount.money("actions.0.amount") if amount is not None else None,
            reference=action.merchantReference,
            transaction_id=getattr(action, "transactionId", None),
        )


class PaymentIntentResponse(BaseModel):
    outcome: Outcome


class StatusCheck(BaseModel):
    name: str
    status: Literal["UP", "DOWN"]
    details: dict[str, Any] = Field(default_factory=dict)


class StatusMetadata(BaseModel):
    name: str
    description: str
    provider: str


class StatusResponse(BaseModel):
    status: Literal["OK", "Partially Available", "Error"]
    timestamp: str = Field(description="ISO 8601 in UTC, with milliseconds.")
    version: str
    metadata: StatusMetadata
    checks: list[StatusCheck]
