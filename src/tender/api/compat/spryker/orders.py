"""The ``orders`` resource of ``/checkout?include=orders``, as the seed's sample draws it:
every attribute, by its names and JSON types, one item per unit (quantity 1 each).

Amounts are integer minor units from the order as placed. Prices are gross (``GROSS_MODE``);
an item's net and tax come from tender's own rounding: the line's tax is rounded once, as in
the order's totals, and shared out over its units (the first units take the odd cents), so
the items and the shipping expense add up to ``taxTotal`` exactly. tender knows no discounts,
product options or cancellations at placing: those amounts are 0 and their lists empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from tender.api.compat.spryker import jsonapi
from tender.api.compat.spryker.jsonapi import Document
from tender.api.compat.spryker.names import GLUE_GIFT_CARD_PROVIDER, glue_order_address
from tender.domain.customers import address_from_document
from tender.domain.payments import GIFT_CARD
from tender.domain.totals import format_tax_rate, price_line
from tender.services.orders import Placed

CREATED_AT = "%Y-%m-%d %H:%M:%S.%f"
"""The seed's ``2019-07-25 09:14:16.274617`` (UTC)."""


def shares(total: int, count: int) -> list[int]:
    """``total`` split over ``count`` units, exactly: the first units take a cent more."""
    base, extra = divmod(total, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def _unit(line: dict[str, Any], tax: int) -> Document:
    gross, rate = line["unitGross"], format_tax_rate(line["taxRateBp"])
    return {
        "name": line["name"],
        "sku": line["sku"],
        "sumPrice": gross,
        "sumPriceToPayAggregation": gross,
        "quantity": 1,
        "metadata": {"superAttributes": [], "image": None},
        "calculatedDiscounts": [],
        "unitGrossPrice": gross,
        "sumGrossPrice": gross,
        "taxRate": rate,
        "unitNetPrice": gross - tax,
        "sumNetPrice": gross - tax,
        "unitPrice": gross,
        "unitTaxAmountFullAggregation": tax,
        "sumTaxAmountFullAggregation": tax,
        "refundableAmount": gross,
        "canceledAmount": 0,
        "sumSubtotalAggregation": gross,
        "unitSubtotalAggregation": gross,
        "unitProductOptionPriceAggregation": 0,
        "sumProductOptionPriceAggregation": 0,
        "unitExpensePriceAggregation": 0,
        "sumExpensePriceAggregation": 0,
        "unitDiscountAmountAggregation": 0,
        "sumDiscountAmountAggregation": 0,
        "unitDiscountAmountFullAggregation": 0,
        "sumDiscountAmountFullAggregation": 0,
        "unitPriceToPayAggregation": gross,
        "taxRateAverageAggregation": rate,
        "taxAmountAfterCancellation": None,
    }


def items(lines: list[dict[str, Any]]) -> tuple[list[Document], int]:
    """One item per unit, and the tax of all lines together."""
    found: list[Document] = []
    taxes = 0
    for line in lines:
        priced = price_line(line["unitGross"], line["quantity"], line["taxRateBp"])
        taxes += priced.tax
        found += [_unit(line, tax) for tax in shares(priced.tax, line["quantity"])]
    return found, taxes


def _expenses(placed: Placed, shipping_tax: int) -> list[Document]:
    """The shipment, its tax being what the order's tax holds beyond its lines'."""
    method = placed.view.shipping_method
    if method is None:
        return []
    gross = placed.order.snapshot["totals"]["shipping"]
    return [
        {
            "type": "SHIPMENT_EXPENSE_TYPE",
            "name": method.name,
            "sumPrice": gross,
            "unitGrossPrice": gross,
            "sumGrossPrice": gross,
            "taxRate": format_tax_rate(method.tax_rate_bp),
            "unitNetPrice": gross - shipping_tax,
            "sumNetPrice": gross - shipping_tax,
            "canceledAmount": 0,
            "unitDiscountAmountAggregation": 0,
            "sumDiscountAmountAggregation": 0,
            "unitTaxAmount": shipping_tax,
            "sumTaxAmount": shipping_tax,
            "unitPriceToPayAggregation": gross,
            "sumPriceToPayAggregation": gross,
            "taxAmountAfterCancellation": None,
        }
    ]


def _address(snapshot: Document, key: str) -> Document | None:
    address = address_from_document(snapshot.get(key))
    return glue_order_address(address) if address is not None else None


def created_at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(CREATED_AT)


def order_resource(request: Request, placed: Placed) -> Document:
    order, view = placed.order, placed.view
    snap = order.snapshot
    totals = snap["totals"]
    units, line_taxes = items(snap["lineItems"])
    return {
        "type": "orders",
        "id": order.reference,
        "attributes": {
            "createdAt": created_at(order.created_at),
            "totals": {
                "expenseTotal": totals["shipping"],
                "discountTotal": 0,
                "taxTotal": totals["tax"],
                "subtotal": totals["subtotal"],
                "grandTotal": totals["grandTotal"],
                "canceledTotal": 0,
            },
            "currencyIsoCode": order.currency,
            "items": units,
            "expenses": _expenses(placed, totals["tax"] - line_taxes),
            "billingAddress": _address(snap, "billingAddress"),
            "shippingAddress": _address(snap, "shippingAddress"),
            "priceMode": "GROSS_MODE",
            "payments": [
                {
                    "amount": p.amount_planned,
                    # As /checkout-data names it: tender's provider behind a card is its own.
                    "paymentProvider": GLUE_GIFT_CARD_PROVIDER
                    if p.method == GIFT_CARD
                    else p.provider,
                    "paymentMethod": p.method,
                }
                for p in view.payments
                if p.active
            ],
            "calculatedDiscounts": [],
        },
        # tender's own order route answers this reference (for the merchant's backend).
        "links": jsonapi.link(request, f"/orders/{order.reference}"),
    }
