"""``POST /checkout``: store the checkout data the document carries and place the order, in
one unit of work; ``include=orders`` adds the order as Glue draws it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tender.api.checkout_deps import page_url, run
from tender.api.compat.spryker import jsonapi
from tender.api.compat.spryker.documents import CheckoutAttributes, CheckoutDocument
from tender.api.compat.spryker.gift_cards import CardsToApply, card_entries, with_cards
from tender.api.compat.spryker.jsonapi import Document
from tender.api.compat.spryker.names import glue_field
from tender.api.compat.spryker.openapi import glue_route
from tender.api.compat.spryker.orders import order_resource
from tender.api.errors import status_for
from tender.api.security import runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.errors import DomainError, InvalidInput, NotFound
from tender.services.orders import Placed

router = APIRouter()
REQUIRED = ("customer", "billingAddress", "shippingAddress", "payments", "shipment")
"""What a checkout document must carry (checkout-data may send any part)."""
INCLUDES = frozenset({"orders"})


def _missing(attributes: CheckoutAttributes) -> list[DomainError]:
    return [
        InvalidInput("{part} is required", field=name, part=name)
        for name in REQUIRED
        if getattr(attributes, name) is None
    ]


def _all_problems(missing: list[DomainError], error: DomainError) -> DomainError:
    """What is missing and what is wrong in what was sent, in one answer; an error that is
    not about the data (an unknown or locked cart) stands alone."""
    if not missing or isinstance(error, NotFound) or status_for(error) not in (400, 422):
        return error
    found = [error, *error.more]
    error.more = []
    return DomainError.all_of(sorted([*missing, *found], key=_document_order))


def _document_order(error: DomainError) -> int:
    """Where the part an error names comes in the seed's document (stable within a part)."""
    head = glue_field(error.field or "").split(".")[0]
    return REQUIRED.index(head) if head in REQUIRED else len(REQUIRED)


@router.post(
    "/checkout",
    status_code=201,
    summary="Place the order from the cart",
    openapi_extra=glue_route(201, "The order, as Glue's checkout answers it.", "include"),
)
async def checkout(request: Request, body: CheckoutDocument) -> Response:
    runtime = runtime_of(request)
    try:
        attributes = body.data.attributes
        who = await jsonapi.cart_caller(request, attributes.idCart)
        jsonapi.check_query(request, include=INCLUDES)
        missing = _missing(attributes)
        entries = card_entries(attributes)

        async def work(w: Work, cards: CardsToApply) -> Placed:
            await jsonapi.reachable(w, attributes.idCart, who)
            try:
                cart, changed = await runtime.checkout_data.store(
                    w,
                    cart_id=attributes.idCart,
                    owner=who.owner,
                    data=attributes.data(),
                    allowed=who.allowed,
                    write=False,
                )
            except DomainError as error:
                raise _all_problems(missing, error) from None
            if missing:
                raise DomainError.all_of(missing)
            added = await cards.apply(w, cart)
            return await runtime.orders.place(
                w,
                cart_id=attributes.idCart,
                owner=who.owner,
                return_url=_return_url(who),
                allowed=who.allowed,
                # New cards cover nothing yet: placing allocates them with the others.
                unsaved=cart if changed or added else None,
            )

        placed = await with_cards(
            request,
            who,
            entries,
            lambda cards: run(request, who.principal, lambda w: work(w, cards)),
        )
    except DomainError as error:
        return jsonapi.incorrect_data(request, error)
    return jsonapi.respond(request, checkout_document(request, placed), 201)


def _return_url(who: jsonapi.Caller) -> str | None:
    """Where the provider sends a browser's shopper back: its session's merchant page."""
    if who.session is None:
        return None
    url = who.session.metadata.get("merchantReturnUrl")
    return url if isinstance(url, str) else None


def checkout_document(request: Request, placed: Placed) -> Document:
    data: Document = {
        "type": "checkout",
        "id": None,
        "attributes": {
            "orderReference": placed.order.reference,
            "redirectUrl": page_url(request, placed.redirect.url),
            "isExternalRedirect": placed.redirect.external or None,
        },
        "links": jsonapi.link(request, "/checkout"),
    }
    document: Document = {"data": data}
    if "orders" in jsonapi.includes(request):
        data["relationships"] = {
            "orders": {"data": [{"type": "orders", "id": placed.order.reference}]}
        }
        document["included"] = [order_resource(request, placed)]
    return document
