"""Spryker Glue's guests (``X-Anonymous-Customer-Unique-Id``) and customers (a bearer token of
the merchant's identity provider) check out their own carts over HTTP, and nobody else's: a
foreign guest id or customer token is answered exactly like a cart that does not exist, and a
placed cart is gone for Glue while the merchant still reads it."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tender.db.checkout_rows import carts
from tender.db.client_store import SqlClientStore
from tests.api.conftest import assert_error
from tests.api.glue_shoppers import (
    Shop,
    cart_body,
    checkout_document,
    created,
    guest,
    guest_id,
    journey,
    shop,
)
from tests.api.journeys import order_payment

__all__ = ["shop"]
UNKNOWN_CART = "00000000-0000-7000-8000-000000000000"


async def test_a_guest_checks_out_with_its_anonymous_id(shop: Shop) -> None:
    anonymous = guest_id()
    cart = await shop.cart(anonymousId=anonymous)
    assert cart["anonymousId"] == "****" + anonymous[-4:]  # its only secret, shown masked
    assert cart["customerId"] is None
    order = await journey(shop, cart["id"], guest(anonymous))
    assert order["attributes"]["currencyIsoCode"] == "EUR"
    # Without Origin (a native app), the same guest is admitted too.
    refused = await shop.post(
        "/checkout-data",
        checkout_document("checkout-data", cart["id"], shop.shipping),
        guest(anonymous, origin=None),
    )
    assert refused.json()["errors"][0]["code"] == "CartNotFound"  # placed: gone for Glue


async def test_a_customer_checks_out_with_its_identity_providers_token(shop: Shop) -> None:
    cart = await shop.cart(customerId="customer-42")
    assert cart["customerId"] == "customer-42"
    assert cart["anonymousId"] is None
    await journey(shop, cart["id"], shop.customer("customer-42"))
    assert shop.idp.requests == 1  # the key set was fetched once, then cached


async def test_a_merchant_admins_jwt_checks_out_as_the_merchants_token_does(shop: Shop) -> None:
    """The OpenAPI document names an admin's JWT among Glue's callers: it is taken there."""
    cart = await shop.cart(customerId="customer-43")
    admin = {"Authorization": f"Bearer {shop.api.admin_jwt('manage_orders')}"}
    await journey(shop, cart["id"], admin)
    narrower = {"Authorization": f"Bearer {shop.api.admin_jwt('manage_payments')}"}
    refused = await shop.post(
        "/checkout-data", checkout_document("checkout-data", cart["id"], shop.shipping), narrower
    )
    assert refused.status_code == 403, refused.text


async def test_the_database_holds_no_anonymous_id(shop: Shop) -> None:
    anonymous = guest_id()
    cart = await shop.cart(anonymousId=anonymous)
    query = select(carts).where(carts.c.id == cart["id"])
    row = (await shop.api.runtime.db.read(lambda conn: conn.execute(query))).one()
    assert anonymous not in repr(tuple(row))  # in no column, as text or bytes
    digest, last4 = row.anonymous_id_hash, row.anonymous_id_last4
    assert anonymous.encode() not in bytes(digest)
    assert len(bytes(digest)) == 32
    assert last4 == anonymous[-4:]


def _same_refusal(first: httpx.Response, second: httpx.Response) -> None:
    assert first.status_code == second.status_code
    assert first.json() == second.json()
    assert first.headers["content-type"] == second.headers["content-type"]


async def _unchanged(shop: Shop, cart: dict[str, Any]) -> None:
    now = (await shop.api.client.get(f"/carts/{cart['id']}", headers=shop.merchant)).json()
    assert now["version"] == cart["version"]
    assert now["shippingAddress"] is None
    assert now["locked"] is False


async def test_a_foreign_guest_is_answered_like_an_unknown_cart(shop: Shop) -> None:
    mine, other = guest_id(), guest_id()
    cart = await shop.cart(anonymousId=mine)
    await shop.cart(anonymousId=other)  # the other guest has a cart of its own
    for kind, path in (("checkout-data", "/checkout-data"), ("checkout", "/checkout")):
        document = checkout_document(kind, cart["id"], shop.shipping, "invoice")
        unknown = checkout_document(kind, UNKNOWN_CART, shop.shipping, "invoice")
        foreign = await shop.post(path, document, guest(other))
        assert foreign.status_code == 422, foreign.text
        assert foreign.json()["errors"][0]["code"] == "CartNotFound"
        _same_refusal(foreign, await shop.post(path, unknown, guest(other)))
        # An id nobody has, or one too short to be anyone's, looks the same.
        _same_refusal(foreign, await shop.post(path, document, guest(guest_id())))
        _same_refusal(foreign, await shop.post(path, document, guest("short-id")))
        # A customer with no cart of its own, too.
        as_customer = await shop.post(path, document, shop.customer("customer-42"))
        _same_refusal(foreign, as_customer)
    await _unchanged(shop, cart)


async def test_a_foreign_customer_is_answered_like_an_unknown_cart(shop: Shop) -> None:
    cart = await shop.cart(customerId="customer-42")
    await shop.cart(customerId="customer-7")
    for kind, path in (("checkout-data", "/checkout-data"), ("checkout", "/checkout")):
        document = checkout_document(kind, cart["id"], shop.shipping, "invoice")
        unknown = checkout_document(kind, UNKNOWN_CART, shop.shipping, "invoice")
        foreign = await shop.post(path, document, shop.customer("customer-7"))
        assert foreign.status_code == 422, foreign.text
        _same_refusal(foreign, await shop.post(path, unknown, shop.customer("customer-7")))
        _same_refusal(foreign, await shop.post(path, document, shop.customer("nobody")))
    await _unchanged(shop, cart)
    # A token the provider did not sign for us is no customer at all: 401, as for any token.
    for forged in (
        shop.customer("customer-42", aud="another-shop"),
        shop.customer("customer-42", exp=int(shop.api.clock.now().timestamp()) - 300),
        shop.customer("customer-42", iss="https://other-idp.example"),
    ):
        document = checkout_document("checkout-data", cart["id"], shop.shipping)
        response = await shop.post("/checkout-data", document, forged)
        assert response.status_code == 401, response.text
    await _unchanged(shop, cart)


async def test_foreign_orders_are_unknown_and_a_guest_confirms_no_invoice(shop: Shop) -> None:
    mine, other = guest_id(), guest_id()
    cart = await shop.cart(anonymousId=mine)
    await shop.cart(anonymousId=other)
    placing = checkout_document("checkout", cart["id"], shop.shipping, "invoice")
    placed = await shop.post("/checkout", placing, guest(mine))
    assert placed.status_code == 201, placed.text
    reference = placed.json()["data"]["attributes"]["orderReference"]
    confirm = order_payment(reference, [{"type": "invoice-confirmation"}])
    answers = []
    for headers, identifier in (
        (guest(other), reference),
        (guest(guest_id()), reference),  # an id with no cart at all
        (guest("short"), reference),  # an id that could not be one
        (shop.customer("customer-42"), reference),
        (guest(other), "NO-SUCH-ORDER"),
    ):
        probe = order_payment(identifier, [{"type": "invoice-confirmation"}])
        response = await shop.post("/order-payments", probe, headers)
        assert_error(_plain(response), 404, "OrderNotFound")
        answers.append(response.json())
    assert all(answer == answers[0] for answer in answers)
    # The guest itself may not confirm its invoice: only the merchant's backend can.
    refused = await shop.post("/order-payments", confirm, guest(mine))
    # It sees its order, so the payment is "not updated" (422), as for a browser session.
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["code"] == "PaymentNotFound"
    confirmed = await shop.post("/order-payments", confirm, shop.merchant)
    assert confirmed.status_code == 201, confirmed.text


def _plain(response: httpx.Response) -> httpx.Response:
    """The one error shape without JSON:API's members, for ``assert_error``."""
    body = response.json()
    body["errors"] = [
        {k: v for k, v in item.items() if k not in ("status", "detail", "source")}
        for item in body["errors"]
    ]
    return httpx.Response(response.status_code, json=body)


async def test_a_short_or_made_up_anonymous_id_is_refused_when_the_cart_is_created(
    shop: Shop,
) -> None:
    for weak in ("a" * 21, "a" * 40, "12121212121212121212121212", "has spaces in it, 1234567"):
        response = await shop.api.client.post(
            "/carts", json=cart_body(anonymousId=weak), headers=shop.merchant
        )
        body = assert_error(response, 400)
        assert body["errors"][0]["field"] == "anonymousId", body
    both = await shop.api.client.post(
        "/carts", json=cart_body(anonymousId="short", customerId=" x"), headers=shop.merchant
    )
    assert {e["field"] for e in assert_error(both, 400)["errors"]} == {"anonymousId", "customerId"}
    # A random value of 22 characters is enough.
    assert (await shop.cart(anonymousId=guest_id()[:22]))["anonymousId"]


async def test_guests_and_customers_come_from_allowed_origins_only(shop: Shop) -> None:
    anonymous = guest_id()
    cart = await shop.cart(anonymousId=anonymous, customerId="customer-42")
    document = checkout_document("checkout-data", cart["id"], shop.shipping)
    elsewhere = "https://evil.example"
    for headers in (
        guest(anonymous, origin=elsewhere),
        {**shop.customer("customer-42"), "Origin": elsewhere},
    ):
        response = await shop.post("/checkout-data", document, headers)
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["code"] == "OriginNotAllowed"
        assert "session" not in response.json()["errors"][0]["detail"]  # a shopper has none
    # A merchant's token sent from a page is refused, as on every browser route.
    pasted = await shop.post("/checkout-data", document, {**shop.merchant, "Origin": elsewhere})
    assert pasted.status_code == 401, pasted.text
    await _unchanged(shop, cart)
    # A cart may name both; each reaches it.
    for headers in (guest(anonymous), shop.customer("customer-42")):
        assert (await shop.post("/checkout-data", document, headers)).status_code == 200


async def test_a_placed_cart_is_gone_for_glue_and_kept_for_the_merchant(shop: Shop) -> None:
    anonymous = guest_id()
    cart = await shop.cart(anonymousId=anonymous)
    placed = await shop.post(
        "/checkout",
        checkout_document("checkout", cart["id"], shop.shipping, "invoice"),
        guest(anonymous),
    )
    assert placed.status_code == 201, placed.text
    for headers in (guest(anonymous), shop.merchant):
        for kind, path in (("checkout-data", "/checkout-data"), ("checkout", "/checkout")):
            document = checkout_document(kind, cart["id"], shop.shipping, "invoice")
            unknown = checkout_document(kind, UNKNOWN_CART, shop.shipping, "invoice")
            gone = await shop.post(path, document, headers)
            assert gone.status_code == 422, gone.text
            assert gone.json()["errors"][0]["code"] == "CartNotFound"
            _same_refusal(gone, await shop.post(path, unknown, headers))
    kept = await shop.api.client.get(f"/carts/{cart['id']}", headers=shop.merchant)
    assert kept.status_code == 200, kept.text
    assert kept.json()["locked"] is True
    order = await shop.api.client.get(
        f"/orders/{placed.json()['data']['attributes']['orderReference']}", headers=shop.merchant
    )
    assert order.status_code == 200, order.text


async def test_a_disabled_clients_carts_are_out_of_their_shoppers_reach(shop: Shop) -> None:
    """A client is disabled because its secret leaked: the guests and customers of the carts
    it made stop with its tokens and sessions, as if the carts did not exist."""
    client_id, secret = await shop.api.new_client()
    granted = await shop.api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    merchant = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    anonymous = guest_id()
    carts = {
        "guest": await created(shop.api, merchant, cart_body(anonymousId=anonymous)),
        "customer": await created(shop.api, merchant, cart_body(customerId="customer-7")),
    }
    callers = {"guest": guest(anonymous), "customer": shop.customer("customer-7")}
    for who, cart in carts.items():
        document = checkout_document("checkout-data", cart["id"], shop.shipping, "invoice")
        answer = await shop.post("/checkout-data", document, callers[who])
        assert answer.status_code == 200, (who, answer.text)
    paying = guest_id()  # a guest whose order was placed and paid before
    paid_cart = await created(shop.api, merchant, cart_body(anonymousId=paying))
    order = await journey(shop, paid_cart["id"], guest(paying))
    await shop.api.runtime.db.transaction(
        lambda conn: SqlClientStore(conn).set_client_active(client_id, False)
    )
    for who, cart in carts.items():
        for kind, path in (("checkout-data", "/checkout-data"), ("checkout", "/checkout")):
            document = checkout_document(kind, cart["id"], shop.shipping, "invoice")
            refused = await shop.post(path, document, callers[who])
            assert refused.status_code == 422, (who, path, refused.text)
            assert refused.json()["errors"][0]["code"] == "CartNotFound"
    confirmation = order_payment(order["id"], [{"type": "payment-confirmation"}])
    again = await shop.post("/order-payments", confirmation, guest(paying))
    assert again.status_code == 404, again.text
    assert again.json()["errors"][0]["code"] == "OrderNotFound"
