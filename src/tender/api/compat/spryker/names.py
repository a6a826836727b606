"""Glue's names for tender's concepts, both ways: addresses, customers, payment method
selections, and the fields errors name (``shippingAddress.postalCode`` is Glue's
``shippingAddress.zipCode``, ``shippingMethodId`` its ``shipment.idShipmentMethod``)."""

from __future__ import annotations

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


def glue_field(field: str) -> str:
    if field in GLUE_FIELDS:
        return GLUE_FIELDS[field]
    head, _, part = field.partition(".")
    if head in ADDRESSES and part in GLUE_PARTS:
        return f"{head}.{GLUE_PARTS[part]}"
    return field
