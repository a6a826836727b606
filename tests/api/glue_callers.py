"""Who calls the Spryker Glue routes, as one parameter of a journey: each caller turns the
merchant's credentials and a cart into the headers its Glue calls carry.

A new kind of caller is one more entry in ``GLUE_CALLERS``; every journey parametrised over
them then runs for it. A customer's journey, which needs an identity provider, is in
``test_http_glue_shoppers``."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tests.api.conftest import Api
from tests.api.journeys import browser

HeadersFor = Callable[[Api, dict[str, str], str], Awaitable[dict[str, str]]]
"""``(api, merchant headers, cart id)`` → the headers of the caller's Glue calls."""


@dataclass(frozen=True, slots=True)
class GlueCaller:
    name: str
    headers_for: HeadersFor
    confirms_invoices: bool
    """Whether its own ``/order-payments`` call confirms an invoice (only the merchant's
    backend does); otherwise the merchant's backend confirms it in the journey."""
    shopper: dict[str, str] = field(default_factory=dict)
    """What the merchant's backend sets on the cart for this caller (a guest's id)."""


async def _merchant(api: Api, h: dict[str, str], cart_id: str) -> dict[str, str]:
    return h


async def _browser(api: Api, h: dict[str, str], cart_id: str) -> dict[str, str]:
    return await browser(api, h, cart_id)


GUEST_ID = secrets.token_urlsafe(24)
"""The guest's only secret, as a storefront makes it: random, UUID-sized."""


async def _guest(api: Api, h: dict[str, str], cart_id: str) -> dict[str, str]:
    return {"X-Anonymous-Customer-Unique-Id": GUEST_ID}  # from the storefront's server


GLUE_CALLERS = {
    caller.name: caller
    for caller in (
        GlueCaller("merchant", _merchant, confirms_invoices=True),
        GlueCaller("browser", _browser, confirms_invoices=False),
        GlueCaller("guest", _guest, confirms_invoices=False, shopper={"anonymousId": GUEST_ID}),
    )
}
