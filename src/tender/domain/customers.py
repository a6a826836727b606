"""Customers and their addresses as tender keeps them, and what tender requires of them.

The parts are commercetools' (street name and number, postal code, country), since tender's own
cart API is commercetools-style; the seeds' spellings (Spryker's ``address1``, ``zipCode``,
``iso2Code``) are translated in ``tender.api.compat`` and nowhere else. Errors name a part as
tender's API does (``shippingAddress.postalCode``); the seeds' routes rename it for their
callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from tender.domain.countries import country as known
from tender.domain.errors import InvalidInput

COUNTRY = re.compile(r"^[A-Z]{2}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
MAX_PART = 200


def camel(name: str) -> str:
    """``postal_code`` → ``postalCode``: how documents and error fields name an attribute."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


@dataclass(frozen=True, slots=True)
class Address:
    """Every part is optional until ``check_address`` says the address will do for an order."""

    salutation: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    street_name: str | None = None
    street_number: str | None = None
    additional_street_info: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None


ADDRESS_PARTS = tuple(f.name for f in fields(Address))
REQUIRED_PARTS = (
    "salutation",
    "first_name",
    "last_name",
    "street_name",
    "street_number",
    "postal_code",
    "city",
    "country",
)
"""What an order needs to ship and to bill: the same parts Spryker calls compulsory."""


@dataclass(frozen=True, slots=True)
class Customer:
    email: str | None = None
    salutation: str | None = None
    first_name: str | None = None
    last_name: str | None = None

    def updated(self, given: Customer) -> Customer:
        """This customer with every part ``given`` carries; parts it leaves out stay."""
        return replace(self, **{k: v for k, v in _parts(given).items() if v is not None})


def _parts(value: Address | Customer) -> dict[str, str | None]:
    return {f.name: getattr(value, f.name) for f in fields(value)}


def check_country(country: str, field: str = "country") -> str:
    """An ISO 3166-1 alpha-2 code that names a country (``XX`` has the form and names none)."""
    if not isinstance(country, str) or not COUNTRY.match(country) or known(country) is None:
        raise InvalidInput("a country is an ISO 3166-1 alpha-2 code such as DE", field=field)
    return country


def check_email(email: str, field: str = "customerEmail") -> str:
    if not EMAIL.match(email):
        raise InvalidInput("the email address is not valid", field=field)
    return email


def check_address(address: Address, field: str) -> Address:
    """The required parts present and not blank, every part short, the country a code."""
    for name in REQUIRED_PARTS:
        value = getattr(address, name)
        if value is None or not value.strip():
            raise InvalidInput(
                "{part} is required", field=f"{field}.{camel(name)}", part=camel(name)
            )
    for name in ADDRESS_PARTS:
        value = getattr(address, name)
        if value is not None and len(value) > MAX_PART:
            raise InvalidInput(
                "{part} must be text of at most {limit} characters",
                field=f"{field}.{camel(name)}",
                part=camel(name),
                limit=MAX_PART,
            )
    check_country(address.country or "", f"{field}.country")
    return address


# --- as JSON documents (stored rows, order snapshots) ----------------------------------------


def address_document(address: Address | None) -> dict[str, str | None] | None:
    """Every part, by tender's camelCase names."""
    if address is None:
        return None
    return {camel(name): value for name, value in _parts(address).items()}


def address_from_document(document: dict[str, Any] | None) -> Address | None:
    if document is None:
        return None
    return Address(**{name: document.get(camel(name)) for name in ADDRESS_PARTS})


def customer_document(customer: Customer) -> dict[str, str]:
    """Only the parts the customer has."""
    return {camel(k): v for k, v in _parts(customer).items() if v is not None}


def customer_from_document(document: dict[str, Any]) -> Customer:
    return Customer(**{f.name: document.get(camel(f.name)) for f in fields(Customer)})
