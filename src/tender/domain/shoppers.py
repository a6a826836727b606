"""Shoppers who come without a browser session, as the Spryker Glue seed has them: a *guest*,
known only by the anonymous id its storefront made up (``X-Anonymous-Customer-Unique-Id``), and
a *customer*, known by the subject of a token from the merchant's identity provider.

A guest's anonymous id is its only secret: whoever sends it reaches the guest's carts. So it
must be long enough to be a random value nobody guesses (22 characters, 128 bits and more of
base64url; a UUID qualifies), it is stored only as a keyed hash (like session ids) and shown
masked, like gift card codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tender.domain.errors import DomainError, InvalidInput

MIN_ANONYMOUS_ID = 22
MAX_ANONYMOUS_ID = 128
MIN_DISTINCT = 8
"""A random value of 22 characters has far more distinct characters than this; a value with
fewer (``aaaa…``, ``1212…``) was not drawn at random."""
MAX_CUSTOMER_ID = 100
_ANONYMOUS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
"""What a header may carry and a storefront generates: UUIDs, hex, base64 and base64url."""


def check_anonymous_id(value: str, field: str = "anonymousId") -> str:
    if not MIN_ANONYMOUS_ID <= len(value) <= MAX_ANONYMOUS_ID or not _ANONYMOUS.match(value):
        raise InvalidInput(
            f"an anonymous id is {MIN_ANONYMOUS_ID} to {MAX_ANONYMOUS_ID} characters of a "
            "random value (letters, digits, . _ ~ + / = -), such as a UUID",
            field=field,
        )
    if len(set(value)) < MIN_DISTINCT:
        raise InvalidInput("an anonymous id must be a random value", field=field)
    return value


def usable_anonymous_id(value: str) -> bool:
    """Whether a header's value could name a guest at all (checked before any lookup)."""
    try:
        check_anonymous_id(value)
    except InvalidInput:
        return False
    return True


def check_customer_id(value: str, field: str = "customerId") -> str:
    """The ``sub`` of the customer's tokens: any printable text the provider uses."""
    if not 1 <= len(value) <= MAX_CUSTOMER_ID or not value.isprintable() or value != value.strip():
        raise InvalidInput(
            f"a customer id is 1 to {MAX_CUSTOMER_ID} printable characters", field=field
        )
    return value


def mask_anonymous_id(last4: str) -> str:
    """What a guest's id looks like once the cart is created: its last four characters."""
    return f"****{last4}"


def cart_shopper(
    anonymous_id: str | None, customer_id: str | None, guest_hash: Callable[[str], bytes]
) -> dict[str, Any]:
    """A new cart's guest and customer fields, every problem with them named at once."""
    found: dict[str, Any] = {}
    errors: list[DomainError] = []
    if anonymous_id is not None:
        try:
            check_anonymous_id(anonymous_id)
        except InvalidInput as error:
            errors.append(error)
        else:
            found["anonymous_id_hash"] = guest_hash(anonymous_id)
            found["anonymous_id_last4"] = anonymous_id[-4:]
    if customer_id is not None:
        try:
            found["customer_id"] = check_customer_id(customer_id)
        except InvalidInput as error:
            errors.append(error)
    if errors:
        raise DomainError.all_of(errors)
    return found
