"""Spryker Glue's checkout API: ``/checkout-data``, ``/checkout``, ``/order-payments``.

JSON:API documents in and out with the seed's attribute names and status codes (400 malformed,
422 incorrect checkout data, 404 unknown order, 201 for order payments). Errors keep the one
error shape and each error also carries JSON:API's ``status`` and ``detail``. Callers are the
merchant's backend (OAuth2, ``manage_orders``) or the browser (``X-Session-Id``, and then
``idCart`` must be the session's cart, and every payment method it lists, selects, places with
or acknowledges must be among the session's ``allowedPaymentMethods``). ``/order-payments``
confirms an invoice for the merchant's backend; for a redirect payment it only acknowledges
what the provider's signed callback already confirmed.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from tender.api.browser import browser_session
from tender.api.checkout_deps import owner_of, run
from tender.api.errors import domain_error_items, error_body, status_for
from tender.api.security import BearerError, authenticate, runtime_of
from tender.domain.cart import CartNotFound
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError, InvalidInput, NotFound
from tender.domain.payments import GIFT_CARD, OrderNotFound, PaymentNotFound, method_allowed
from tender.domain.principals import Principal, PrincipalKind, Scope
from tender.domain.sessions import BrowserUnauthorized, Session
from tender.domain.totals import format_tax_rate
from tender.services.carts import CartView
from tender.services.checkout_data import CheckoutData, address_id, stored_addresses

router = APIRouter(tags=["compat: Spryker Glue checkout"])
JSONAPI = "application/vnd.api+json"
PATHS = ("/checkout-data", "/checkout", "/order-payments")


class Lenient(BaseModel):
    """Glue clients send fields tender does not use (isDefaultBilling…): ignore, don't fail."""

    model_config = ConfigDict(extra="ignore")


class Customer(Lenient):
    salutation: str | None = Field(None, max_length=50)
    email: str | None = Field(None, max_length=320)
    firstName: str | None = Field(None, max_length=200)
    lastName: str | None = Field(None, max_length=200)


class AddressIn(Lenient):
    id: str | None = Field(None, max_length=36)
    salutation: str | None = Field(None, max_length=200)
    firstName: str | None = Field(None, max_length=200)
    lastName: str | None = Field(None, max_length=200)
    address1: str | None = Field(None, max_length=200)
    address2: str | None = Field(None, max_length=200)
    address3: str | None = Field(None, max_length=200)
    zipCode: str | None = Field(None, max_length=200)
    city: str | None = Field(None, max_length=200)
    iso2Code: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=200)


class PaymentIn(Lenient):
    paymentMethodName: str = Field(max_length=100)
    paymentProviderName: str | None = Field(None, max_length=100)


class ShipmentIn(Lenient):
    idShipmentMethod: StrictInt


class CheckoutAttributes(Lenient):
    idCart: str = Field(max_length=36)
    customer: Customer | None = None
    billingAddress: AddressIn | None = None
    shippingAddress: AddressIn | None = None
    payments: list[PaymentIn] | None = Field(None, max_length=5)
    shipment: ShipmentIn | None = None

    def data(self) -> CheckoutData:
        def address(a: AddressIn | None) -> dict[str, Any] | None:
            return a.model_dump(exclude_none=True) if a else None

        return CheckoutData(
            customer=self.customer.model_dump(exclude_none=True) if self.customer else None,
            billing_address=address(self.billingAddress),
            shipping_address=address(self.shippingAddress),
            shipment_method_id=self.shipment.idShipmentMethod if self.shipment else None,
            payments=[p.model_dump(exclude_none=True) for p in self.payments]
            if self.payments is not None
            else None,
        )


class CheckoutDataResource(Lenient):
    type: Literal["checkout-data"]
    attributes: CheckoutAttributes


class CheckoutDataDocument(Lenient):
    data: CheckoutDataResource


class CheckoutResource(Lenient):
    type: Literal["checkout"]
    attributes: CheckoutAttributes


class CheckoutDocument(Lenient):
    data: CheckoutResource


class OrderPaymentAttributes(Lenient):
    paymentIdentifier: str | None = Field(None, max_length=100)
    dataPayload: list[dict[str, Any]] = Field(max_length=20)


class OrderPaymentResource(Lenient):
    type: Literal["order-payments"]
    attributes: OrderPaymentAttributes


class OrderPaymentDocument(Lenient):
    data: OrderPaymentResource


# --- errors and callers ------------------------------------------------------------------


def jsonapi_error(error: DomainError, status: int | None = None) -> JSONResponse:
    status = status or status_for(error)
    items = [
        {**item, "status": str(status), "detail": item["message"]}
        for item in domain_error_items(error)
    ]
    body = error_body(status, items)
    headers = {"Content-Language": "en"}
    return JSONResponse(body, status_code=status, headers=headers)


class MissingCredentials(InvalidInput):
    code = "MissingCredentials"
    message = "Send Authorization (server) or X-Session-Id (browser)."


def incorrect_data(error: DomainError) -> JSONResponse:
    """The seed's statuses: 400 without credentials, 422 for checkout data it cannot use,
    401 for a bad session."""
    if isinstance(error, MissingCredentials):
        return jsonapi_error(error, 400)
    if isinstance(error, BrowserUnauthorized):
        return jsonapi_error(error, 401)
    if status_for(error) == 409:
        return jsonapi_error(error, 409)
    return jsonapi_error(error, 422)


class Caller:
    def __init__(self, principal: Principal, session: Session | None) -> None:
        self.principal = principal
        self.session = session

    @property
    def owner(self) -> str | None:
        return None if self.session else owner_of(self.principal)

    @property
    def allowed(self) -> frozenset[str] | None:
        """The browser session's ``allowedPaymentMethods``; the merchant's backend may use
        every method it offers."""
        return self.session.allowed_payment_methods if self.session else None

    def check_cart(self, cart_id: str) -> None:
        if self.session is not None and self.session.cart_id != cart_id:
            raise CartNotFound(field="idCart")


async def caller(request: Request) -> Caller:
    """The browser's session, or the merchant's backend with ``manage_orders``; with neither
    header the seed answers 400."""
    if "x-session-id" in request.headers:
        session = await browser_session(request)
        return Caller(Principal(PrincipalKind.SESSION, session.cart_id, frozenset()), session)
    if "authorization" not in request.headers:
        raise MissingCredentials()
    principal = await authenticate(request)
    if not principal.has(Scope.MANAGE_ORDERS):
        raise BearerError(
            403, "insufficient_scope", "this call needs manage_orders", Scope.MANAGE_ORDERS.value
        )
    return Caller(principal, None)


# --- documents out -------------------------------------------------------------------------


def _absolute(request: Request, url: str | None) -> str | None:
    """Redirects to tender's own pages are given as full URLs, as a Glue client expects."""
    if url is None or not url.startswith("/"):
        return url
    return str(request.base_url).rstrip("/") + url


def _link(request: Request, path: str) -> dict[str, str]:
    return {"self": str(request.base_url).rstrip("/") + path}


def _payment_methods(request: Request, allowed: frozenset[str] | None) -> list[dict[str, Any]]:
    """What the merchant offers and the caller may use: a method the session does not allow,
    or that nothing could confirm, is not listed at all."""
    runtime = runtime_of(request)
    methods = [
        (GIFT_CARD, "tender", ["paymentMethod", "paymentProvider", "giftCard.code", "giftCard.pin"])
    ]
    methods += [
        (m.name, m.provider_name, list(m.required_request_data))
        for m in runtime.orders.methods.values()
    ]
    methods = [m for m in methods if method_allowed(m[0], allowed)]
    return [
        {
            "type": "payment-methods",
            "id": str(i),
            "attributes": {
                "paymentMethodName": name,
                "paymentProviderName": provider,
                "priority": i,
                "requiredRequestData": data,
            },
            "links": _link(request, f"/payment-methods/{i}"),
        }
        for i, (name, provider, data) in enumerate(methods, start=1)
    ]


def _shipment_resource(request: Request, m: Any) -> dict[str, Any]:
    net = m.priced(0).net if m.free_above is None or m.free_above > 0 else 0
    return {
        "type": "shipment-methods",
        "id": str(m.id),
        "attributes": {
            "name": m.name,
            "carrierName": m.carrier_name,
            "deliveryTime": m.delivery_time,
            "defaultGrossPrice": m.price,
            "defaultNetPrice": net if m.price else 0,
            "currencyIsoCode": m.currency,
        },
        "links": _link(request, f"/shipment-methods/{m.id}"),
    }


def _sort_key(attribute: str) -> Any:
    def key(resource: dict[str, Any]) -> tuple[bool, Any]:
        value = resource["attributes"].get(attribute)
        return (value is None, value if value is not None else 0)

    return key


def _sorted(resources: list[dict[str, Any]], kind: str, sort: str | None) -> list[dict[str, Any]]:
    """``sort=shipment-methods.carrierName,-shipment-methods.defaultNetPrice``."""
    if not sort:
        return resources
    for key in reversed([k.strip() for k in sort.split(",") if k.strip()]):
        descending = key.startswith("-")
        resource, _, attribute = key.lstrip("-").rpartition(".")
        if resource not in (kind, ""):
            continue
        resources = sorted(resources, key=_sort_key(attribute), reverse=descending)
    return resources


def _address_out(cart_id: str, kind: str, address: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": address_id(cart_id, kind),
        **address,
        "isDefaultBilling": False,
        "isDefaultShipping": False,
    }


async def checkout_data_document(
    request: Request,
    work: Work,
    view: CartView,
    include: set[str],
    sort: str | None,
    allowed: frozenset[str] | None = None,
) -> dict[str, Any]:
    runtime = runtime_of(request)
    cart = view.cart
    methods = await runtime.carts.fitting_shipping_methods(work, cart)
    shipments = _sorted([_shipment_resource(request, m) for m in methods], "shipment-methods", sort)
    payment_methods = _sorted(_payment_methods(request, allowed), "payment-methods", sort)
    selected_names = {p["paymentMethodName"] for p in cart.payment_methods}
    selected_shipment = []
    if view.shipping_method is not None:
        m = view.shipping_method
        gross = view.totals.shipping
        selected_shipment.append(
            {
                "id": m.id,
                "name": m.name,
                "carrierName": m.carrier_name,
                "price": gross,
                "taxRate": format_tax_rate(m.tax_rate_bp),
                "deliveryTime": m.delivery_time,
                "defaultGrossPrice": m.price,
                "defaultNetPrice": m.priced(0).net,
                "currencyIsoCode": m.currency,
            }
        )
    addresses = [
        _address_out(cart.id, "shipping" if a is cart.shipping_address else "billing", a)
        for a in stored_addresses(cart).values()
    ]
    attributes = {
        "addresses": addresses,
        "paymentProviders": [],
        "shipmentMethods": [s["attributes"] | {"id": int(s["id"])} for s in shipments],
        "selectedShipmentMethods": selected_shipment,
        "selectedPaymentMethods": [
            {"name": r["attributes"]["paymentMethodName"], **r["attributes"]}
            for r in payment_methods
            if r["attributes"]["paymentMethodName"] in selected_names
        ],
        "totals": {
            "subtotal": view.totals.subtotal,
            "expenseTotal": view.totals.shipping,
            "taxTotal": view.totals.tax,
            "grandTotal": view.totals.grand_total,
            "giftCardTotal": view.totals.gift_cards,
            "priceToPay": view.totals.remaining,
            "currencyIsoCode": cart.currency,
        },
    }
    data: dict[str, Any] = {
        "type": "checkout-data",
        "id": None,
        "attributes": attributes,
        "links": _link(request, "/checkout-data"),
    }
    document: dict[str, Any] = {"data": data}
    included: list[dict[str, Any]] = []
    relationships: dict[str, Any] = {}
    if "payment-methods" in include:
        relationships["payment-methods"] = {
            "data": [{"type": r["type"], "id": r["id"]} for r in payment_methods]
        }
        included += payment_methods
    if "shipment-methods" in include:
        relationships["shipment-methods"] = {
            "data": [{"type": r["type"], "id": r["id"]} for r in shipments]
        }
        included += shipments
    if relationships:
        data["relationships"] = relationships
        document["included"] = included
    return document


def _includes(request: Request) -> set[str]:
    raw = request.query_params.get("include", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _respond(document: dict[str, Any], status: int) -> JSONResponse:
    return JSONResponse(
        document, status_code=status, headers={"Content-Type": JSONAPI, "Content-Language": "en"}
    )


# --- routes ------------------------------------------------------------------------------


@router.post("/checkout-data", summary="Submit checkout data as often as needed (no order)")
async def checkout_data(request: Request, body: CheckoutDataDocument) -> JSONResponse:
    runtime = runtime_of(request)
    try:
        who = await caller(request)
        attributes = body.data.attributes
        who.check_cart(attributes.idCart)

        async def work(w: Work) -> dict[str, Any]:
            view = await runtime.checkout_data.apply(
                w,
                cart_id=attributes.idCart,
                owner=who.owner,
                data=attributes.data(),
                allowed=who.allowed,
            )
            return await checkout_data_document(
                request,
                w,
                view,
                _includes(request),
                request.query_params.get("sort"),
                who.allowed,
            )

        document = await run(request, who.principal, work)
    except DomainError as error:
        return incorrect_data(error)
    return _respond(document, 200)


@router.post("/checkout", summary="Place the order from the cart")
async def checkout(request: Request, body: CheckoutDocument) -> JSONResponse:
    runtime = runtime_of(request)
    try:
        who = await caller(request)
        attributes = body.data.attributes
        who.check_cart(attributes.idCart)
        missing = [
            name
            for name in ("customer", "billingAddress", "shippingAddress", "payments", "shipment")
            if getattr(attributes, name) is None
        ]
        if missing:
            raise DomainError.all_of(
                [InvalidInput(f"{name} is required", field=name) for name in missing]
            )

        async def work(w: Work) -> dict[str, Any]:
            _, changed = await runtime.checkout_data.store(
                w,
                cart_id=attributes.idCart,
                owner=who.owner,
                data=attributes.data(),
                allowed=who.allowed,
            )
            return_url = who.session.metadata.get("merchantReturnUrl") if who.session else None
            placed = await runtime.orders.place(
                w,
                cart_id=attributes.idCart,
                owner=who.owner,
                return_url=return_url,
                allowed=who.allowed,
                recompute=changed,
            )
            data: dict[str, Any] = {
                "type": "checkout",
                "id": None,
                "attributes": {
                    "orderReference": placed.order.reference,
                    "redirectUrl": _absolute(request, placed.redirect.url),
                    "isExternalRedirect": placed.redirect.external or None,
                },
                "links": _link(request, "/checkout"),
            }
            document: dict[str, Any] = {"data": data}
            if "orders" in _includes(request):
                data["relationships"] = {
                    "orders": {"data": [{"type": "orders", "id": placed.order.reference}]}
                }
                document["included"] = [order_resource(request, placed)]
            return document

        document = await run(request, who.principal, work)
    except DomainError as error:
        return incorrect_data(error)
    return _respond(document, 201)


def order_resource(request: Request, placed: Any) -> dict[str, Any]:
    order, view = placed.order, placed.view
    snap = order.snapshot
    totals = snap["totals"]
    items = [
        {
            "name": line["name"],
            "sku": line["sku"],
            "quantity": line["quantity"],
            "unitGrossPrice": line["unitGross"],
            "sumGrossPrice": line["unitGross"] * line["quantity"],
            "taxRate": format_tax_rate(line["taxRateBp"]),
            "unitPrice": line["unitGross"],
            "sumPrice": line["unitGross"] * line["quantity"],
        }
        for line in snap["lineItems"]
    ]
    return {
        "type": "orders",
        "id": order.reference,
        "attributes": {
            "createdAt": order.created_at.isoformat(),
            "totals": {
                "expenseTotal": totals["shipping"],
                "discountTotal": 0,
                "taxTotal": totals["tax"],
                "subtotal": totals["subtotal"],
                "grandTotal": totals["grandTotal"],
                "canceledTotal": 0,
            },
            "currencyIsoCode": order.currency,
            "items": items,
            "expenses": [
                {
                    "type": "SHIPMENT_EXPENSE_TYPE",
                    "sumPrice": totals["shipping"],
                    "sumGrossPrice": totals["shipping"],
                }
            ],
            "billingAddress": snap["billingAddress"],
            "shippingAddress": snap["shippingAddress"],
            "priceMode": "GROSS_MODE",
            "payments": [
                {
                    "amount": p.amount_planned,
                    "paymentProvider": p.provider,
                    "paymentMethod": p.method,
                }
                for p in view.payments
                if p.active
            ],
        },
        "links": _link(request, f"/orders/{order.reference}"),
    }


@router.post(
    "/order-payments",
    status_code=201,
    summary="Confirm an invoice (backend), or acknowledge a provider-confirmed redirect payment",
)
async def order_payments(request: Request, body: OrderPaymentDocument) -> JSONResponse:
    runtime = runtime_of(request)
    attributes = body.data.attributes
    try:
        who = await caller(request)

        async def work(w: Work) -> dict[str, Any]:
            payment_id = await _external_payment_id(w, attributes.paymentIdentifier, who)
            payment = await runtime.orders.confirm_external(
                w,
                payment_id=payment_id,
                owner=who.owner,
                payload=attributes.dataPayload,
                from_server=who.session is None,
                allowed=who.allowed,
            )
            return {
                "data": {
                    "type": "order-payments",
                    "id": payment.id,
                    "attributes": {
                        "paymentIdentifier": attributes.paymentIdentifier,
                        "dataPayload": None,
                    },
                    "links": _link(request, f"/order-payments/{payment.id}"),
                },
                "links": _link(request, f"/order-payments/{payment.id}"),
            }

        document = await run(request, who.principal, work)
    except (NotFound, OrderNotFound, PaymentNotFound) as error:
        return jsonapi_error(error, 404)
    except DomainError as error:
        return incorrect_data(error)
    return _respond(document, 201)


async def _external_payment_id(work: Work, identifier: str | None, who: Caller) -> str:
    """``paymentIdentifier`` is the payment's id or, as the seed suggests, the orderReference;
    without one, a browser means its own order."""

    def visible(cart_id: str) -> bool:
        # Another cart's payment or order looks exactly like one that does not exist.
        return who.session is None or who.session.cart_id == cart_id

    order = None
    if identifier:
        payment = await work.payments.payment(identifier)
        if payment is not None and not payment.is_gift_card and visible(payment.cart_id):
            return payment.id
        order = await work.orders.order_by_reference(identifier)
    elif who.session is not None:
        order = await work.orders.order_by_cart(who.session.cart_id)
    if order is None or not visible(order.cart_id):
        raise OrderNotFound()
    for payment in await work.payments.payments(order.cart_id):
        if payment.active and not payment.is_gift_card:
            return payment.id
    raise PaymentNotFound("the order has no payment waiting for a confirmation")
