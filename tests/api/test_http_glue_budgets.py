"""What protects one guest or customer from the others: idempotency keys kept per guest and per
customer (never shared by every anonymous caller), card lookup budgets counted per guest and per
customer, and nothing at all written for a guest or customer that reaches no cart or order."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from tender.db.models import IdempotencyKeyRow
from tests.api.glue_shoppers import Shop, checkout_document, guest, guest_id, shop
from tests.api.journeys import order_payment

__all__ = ["shop"]


async def _keyed(shop: Shop, cart_id: str, headers: dict[str, str], key: str) -> httpx.Response:
    document = checkout_document("checkout-data", cart_id, shop.shipping, "invoice")
    return await shop.post("/checkout-data", document, {**headers, "Idempotency-Key": key})


async def _kept(shop: Shop) -> int:
    query = select(func.count()).select_from(IdempotencyKeyRow)
    return int((await shop.api.runtime.db.read(lambda conn: conn.execute(query))).scalar_one())


async def test_two_guests_keys_do_not_collide(shop: Shop) -> None:
    first, second = guest_id(), guest_id()
    carts = [await shop.cart(anonymousId=first), await shop.cart(anonymousId=second)]
    answers = []
    for anonymous, cart in ((first, carts[0]), (second, carts[1])):
        response = await _keyed(shop, cart["id"], guest(anonymous), "same-key")
        assert response.status_code == 200, response.text  # not 422: another guest's key
        assert response.headers["idempotent-replayed"] == "false"
        answers.append(response)
    again = await _keyed(shop, carts[0]["id"], guest(first), "same-key")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == answers[0].content
    # The second guest sending the first guest's body with the same key replays nothing of
    # the first guest's: it is refused like any foreign cart.
    foreign = await _keyed(shop, carts[0]["id"], guest(second), "same-key")
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["errors"][0]["code"] == "CartNotFound"


async def test_two_customers_keys_do_not_collide(shop: Shop) -> None:
    carts = [await shop.cart(customerId="ada"), await shop.cart(customerId="grace")]
    for sub, cart in (("ada", carts[0]), ("grace", carts[1])):
        response = await _keyed(shop, cart["id"], shop.customer(sub), "same-key")
        assert response.status_code == 200, response.text
        assert response.headers["idempotent-replayed"] == "false"
    # A fresh token of the same customer keeps its keys.
    shop.api.clock.advance(seconds=5)
    again = await _keyed(shop, carts[1]["id"], shop.customer("grace"), "same-key")
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_guest_id_that_names_no_cart_writes_nothing(shop: Shop) -> None:
    cart = await shop.cart(anonymousId=guest_id())
    before = await _kept(shop)
    for headers in (guest(guest_id()), guest("short"), shop.customer("nobody", aud="x")):
        refused = await _keyed(shop, cart["id"], headers, "probe")
        assert refused.status_code in (401, 422), refused.text
    assert await _kept(shop) == before


async def test_a_shopper_that_reaches_no_order_writes_nothing(shop: Shop) -> None:
    """``/order-payments`` names an order, not a cart: a customer whose token is good but who
    has no cart at all, or a guest or customer naming an order that is not theirs, is answered
    404 with nothing kept for its key, as a guest id naming no cart is."""
    mine = guest_id()
    cart = await shop.cart(anonymousId=mine)
    placing = checkout_document("checkout", cart["id"], shop.shipping, "invoice")
    placed = await shop.post("/checkout", placing, guest(mine))
    assert placed.status_code == 201, placed.text
    reference = placed.json()["data"]["attributes"]["orderReference"]
    other = guest_id()
    await shop.cart(anonymousId=other)
    await shop.cart(customerId="grace")
    before = await _kept(shop)
    for index, (headers, identifier) in enumerate(
        [
            (shop.customer("nobody"), reference),  # a customer with no cart at all
            (shop.customer("nobody"), None),
            (shop.customer("grace"), reference),  # a customer with a cart of its own
            (guest(other), reference),  # a guest with a cart of its own
        ]
    ):
        document = order_payment(identifier, [{"type": "invoice-confirmation"}])
        if identifier is None:
            del document["data"]["attributes"]["paymentIdentifier"]
        keyed = {**headers, "Idempotency-Key": f"probe-{index}"}
        refused = await shop.post("/order-payments", document, keyed)
        assert refused.status_code == 404, refused.text
        assert refused.json()["errors"][0]["code"] == "OrderNotFound"
        assert "idempotent-replayed" not in refused.headers
    assert await _kept(shop) == before
    # The guest that placed the order reaches it: its answer is kept (its own record).
    document = order_payment(reference, [{"type": "invoice-confirmation"}])
    own = await shop.post("/order-payments", document, {**guest(mine), "Idempotency-Key": "own"})
    assert own.status_code == 422, own.text  # it may not confirm its invoice
    assert own.headers["idempotent-replayed"] == "false"
    assert await _kept(shop) == before + 1


async def test_card_lookups_are_budgeted_per_guest_and_per_customer(shop: Shop) -> None:
    """``TENDER_CARD_ATTEMPTS_PER_SESSION_MINUTE`` (2 here) counts each guest and customer on
    its own, as it counts each session: one shopper's attempts leave another's budget alone.
    Each attempt is a gift card code in the ``payments`` of ``/checkout-data``."""

    async def attempt(cart_id: str, headers: dict[str, str]) -> httpx.Response:
        document = checkout_document("checkout-data", cart_id, shop.shipping, "invoice")
        card = {"paymentMethodName": "giftcard", "giftCard": {"code": "6012345678901234"}}
        document["data"]["attributes"]["payments"] = [card]
        return await shop.post("/checkout-data", document, headers)

    ada, other = guest_id(), guest_id()
    callers = [
        (guest(ada), await shop.cart(anonymousId=ada)),
        (guest(other), await shop.cart(anonymousId=other)),
        (shop.customer("ada"), await shop.cart(customerId="ada")),
        (shop.customer("grace"), await shop.cart(customerId="grace")),
    ]
    for headers, cart in callers:
        statuses = []
        for _ in range(3):
            response = await attempt(cart["id"], headers)
            statuses.append(response.status_code)
        assert statuses == [422, 422, 429], (headers, statuses)  # an unknown code, twice
        assert "retry-after" in response.headers
