"""The ceiling for the gift card processor's browser calls: a minimal FastAPI endpoint on raw
asyncpg doing the essential work of tender's ``POST /balance`` and ``POST /redeem`` for one
browser session, against tender's own schema.

Started by ``bench.processor_http`` with uvicorn (``--app-dir bench``, app
``baseline_processor:app``), configured by environment: ``BASELINE_DATABASE_URL`` (plain
``postgresql://``), ``BASELINE_SECRET_KEY`` (tender's ``TENDER_SECRET_KEY``, to hash session ids
and card codes the same way) and ``BASELINE_POOL_SIZE`` (tender's ``TENDER_DB_POOL_SIZE``
default, 10).

It takes the same requests tender takes (``X-Session-Id``, ``Origin`` and the connector's
documents), one round trip per statement, statements prepared by asyncpg's cache:

- balance: the session by the HMAC of its id (the origin checked against its
  ``allowedOrigins``), then the card by the HMAC of its normalised code; answers its balance.
- redeem: the same, then in one transaction: the session's cart ``FOR UPDATE``, what its active
  payments already cover, ``UPDATE cards SET held = held + $1 … WHERE posted - held >= $1
  RETURNING``, then the payment, the hold, the card activity of type ``hold``, the payment's
  ``Authorization`` transaction and one ``GiftCardRedeemed`` event.

That is 2 statements for a balance (tender also counts the lookup against the session's
budget) and 10 for a redemption, with its ``BEGIN`` and ``COMMIT``. A card that no longer
covers the amount rolls everything back and answers 409.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

PAYMENT_WINDOW = timedelta(days=1)
SEPARATORS = re.compile(r"[\s\-._]+")

SESSION = """
SELECT cart_id, owner, metadata, expires_at FROM sessions WHERE token_hash = $1
"""
CARD = """
SELECT id, code_last4, currency, status, posted, held, expires_at FROM cards WHERE code_hash = $1
"""
LOCK_CART = "SELECT locked, currency, line_items FROM carts WHERE id = $1 FOR UPDATE"
COVERED = """
SELECT coalesce(sum(amount_planned), 0), count(*) FROM payments
WHERE cart_id = $1 AND status = 'active'
"""
RESERVE = """
UPDATE cards SET held = held + $2, version = version + 1, updated_at = $4
WHERE id = $1 AND currency = $3 AND status = 'active'
  AND (expires_at IS NULL OR expires_at > $4) AND posted - held >= $2
RETURNING posted, held
"""
INSERT_PAYMENT = """
INSERT INTO payments (id, cart_id, method, provider, status, currency, amount_planned,
                      upper_limit, card_ref, card_last4, hold_ref, position, created_at,
                      updated_at, redeemed)
VALUES ($1, $2, 'giftcard', 'tender-giftcards', 'active', $3, $4, $5, $6, $7, $8, $9, $10, $10,
        true)
"""
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
INSERT_EVENT = """
INSERT INTO events (type, object_type, object_id, owner, payload, correlation_id, created_at)
VALUES ('GiftCardRedeemed', 'cart', $1, $2, $3, NULL, $4)
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


class BalanceRequest(BaseModel):
    code: str
    pin: str | None = None


class Amount(BaseModel):
    centAmount: int  # the connector's spelling
    currencyCode: str


class RedeemRequest(BaseModel):
    code: str
    pin: str | None = None
    redeemAmount: Amount


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("BASELINE_POOL_SIZE", "10"))
    app.state.pool = await asyncpg.create_pool(
        os.environ["BASELINE_DATABASE_URL"], min_size=size, max_size=size
    )
    key = os.environ["BASELINE_SECRET_KEY"].encode()
    app.state.secret_key = hmac.new(key, b"tender/secret", hashlib.sha256).digest()
    app.state.code_key = hmac.new(key, b"tender/card-code", hashlib.sha256).digest()
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


async def session_of(conn: asyncpg.Connection, request: Request, now: datetime) -> asyncpg.Record:
    token = request.headers.get("x-session-id", "")
    digest = hmac.new(request.app.state.secret_key, token.encode(), hashlib.sha256).digest()
    session = await conn.fetchrow(SESSION, digest)
    if session is None or session["expires_at"] <= now:
        raise HTTPException(401, "the session is not valid")
    origin = request.headers.get("origin")
    if origin is not None and origin not in json.loads(session["metadata"])["allowedOrigins"]:
        raise HTTPException(403, "the origin is not allowed")
    return session


async def card_of(conn: asyncpg.Connection, request: Request, code: str) -> asyncpg.Record:
    normalised = SEPARATORS.sub("", code).upper()
    digest = hmac.new(request.app.state.code_key, normalised.encode(), hashlib.sha256).digest()
    card = await conn.fetchrow(CARD, digest)
    if card is None:
        raise HTTPException(404, "no such card")
    return card


@app.post("/balance")
async def balance(body: BalanceRequest, request: Request) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn:
        await session_of(conn, request, now)
        card = await card_of(conn, request, body.code)
    available = card["posted"] - card["held"]
    return {
        "status": {"state": "Valid"},
        "amount": {"centAmount": available, "currencyCode": card["currency"]},
    }


@app.post("/redeem")
async def redeem(body: RedeemRequest, request: Request) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with request.app.state.pool.acquire() as conn:
        session = await session_of(conn, request, now)
        card = await card_of(conn, request, body.code)
        cart_id, owner = session["cart_id"], session["owner"]
        async with conn.transaction():
            cart = await conn.fetchrow(LOCK_CART, cart_id)
            currency = cart["currency"]
            if cart["locked"] or body.redeemAmount.currencyCode != currency:
                raise HTTPException(409, "the cart cannot take this redemption")
            total = sum(line["quantity"] * line["unitGross"] for line in json.loads(cart[2]))
            covered, count = await conn.fetchrow(COVERED, cart_id)
            wanted = min(body.redeemAmount.centAmount, total - covered)
            reserved = await conn.fetchrow(RESERVE, card["id"], wanted, currency, now)
            if wanted <= 0 or reserved is None:
                raise HTTPException(409, "the card or the cart no longer allows it")
            payment_id, hold_id = new_id(), new_id()
            await conn.execute(
                INSERT_PAYMENT, payment_id, cart_id, currency, wanted,
                card["posted"] - card["held"], card["id"], card["code_last4"], hold_id,
                count + 1, now,
            )  # fmt: skip
            await conn.execute(
                INSERT_HOLD, hold_id, card["id"], wanted, currency, payment_id,
                now + PAYMENT_WINDOW, now,
            )  # fmt: skip
            await conn.execute(
                INSERT_ACTIVITY, card["id"], wanted, currency, reserved["posted"],
                reserved["held"], payment_id, owner, hold_id, now,
            )  # fmt: skip
            await conn.execute(
                INSERT_TRANSACTION, new_id(), payment_id, wanted, currency, hold_id, now
            )
            payload = {
                "cartId": cart_id,
                "paymentId": payment_id,
                "card": f"****{card['code_last4']}",
                "amount": wanted,
                "currency": currency,
            }
            await conn.execute(INSERT_EVENT, cart_id, owner, json.dumps(payload), now)
    return {
        "result": "Success",
        "paymentReference": payment_id,
        "redemptionId": hold_id,
        "redeemedAmount": {"centAmount": wanted, "currencyCode": currency},
    }
