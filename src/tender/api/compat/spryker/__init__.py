"""Spryker Glue's checkout API: ``/checkout-data``, ``/checkout``, ``/order-payments``.

JSON:API documents in and out with the seed's attribute names and status codes (400 malformed,
422 incorrect checkout data, 404 unknown order, 201 for order payments). Errors keep the one
error shape, name fields as Glue does, and each also carries JSON:API's ``status`` and
``detail``. Callers are the merchant's backend (OAuth2, ``manage_orders``), the browser
(``X-Session-Id``, and then ``idCart`` must be the session's cart, and every payment method it
lists, selects, places with or acknowledges must be among the session's
``allowedPaymentMethods``), or a guest or customer of the cart (``shoppers``). A placed cart is
gone for Glue, as the seed says. ``/order-payments`` confirms an invoice for the merchant's backend;
for a redirect payment it only acknowledges what the provider's signed callback already
confirmed.

Glue's names live in ``names`` (both ways) and ``documents`` (what clients send); one module per
resource holds its route and the documents it answers.
"""

from fastapi import APIRouter

from tender.api.compat.spryker import checkout, checkout_data, order_payments

router = APIRouter(tags=["compat: Spryker Glue checkout"])
router.include_router(checkout_data.router)
router.include_router(checkout.router)
router.include_router(order_payments.router)

__all__ = ["router"]
