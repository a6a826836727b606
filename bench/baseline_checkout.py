"""The ceiling for placing an order: a minimal FastAPI endpoint on raw asyncpg doing the essential
work of tender's ``POST /checkout`` for one cart with two gift cards, against tender's own schema.

Started by ``bench.checkout_http`` with uvicorn (``--app-dir bench``, app
``baseline_checkout:app``), configured by environment: ``BASELINE_DATABASE_URL`` (plain
``postgresql://``), ``BASELINE_SECRET_KEY`` (tender's ``TENDER_SECRET_KEY``, to check the bearer
token the same way) and ``BASELINE_POOL_SIZE`` (tender's ``TENDER_DB_POOL_SIZE`` default, 10).

It takes the same request tender takes (the Spryker checkout document; only ``idCart`` is read)
and, in one transaction, one round trip per statement, statements prepared by asyncpg's cache:

1. the bearer token's client (tender checks it too, in a transaction of its own);
2. the cart with its shipping method, ``FOR UPDATE OF carts``, owned by that client, unlocked;
3. the cart's gift card payments, in position order;
4. per card, in card id order: ``UPDATE cards SET held = held + $amount … WHERE id = $id AND
   posted - held >= $amount … RETURNING posted, held`` (two statements);
5. ``executemany`` of the payments' hold references, the holds, the card activities of type
   ``hold`` and the payments' ``Authorization`` transactions (four statements; a hold moves no
   money, so tender writes no ledger entry for it either);
6. the order (with the snapshot tender keeps), the cart marked locked, one ``OrderPlaced`` event.

That is 12 statements and a commit, against tender's 19. Answers 201 ``{"orderReference",
"orderId"}``; a card that no longer covers its share rolls everything back and answers 409.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

HOLD_TTL = timedelta(days=1)
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

TOKEN = """
SELECT t.client_id FROM access_tokens t JOIN api_clients c ON c.client_id = t.client_id
WHERE t.token_hash = $1 AND t.expires_at > $2 AND c.active
"""
LOCK_CART = """
SELECT c.id, c.owner, c.locked, c.currency, c.customer, c.line_items, c.shipping_address,
       c.billing_address, c.shipping_method_id, s.price, s.free_above, s.tax_rate_bp
FROM carts c LEFT JOIN shipping_methods s ON s.id = c.shipping_method_id
WHERE c.id = $1 FOR UPDATE OF c
"""
PAYMENTS = """
SELECT id, card_ref, amount_planned, currency FROM payments
WHERE cart_id = $1 AND method = 'giftcard' AND status = 'active' AND amount_planned > 0
ORDER BY position
"""
RESERVE = """
UPDATE cards SET held = held + $2, version = version + 1, updated_at = $4
WHERE id = $1 AND currency = $3 AND status = 'active'
  AND (expires_at IS NULL OR expires_at > $4) AND posted - held >= $2
RETURNING posted, held
"""
SET_HOLD_REF = "UPDATE payments SET hold_ref = $2, updated_at = $3 WHERE id = $1"
INSERT_HOLD = """
INSERT INTO holds (id, card_id, amount, currency, reference, status, expires_at,
                   captured_amount, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'active', $6, 0, $7, $7)
"""
INSERT_ACTIVITY = """
INSERT INTO activities (card_id, type, amount, currency, posted_after, held_after, reference,
                        actor, hold_id, created_at)
VALUES ($1, 'hold', $2, $3, $4, $5, $6, $7, $8, $9)
"""
INSERT_TRANSACTION = """
INSERT INTO payment_transactions (id, payment_id, type, state, amount, currency,
                                  interaction_id, error_code, created_at, updated_at)
VALUES ($1, $2, 'Authorization', 'Success', $3, $4, $5, NULL, $6, $6)
"""
INSERT_ORDER = """
INSERT INTO orders (id, reference, cart_id, owner, state, version, currency, snapshot,
                    grand_total, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'Processing', 1, $5, $6, $7, $8, $8)
"""
LOCK = "UPDATE carts SET locked = true, version = version + 1, updated_at = $2 WHERE id = $1"
INSERT_EVENT = """
INSERT INTO events (type, object_type, object_id, owner, payload, correlation_id, created_at)
VALUES ('OrderPlaced', 'order', $1, $2, $3, NULL, $4)
"""

_last_id = 0


def new_id() -> str:
    """A UUIDv7 (time-ordered, as tender's ids, so the primary keys grow at one end)."""
    global _last_id
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big") >> 6
    value = max(value, _last_id + 1)
    _last_id = value
    value = (value & ~(0xF << 76)) | 0x7 << 76
    value = (value & ~(0b11 << 62)) | 0b10 << 62
    return str(uuid.UUID(int=value))


class Attributes(BaseModel):
    idCart: str  # Spryker's spelling


class Data(BaseModel):
    attributes: Attributes


class CheckoutDocument(BaseModel):
    data: Data


def totals(cart: asyncpg.Record, lines: list[dict[str, Any]]) -> dict[str, int]:
    subtotal = sum(line["quantity"] * line["unitGross"] for line in lines)
    tax = sum(
        round(
            line["quantity"] * line["unitGross"] * line["taxRateBp"] / (10000 + line["taxRateBp"])
        )
        for line in lines
    )
    shipping = 0
    if cart["price"] is not None:
        free = cart["free_above"] is not None and subtotal >= cart["free_above"]
        shipping = 0 if free else cart["price"]
        tax += round(shipping * cart["tax_rate_bp"] / (10000 + cart["tax_rate_bp"]))
    grand = subtotal + shipping
    return {
        "subtotal": subtotal,
        "shipping": shipping,
        "net": grand - tax,
        "tax": tax,
        "grand": grand,
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("BASELINE_POOL_SIZE", "10"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BASELINE_DATABASE_URL"], min_size=size, max_size=size
    )
    key = os.environ["BASELINE_SECRET_KEY"].encode()
    app.state.token_key = hmac.new(key, b"tender/secret", hashlib.sha256).digest()
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/checkout", status_code=201)
async def checkout(document: CheckoutDocument, request: Request) -> dict[str, str]:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        raise HTTPException(401, "a bearer token is needed")
    token_hash = hmac.new(request.app.state.token_key, auth[7:].encode(), hashlib.sha256).digest()
    cart_id = document.data.attributes.idCart
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        client = await conn.fetchval(TOKEN, token_hash, now)
        if client is None:
            raise HTTPException(401, "the token is not valid")
        owner = f"client:{client}"
        cart = await conn.fetchrow(LOCK_CART, cart_id)
        if cart is None or cart["owner"] != owner:
            raise HTTPException(404, "no such cart")
        if cart["locked"]:
            raise HTTPException(409, "the cart is already placed")
        lines = json.loads(cart["line_items"])
        sums = totals(cart, lines)
        payments = await conn.fetch(PAYMENTS, cart_id)
        if sum(p["amount_planned"] for p in payments) != sums["grand"]:
            raise HTTPException(422, "the gift cards do not cover the order exactly")
        holds, activities, transactions, hold_refs = [], [], [], []
        for p in sorted(payments, key=lambda p: p["card_ref"]):
            amount, currency = p["amount_planned"], p["currency"]
            card = await conn.fetchrow(RESERVE, p["card_ref"], amount, currency, now)
            if card is None:
                raise HTTPException(409, f"gift card of payment {p['id']} no longer covers it")
            hold_id = new_id()
            holds.append((hold_id, p["card_ref"], amount, currency, p["id"], now + HOLD_TTL, now))
            activities.append(
                (p["card_ref"], amount, currency, card["posted"], card["held"], p["id"], owner,
                 hold_id, now)
            )  # fmt: skip
            transactions.append((new_id(), p["id"], amount, currency, hold_id, now))
            hold_refs.append((p["id"], hold_id, now))
        await conn.executemany(SET_HOLD_REF, hold_refs)
        await conn.executemany(INSERT_HOLD, holds)
        await conn.executemany(INSERT_ACTIVITY, activities)
        await conn.executemany(INSERT_TRANSACTION, transactions)
        order_id = new_id()
        reference = "TND-" + "".join(secrets.choice(ALPHABET) for _ in range(10))
        snapshot = {
            "lineItems": [{k: v for k, v in line.items() if k != "id"} for line in lines],
            "customer": json.loads(cart["customer"]),
            "shippingAddress": json.loads(cart["shipping_address"] or "null"),
            "billingAddress": json.loads(cart["billing_address"] or "null"),
            "shippingMethodId": cart["shipping_method_id"],
            "totals": {
                "subtotal": sums["subtotal"],
                "shipping": sums["shipping"],
                "net": sums["net"],
                "tax": sums["tax"],
                "grandTotal": sums["grand"],
                "giftCards": sums["grand"],
                "remaining": 0,
            },
        }
        await conn.execute(
            INSERT_ORDER,
            order_id,
            reference,
            cart_id,
            owner,
            cart["currency"],
            json.dumps(snapshot),
            sums["grand"],
            now,
        )
        await conn.execute(LOCK, cart_id, now)
        payload = {"orderReference": reference, "state": "Processing", "grandTotal": sums["grand"]}
        await conn.execute(INSERT_EVENT, order_id, owner, json.dumps(payload), now)
    return {"orderReference": reference, "orderId": order_id}
