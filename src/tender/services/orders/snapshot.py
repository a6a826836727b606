"""The record an order keeps of its cart at placing."""

from __future__ import annotations

from typing import Any

from tender.domain.customers import address_document, customer_document
from tender.services.carts import CartView


def order_snapshot(view: CartView) -> dict[str, Any]:
    """What an order keeps of its cart as it is placed (lines, customer, addresses, shipping
    method, totals), so that the order says what was bought even after its cart changes."""
    cart, totals = view.cart, view.totals
    return {
        "lineItems": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unitGross": line.unit_gross,
                "taxRateBp": line.tax_rate_bp,
            }
            for line in cart.line_items
        ],
        "customer": customer_document(cart.customer),
        "shippingAddress": address_document(cart.shipping_address),
        "billingAddress": address_document(cart.billing_address),
        "shippingMethodId": cart.shipping_method_id,
        "totals": {
            "subtotal": totals.subtotal,
            "shipping": totals.shipping,
            "net": totals.net,
            "tax": totals.tax,
            "grandTotal": totals.grand_total,
            "giftCards": totals.gift_cards,
            "remaining": totals.remaining,
        },
    }
