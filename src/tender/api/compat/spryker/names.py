"""Glue's names for tender's concepts, both ways: addresses, customers, payment method
selections, and the fields errors name (``shippingAddress.postalCode`` is Glue's
``shippingAddress.zipCode``, ``shippingMethodId`` its ``shipment.idShipmentMethod``)."""

from __future__ import annotations

from typing import Any

from tender.domain.countries import country
from tender.domain.customers import Address, camel

GLUE_ADDRESS = {
    "salutation": "salutation",
    "firstName": "first_name",
    "lastName": "last_name",
    "address1": "street_name",
    "address2": "street_number",
    "address3": "additional_street_info",
    "zipCode": "postal_code",
    "city": "city",
    "iso2Code": "country",
    "company": "company",
    "phone": "phone",
    "email": "email",
}
"""Glue's address parts, in Glue's order, and tender's attribute for each: ``address1`` is the
street, ``address2`` the house number (``West road``, ``212`` in the seed)."""
GLUE_PARTS = {camel(attribute): glue for glue, attribute in GLUE_ADDRESS.items()}
GLUE_FIELDS = {
    "lineItems": "idCart",
    "paymentMethods": "payments",
    "shippingMethodId": "shipment.idShipmentMethod",
}
"""Fields tender names otherwise: an empty cart is Glue's ``idCart``."""
ADDRESSES = ("shippingAddress", "billingAddress")


def glue_address(address: Address) -> dict[str, str | None]:
    """Every part, by Glue's names (as Glue answers them, empty ones as ``null``)."""
    return {glue: getattr(address, attribute) for glue, attribute in GLUE_ADDRESS.items()}


def glue_country(code: str | None) -> dict[str, Any] | None:
    """The country object of Glue's addresses (``null`` for a code that names none)."""
    found = country(code or "")
    if found is None:
        return None
    return {
        "id_country": found.numeric,
        "iso2_code": found.alpha2,
        "iso3_code": found.alpha3,
        "name": found.name,
        "postal_code_mandatory": found.postal_code_required,
        "postal_code_regex": found.postal_code_pattern,
        "regions": [{"iso2_code": r.code, "name": r.name} for r in found.regions],
    }


def glue_order_address(address: Address) -> dict[str, Any]:
    """An address as Glue's orders draw it: every part Spryker keeps, those tender has no
    such part for ``null``, and ``country`` as the country's name."""
    parts = glue_address(address)
    found = country(address.country or "")
    return {
        "salutation": parts["salutation"],
        "firstName": parts["firstName"],
        "middleName": None,
        "lastName": parts["lastName"],
        "address1": parts["address1"],
        "address2": parts["address2"],
        "address3": parts["address3"],
        "company": parts["company"],
        "city": parts["city"],
        "zipCode": parts["zipCode"],
        "poBox": None,
        "phone": parts["phone"],
        "cellPhone": None,
        "description": None,
        "comment": None,
        "email": parts["email"],
        "country": found.name if found is not None else None,
        "iso2Code": parts["iso2Code"],
    }


def glue_delivery_time(text: str | None) -> int | None:
    """Glue's ``deliveryTime`` is an integer; tender's is the merchant's text ("1-2 days"). A
    whole number goes out as one, anything else as Glue's "not available", ``null``."""
    if text is not None and text.isascii() and text.isdigit():
        return int(text)
    return None


GLUE_GIFT_CARD_PROVIDER = "tender"
"""The ``paymentProviderName`` of gift cards in Glue's documents, whichever provider (tender's
ledger, an external one) holds the card: one name in /checkout-data and in the order."""


def glue_field(field: str) -> str:
    if field in GLUE_FIELDS:
        return GLUE_FIELDS[field]
    head, _, part = field.partition(".")
    if head in ADDRESSES and part in GLUE_PARTS:
        return f"{head}.{GLUE_PARTS[part]}"
    return field
