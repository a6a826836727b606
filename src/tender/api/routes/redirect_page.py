"""The payment page the ``redirect`` method sends shoppers to.

It stands in for an external payment provider's hosted page, so the whole redirect flow works
without a third party: the page shows the amount; paying sends the shopper back to the
session's ``merchantReturnUrl`` with a confirmation signed for this payment only, which the
page then posts to ``/order-payments``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.api.security import runtime_of
from tender.domain.money import Money
from tender.domain.orders import TransactionState, TransactionType
from tender.domain.payments import Payment, PaymentNotFound

router = APIRouter(tags=["redirect payment page"], include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class Pending:
    payment: Payment
    reference: str
    return_url: str | None


async def _pending(request: Request, payment_id: str) -> Pending:
    runtime = runtime_of(request)

    async def work(conn: AsyncConnection) -> Pending:
        store = runtime.work(conn, actor=None).store
        payment = await store.payment(payment_id)
        if payment is None or payment.method != runtime.redirect_method.name:
            raise PaymentNotFound()
        waiting = any(
            t.type is TransactionType.AUTHORIZATION and t.state is TransactionState.PENDING
            for t in payment.transactions
        )
        order = await store.order_by_cart(payment.cart_id)
        if not waiting or order is None:
            raise PaymentNotFound("the payment is not waiting for the shopper")
        session = await store.latest_session(payment.cart_id)
        return_url = session.metadata.get("merchantReturnUrl") if session else None
        return Pending(payment, order.reference, return_url)

    return await runtime.db.read(work)


@router.get("/redirect-payments/{payment_id}")
async def payment_page(request: Request, payment_id: str) -> Response:
    pending = await _pending(request, payment_id)
    amount = Money(pending.payment.amount_planned, pending.payment.currency)
    action = html.escape(f"/redirect-payments/{payment_id}/pay")
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Pay</title>"
        f"<h1>Order {html.escape(pending.reference)}</h1>"
        f"<p>Amount: <strong>{html.escape(str(amount))}</strong></p>"
        f'<form method="post" action="{action}"><button>Pay</button></form>',
        headers=NO_STORE,
    )


@router.post("/redirect-payments/{payment_id}/pay")
async def pay(request: Request, payment_id: str) -> Response:
    runtime = runtime_of(request)
    pending = await _pending(request, payment_id)
    query = urlencode(
        {
            "paymentIdentifier": pending.reference,
            "type": "payment-confirmation",
            "hash": runtime.redirect_method.signature(pending.payment),
        }
    )
    target = str(pending.return_url or "")
    if target.startswith(("https://", "http://")):
        return RedirectResponse(f"{target}{'&' if '?' in target else '?'}{query}", 303)
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Paid</title>"
        f"<p>Paid. Post this confirmation to /order-payments:</p><pre>{html.escape(query)}</pre>",
        headers=NO_STORE,
    )
