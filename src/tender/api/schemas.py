"""Wire models shared by every route: money and pages. Field names follow commercetools."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from tender.domain.errors import CurrencyMismatch, InvalidAmount, InvalidInput
from tender.domain.money import MAX_MINOR, Money, check_currency, exponent

T = TypeVar("T")


MAX_NESTING = 32


def _storable(value: Any, path: str = "", depth: int = 0) -> None:
    """Refuse what a client can send but no database or JSON encoder takes back: NUL characters
    (PostgreSQL text and JSONB refuse them), unpaired surrogates (no UTF-8 form), non-finite
    numbers (``NaN`` parses as JSON in Python, not in JSONB), times beyond the calendar in UTC
    and nesting deeper than the response serializer goes (the card would exist, its answer not).
    """
    where = f" (at {path})" if path else ""
    if depth > MAX_NESTING:
        raise ValueError(f"values nest at most {MAX_NESTING} levels deep{where}")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"text must not contain NUL characters{where}")
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError(f"text must be valid Unicode{where}") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"numbers must be finite{where}")
    elif isinstance(value, datetime):
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"the time is out of range{where}") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, path, depth + 1)
            _storable(item, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable(item, f"{path}[{index}]", depth + 1)


class Strict(BaseModel):
    """Unknown fields are refused, so a typo is an error rather than a silently ignored field;
    every value must be one the databases can store and JSON can carry back."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_values(cls, value: Any) -> Any:
        _storable(value)
        return value


class MoneyIn(Strict):
    """An amount in minor units. ``currencyCode`` (commercetools' templates) is accepted for
    ``currency``; ``fractionDigits``, if sent, must be the currency's own."""

    centAmount: StrictInt = Field(description="Amount in the currency's minor unit (cents).")
    currency: str | None = Field(None, description="ISO 4217 code, e.g. EUR.")
    currencyCode: str | None = Field(None, description="Alias of `currency`.")
    fractionDigits: StrictInt | None = Field(None, description="Must match the currency.")
    type: str | None = Field(None, pattern="^centPrecision$")

    def currency_name(self) -> str:
        """The name the caller gave the currency, so that an error points at what was sent."""
        return "currencyCode" if self.currencyCode and not self.currency else "currency"

    def money(self, field: str = "amount", *, signed: bool = False) -> Money:
        if self.currency and self.currencyCode and self.currency != self.currencyCode:
            raise InvalidInput("currency and currencyCode differ", field=f"{field}.currency")
        code = self.currency or self.currencyCode
        if not code:
            raise InvalidInput("the currency is missing", field=f"{field}.currency")
        try:
            check_currency(code)
        except InvalidInput as error:
            error.field = f"{field}.{self.currency_name()}"
            raise
        if self.fractionDigits is not None and self.fractionDigits != exponent(code):
            raise InvalidAmount(
                f"{code} has {exponent(code)} fraction digits, not {self.fractionDigits}",
                field=f"{field}.fractionDigits",
            )
        if abs(self.centAmount) > MAX_MINOR:
            raise InvalidAmount(
                "amounts are limited to {limit}",
                field=f"{field}.centAmount",
                limit=Money(MAX_MINOR, code),
            )
        if signed:
            if self.centAmount == 0:
                raise InvalidAmount("the amount must not be zero", field=f"{field}.centAmount")
        elif self.centAmount <= 0:
            raise InvalidAmount("the amount must be greater than zero", field=f"{field}.centAmount")
        return Money(self.centAmount, code)

    def money_in(self, currency: str, field: str = "amount") -> Money:
        money = self.money(field)
        if money.currency != currency:
            raise CurrencyMismatch(
                currency, money.currency, field=f"{field}.{self.currency_name()}"
            )
        return money


class MoneyOut(BaseModel):
    centAmount: int
    currency: str
    currencyCode: str
    fractionDigits: int

    @classmethod
    def of(cls, minor: int, currency: str) -> MoneyOut:
        return cls(
            centAmount=minor,
            currency=currency,
            currencyCode=currency,
            fractionDigits=exponent(currency),
        )


class PageOut(BaseModel, Generic[T]):
    results: list[T]
    limit: int
    nextCursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; absent on the last page."
    )


def check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    import json

    if metadata is None:
        return {}
    if len(json.dumps(metadata)) > 8192:
        raise InvalidInput("metadata is limited to 8 KiB of JSON", field="metadata")
    return metadata
