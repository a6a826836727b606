"""``POST /checkout-data``: store checkout data as often as needed, and answer what the cart
now is with the methods that fit it (``include``, ``sort``), as Glue does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tender.api.checkout_deps import run
from tender.api.compat.spryker import jsonapi
from tender.api.compat.spryker.documents import CheckoutDataDocument
from tender.api.compat.spryker.errors import language
from tender.api.compat.spryker.gift_cards import CardsToApply, card_entries, with_cards
from tender.api.compat.spryker.jsonapi import Document
from tender.api.compat.spryker.names import (
    GLUE_GIFT_CARD_PROVIDER,
    glue_address,
    glue_country,
    glue_delivery_time,
)
from tender.api.compat.spryker.openapi import glue_route
from tender.api.i18n import translate
from tender.api.security import runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError
from tender.domain.payments import GIFT_CARD, method_allowed
from tender.domain.shipping import ShippingMethod
from tender.domain.totals import format_tax_rate, price_line
from tender.services.carts import CartView
from tender.services.checkout_data import stored_addresses

router = APIRouter()
GIFT_CARD_DATA = ["paymentMethod", "paymentProvider", "giftCard.code", "giftCard.pin"]
SORTABLE = {
    "payment-methods": frozenset({"name", "paymentMethodName", "paymentProviderName", "priority"}),
    "shipment-methods": frozenset(
        {
            "name",
            "carrierName",
            "deliveryTime",
            "defaultGrossPrice",
            "defaultNetPrice",
            "currencyIsoCode",
        }
    ),
}
"""The resources ``/checkout-data`` includes, and the attributes each may be sorted by."""


METHOD_NAMES = {GIFT_CARD: "Gift card", "invoice": "Invoice", "redirect": "Online payment"}
"""What shoppers read for each method (translated by the catalogue); ``paymentMethodName``
stays the key a client sends back."""


def payment_method_resources(request: Request, allowed: frozenset[str] | None) -> list[Document]:
    """What the merchant offers and the caller may use: a method the session does not allow,
    or that nothing could confirm, is not listed at all. No ``links``: no route answers a
    single method (JSON:API lets them be left out)."""
    runtime = runtime_of(request)
    lang = language(request.scope)
    methods = [(GIFT_CARD, GLUE_GIFT_CARD_PROVIDER, GIFT_CARD_DATA)]
    methods += [
        (m.name, m.provider_name, list(m.required_request_data))
        for m in runtime.orders.methods.values()
    ]
    # Numbered before a session's filter: a resource's ``type`` and ``id`` name one method,
    # whoever asks (the seed's ids are fixed: 1 Invoice, 2 Credit Card).
    return [
        {
            "type": "payment-methods",
            "id": str(i),
            "attributes": {
                "name": translate(METHOD_NAMES.get(name, name), lang),
                "paymentMethodName": name,
                "paymentProviderName": provider,
                "priority": i,
                "requiredRequestData": data,
            },
        }
        for i, (name, provider, data) in enumerate(methods, start=1)
        if method_allowed(name, allowed)
    ]


def shipment_resource(m: ShippingMethod, lang: str) -> Document:
    """No ``links``: no route answers a single shipment method. Its default prices are its
    price before any free-shipping threshold: gross, and net of the tax that gross includes."""
    net = price_line(m.price, 1, m.tax_rate_bp).net
    return {
        "type": "shipment-methods",
        "id": str(m.id),
        "attributes": {
            "name": m.name_in(lang),
            "carrierName": m.carrier_name,
            "deliveryTime": glue_delivery_time(m.delivery_time),
            "defaultGrossPrice": m.price,
            "defaultNetPrice": net,
            "currencyIsoCode": m.currency,
        },
    }


def _sort_key(attribute: str) -> Callable[[Document], tuple[bool, Any]]:
    def key(resource: Document) -> tuple[bool, Any]:
        value = resource["attributes"].get(attribute)
        return (value is None, value if value is not None else 0)

    return key


def sort_resources(resources: list[Document], kind: str, sort: str | None) -> list[Document]:
    """``sort=shipment-methods.carrierName,-shipment-methods.defaultNetPrice``."""
    if not sort:
        return resources
    for key in reversed([k.strip() for k in sort.split(",") if k.strip()]):
        descending = key.startswith("-")
        resource, _, attribute = key.lstrip("-").rpartition(".")
        if resource != kind:
            continue
        resources = sorted(resources, key=_sort_key(attribute), reverse=descending)
    return resources


def _selected_shipment(view: CartView, lang: str) -> list[Document]:
    m = view.shipping_method
    if m is None:
        return []
    return [
        {
            "id": m.id,
            "name": m.name_in(lang),
            "carrierName": m.carrier_name,
            "price": view.totals.shipping,
            "taxRate": format_tax_rate(m.tax_rate_bp),
            "deliveryTime": glue_delivery_time(m.delivery_time),
            "defaultGrossPrice": m.price,
            "defaultNetPrice": price_line(m.price, 1, m.tax_rate_bp).net,
            "currencyIsoCode": m.currency,
        }
    ]


def _totals(view: CartView) -> Document:
    t = view.totals
    return {
        "subtotal": t.subtotal,
        "expenseTotal": t.shipping,
        "taxTotal": t.tax,
        "grandTotal": t.grand_total,
        "giftCardTotal": t.gift_cards,
        "priceToPay": t.remaining,
        "currencyIsoCode": view.cart.currency,
    }


def _shipment_methods(
    view: CartView, fitting: list[ShippingMethod], shipments: list[Document]
) -> list[Document]:
    """The deprecated list: each included method with its id as a number, and what it would
    cost this cart (``price``, with its ``taxRate``), in the included resources' order."""
    by_id = {str(m.id): m for m in fitting}
    listed = []
    for resource in shipments:
        m = by_id[resource["id"]]
        listed.append(
            resource["attributes"]
            | {
                "id": m.id,
                "price": m.gross_for(view.totals.subtotal),
                "taxRate": format_tax_rate(m.tax_rate_bp),
            }
        )
    return listed


def _payment_providers(methods: list[Document]) -> list[Document]:
    """The deprecated list: the listed methods (those the caller may use, in their order)
    grouped by provider, each with the two fields the seed gives a method there."""
    providers: dict[str, list[Document]] = {}
    for resource in methods:
        attributes = resource["attributes"]
        providers.setdefault(attributes["paymentProviderName"], []).append(
            {
                "paymentMethodName": attributes["paymentMethodName"],
                "requiredRequestData": attributes["requiredRequestData"],
            }
        )
    return [
        {"paymentProviderName": name, "paymentMethods": listed}
        for name, listed in providers.items()
    ]


def _attributes(
    view: CartView,
    shipment_methods: list[Document],
    methods: list[Document],
    lang: str,
) -> Document:
    selected = {p.method for p in view.cart.payment_methods}
    addresses = [
        {
            "id": a.id,
            **glue_address(a.address),
            "country": glue_country(a.address.country),
            "isDefaultBilling": False,
            "isDefaultShipping": False,
        }
        for a in stored_addresses(view.cart)
    ]
    return {
        "addresses": addresses,
        "paymentProviders": _payment_providers(methods),
        "shipmentMethods": shipment_methods,
        "selectedShipmentMethods": _selected_shipment(view, lang),
        "selectedPaymentMethods": [
            {"id": int(r["id"]), **r["attributes"]}
            for r in methods
            if r["attributes"]["paymentMethodName"] in selected
        ],
        "totals": _totals(view),
        "giftCards": _gift_cards(view),
    }


def _gift_cards(view: CartView) -> list[Document]:
    """What each card on the cart covers now (tender's addition: the seed has no cards)."""
    return [
        {
            "id": p.id,
            "code": f"****{p.card_last4}",
            "amount": p.amount_planned,
            "upperLimitAmount": p.upper_limit or 0,
            "currencyIsoCode": p.currency,
        }
        for p in view.gift_cards
        if p.active
    ]


def checkout_data_document(
    request: Request,
    view: CartView,
    fitting: list[ShippingMethod],
    allowed: frozenset[str] | None = None,
) -> Document:
    sort = request.query_params.get("sort")
    lang = language(request.scope)
    shipments = [shipment_resource(m, lang) for m in fitting]
    shipments = sort_resources(shipments, "shipment-methods", sort)
    methods = sort_resources(payment_method_resources(request, allowed), "payment-methods", sort)
    data: Document = {
        "type": "checkout-data",
        "id": None,
        "attributes": _attributes(view, _shipment_methods(view, fitting, shipments), methods, lang),
        "links": jsonapi.link(request, "/checkout-data"),
    }
    document: Document = {"data": data}
    included: list[Document] = []
    relationships: Document = {}
    for kind, resources in (("payment-methods", methods), ("shipment-methods", shipments)):
        if kind in jsonapi.includes(request):
            relationships[kind] = {"data": [{"type": r["type"], "id": r["id"]} for r in resources]}
            included += resources
    if relationships:
        data["relationships"] = relationships
        document["included"] = included
    return document


@router.post(
    "/checkout-data",
    summary="Submit checkout data as often as needed (no order)",
    openapi_extra=glue_route(200, "The checkout data, as Glue answers it.", "include", "sort"),
)
async def checkout_data(request: Request, body: CheckoutDataDocument) -> Response:
    runtime = runtime_of(request)
    try:
        attributes = body.data.attributes
        who = await jsonapi.cart_caller(request, attributes.idCart)
        jsonapi.check_query(request, include=frozenset(SORTABLE), sort=SORTABLE)
        entries = card_entries(attributes)

        async def work(w: Work, cards: CardsToApply) -> tuple[CartView, list[ShippingMethod]]:
            await jsonapi.reachable(w, attributes.idCart, who)
            cart, _ = await runtime.checkout_data.store(
                w,
                cart_id=attributes.idCart,
                owner=who.owner,
                data=attributes.data(),
                allowed=who.allowed,
            )
            await cards.apply(w, cart)
            # Re-allocated from fresh balances even when nothing changed: posting checkout
            # data again is how a page shows the shopper what each card covers now.
            await runtime.carts.update_allocation(w, cart)
            view = await runtime.carts.view(w, cart)
            return view, await runtime.carts.fitting_shipping_methods(w, cart)

        view, fitting = await with_cards(
            request,
            who,
            entries,
            lambda cards: run(request, who.principal, lambda w: work(w, cards)),
        )
    except DomainError as error:
        return jsonapi.incorrect_data(request, error)
    return jsonapi.respond(
        request, checkout_data_document(request, view, fitting, who.allowed), 200
    )
