"""The steps of a checkout over HTTP that many tests take: shipping methods, gift cards, a cart
(ready to place: lines, addresses, shipping), a payment method chosen, a browser session, and
the Spryker Glue documents. Each step checks it succeeded, so a test reads as its journey."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.helpers import ADDRESS, GLUE_ADDRESS

ORIGIN = "https://shop.example"


async def _ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def shipping_method(
    api: Api,
    h: dict[str, str],
    *,
    name: str = "Standard",
    carrier: str = "DHL",
    price: int = 490,
) -> int:
    """A method shipping to Germany, 19% tax included in ``price``."""
    body = {
        "name": name,
        "carrierName": carrier,
        "price": {"centAmount": price, "currency": "EUR"},
        "taxRate": "19.00",
        "countries": ["DE"],
    }
    created = await _ok(await api.client.post("/shipping-methods", json=body, headers=h))
    return int(created["id"])


async def card(api: Api, h: dict[str, str], minor: int, **extra: Any) -> dict[str, Any]:
    """A new gift card of ``minor`` cents (``pin=`` and the like as ``extra``)."""
    body = {"amount": {"centAmount": minor, "currency": "EUR"}, **extra}
    return await _ok(await api.client.post("/giftcards", json=body, headers=h))  # type: ignore[no-any-return]


async def held(api: Api, h: dict[str, str], card_id: str) -> tuple[int, int]:
    """A card's posted balance and what of it is held."""
    body = (await api.client.get(f"/giftcards/{card_id}", headers=h)).json()["balance"]
    return body["posted"]["centAmount"], body["held"]["centAmount"]


async def new_cart(
    api: Api,
    h: dict[str, str],
    *,
    unit: int = 4000,
    quantity: int = 1,
    sku: str = "TEA",
    name: str = "Tea",
    email: str | None = "ada@example.com",
    shopper: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A euro cart to Germany with one line of ``quantity`` at ``unit`` (19% tax); ``shopper``
    names its guest or customer (``anonymousId``, ``customerId``)."""
    line = {
        "sku": sku,
        "name": name,
        "quantity": quantity,
        "price": {"centAmount": unit, "currency": "EUR"},
        "taxRate": "19.00",
    }
    body: dict[str, Any] = {"currency": "EUR", "country": "DE", "lineItems": [line]}
    if email is not None:
        body["customerEmail"] = email
    body.update(shopper or {})
    return await _ok(await api.client.post("/carts", json=body, headers=h))  # type: ignore[no-any-return]


async def update_cart(
    api: Api, h: dict[str, str], cart: dict[str, Any], *actions: dict[str, Any]
) -> dict[str, Any]:
    """``actions`` applied at the cart's version."""
    body = {"version": cart["version"], "actions": list(actions)}
    return await _ok(await api.client.post(f"/carts/{cart['id']}", json=body, headers=h), 200)  # type: ignore[no-any-return]


async def ready_cart(
    api: Api, h: dict[str, str], *, unit: int, quantity: int = 1, shipping: int | None = None
) -> dict[str, Any]:
    """A cart that can be placed once paid for: lines, email, both addresses and a shipping
    method (a new 4.90 one unless ``shipping`` is given)."""
    cart = await new_cart(api, h, unit=unit, quantity=quantity)
    method = shipping if shipping is not None else await shipping_method(api, h)
    return await update_cart(
        api,
        h,
        cart,
        {"action": "setShippingAddress", "address": ADDRESS},
        {"action": "setBillingAddress", "address": ADDRESS},
        {"action": "setShippingMethod", "shippingMethodId": method},
    )


async def add_card(
    api: Api, h: dict[str, str], cart_id: str, code: str, **pin: str
) -> dict[str, Any]:
    """The card on the cart, through tender's cart API: ``{"payment": …, "cart": …}``."""
    body = {"code": code, **pin}
    response = await api.client.post(f"/carts/{cart_id}/giftcards", json=body, headers=h)
    return await _ok(response)  # type: ignore[no-any-return]


async def choose_payment_method(
    api: Api, h: dict[str, str], cart_id: str, method: str
) -> dict[str, Any]:
    """What pays for what the gift cards leave open, chosen through the cart API."""
    cart = (await api.client.get(f"/carts/{cart_id}", headers=h)).json()
    return await update_cart(api, h, cart, {"action": "setPaymentMethod", "paymentMethod": method})


async def browser(api: Api, h: dict[str, str], cart_id: str, **metadata: Any) -> dict[str, str]:
    """Headers of a page on a new session for ``cart_id`` (metadata as given)."""
    body = {
        "cart": {"cartRef": {"id": cart_id}},
        "metadata": {"allowedOrigins": [ORIGIN], **metadata},
    }
    session = await _ok(await api.client.post("/sessions", json=body, headers=h))
    return {"X-Session-Id": session["id"], "Origin": ORIGIN}


def checkout_attributes(cart_id: str, shipping: int, *methods: str) -> dict[str, Any]:
    """Glue's checkout data for a cart: customer, addresses, shipment, ``methods``."""
    return {
        "idCart": cart_id,
        "customer": {"email": "ada@example.com"},
        "billingAddress": GLUE_ADDRESS,
        "shippingAddress": GLUE_ADDRESS,
        "shipment": {"idShipmentMethod": shipping},
        "payments": [{"paymentMethodName": m, "paymentProviderName": "tender"} for m in methods],
    }


def checkout_document(kind: str, cart_id: str, shipping: int, *methods: str) -> dict[str, Any]:
    """A Spryker ``checkout-data`` or ``checkout`` document selecting ``methods``."""
    return {"data": {"type": kind, "attributes": checkout_attributes(cart_id, shipping, *methods)}}


async def glue_checkout(
    api: Api, headers: dict[str, str], cart_id: str, shipping: int, *methods: str
) -> dict[str, Any]:
    """The order placed through Spryker's ``/checkout``; its answer's attributes."""
    document = checkout_document("checkout", cart_id, shipping, *methods)
    placed = await _ok(await api.client.post("/checkout", json=document, headers=headers))
    return placed["data"]["attributes"]  # type: ignore[no-any-return]


def order_payment(identifier: str, payload: list[dict[str, Any]]) -> dict[str, Any]:
    """A Spryker ``order-payments`` document."""
    return {
        "data": {
            "type": "order-payments",
            "attributes": {"paymentIdentifier": identifier, "dataPayload": payload},
        }
    }
