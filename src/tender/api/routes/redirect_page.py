"""The redirect payment **simulator**: a development stand-in for a provider's hosted page.

Anyone who opens the page can press "Pay" and the payment counts as authorized, exactly as if
the provider's signed callback had arrived; so these routes are mounted only when the
simulator is on (``TENDER_ENV=development``, or ``TENDER_REDIRECT_SIMULATOR=true`` outside
production, which refuses it at start-up). Paying sends the shopper back to the session's
``merchantReturnUrl``, whose page then posts to ``/order-payments`` to acknowledge it.
In production a provider confirms through ``POST /redirect-payments/{id}/callback`` instead.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.api.middleware import correlation_id
from tender.api.security import runtime_of
from tender.domain.money import Money
from tender.domain.payments import Payment, PaymentNotFound

router = APIRouter(tags=["redirect payment simulator"], include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
SIMULATOR = "simulator:redirect"
"""The actor recorded for what the simulator does."""


@dataclass(frozen=True, slots=True)
class Pending:
    payment: Payment
    reference: str
    return_url: str | None


async def _pending(request: Request, payment_id: str) -> Pending:
    runtime = runtime_of(request)
    if not runtime.settings.redirect_simulator_on:
        raise PaymentNotFound()  # mounted by mistake: still nothing to see or press

    async def work(conn: AsyncConnection) -> Pending:
        w = runtime.work(conn, actor=None)
        payment = await w.payments.payment(payment_id)
        if payment is None or payment.method != runtime.redirect_method.name:
            raise PaymentNotFound()
        order = await w.orders.order_by_cart(payment.cart_id)
        if not payment.awaiting_confirmation or order is None:
            raise PaymentNotFound("the payment is not waiting for the shopper")
        session = await w.sessions.latest_session(payment.cart_id)
        return_url = session.metadata.get("merchantReturnUrl") if session else None
        return Pending(payment, order.reference, return_url)

    return await runtime.db.read(work)


@router.get("/redirect-payments/{payment_id}")
async def payment_page(request: Request, payment_id: str) -> Response:
    pending = await _pending(request, payment_id)
    amount = Money(pending.payment.amount_planned, pending.payment.currency)
    action = html.escape(f"/redirect-payments/{payment_id}/pay")
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Pay (simulator)</title>"
        "<p><strong>Payment simulator</strong>: for development only; no money moves.</p>"
        f"<h1>Order {html.escape(pending.reference)}</h1>"
        f"<p>Amount: <strong>{html.escape(str(amount))}</strong></p>"
        f'<form method="post" action="{action}"><button>Pay</button></form>',
        headers=NO_STORE,
    )


@router.post("/redirect-payments/{payment_id}/pay")
async def pay(request: Request, payment_id: str) -> Response:
    """Plays the provider: authorizes the payment as its signed callback would, then sends the
    shopper back. The return URL carries no secret; it only tells the page which order."""
    runtime = runtime_of(request)
    pending = await _pending(request, payment_id)
    payment = pending.payment
    corr = correlation_id.get()
    await runtime.db.transaction(
        lambda conn: runtime.orders.provider_confirmation(
            runtime.work(conn, actor=SIMULATOR, correlation_id=corr),
            payment_id=payment.id,
            authorized=True,
            amount=Money(payment.amount_planned, payment.currency),
            provider_reference="simulator",
        )
    )
    query = urlencode({"paymentIdentifier": pending.reference, "type": "payment-confirmation"})
    target = str(pending.return_url or "")
    if target.startswith(("https://", "http://")):
        return RedirectResponse(f"{target}{'&' if '?' in target else '?'}{query}", 303)
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><title>Paid (simulator)</title>"
        "<p>Paid (simulated). Acknowledge it with /order-payments:</p>"
        f"<pre>{html.escape(query)}</pre>",
        headers=NO_STORE,
    )
