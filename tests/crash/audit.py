"""After the crash test: ask the database how many times each operation happened.

Every operation left its id in what it wrote, so each can be counted on its own: cards by
metadata, loads by reference, carts by customer email, orders by reference, and a journey's
reservation, charge and refunds through its payment. Acknowledged and retried operations
must each be there exactly once, the cards must hold exactly what the answered operations put
on them, and every hold must belong to a payment of a placed order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tender.db.engine import Database
from tests.crash.load import Journey, Op
from tests.rows import rows_of

TABLES = (
    "activities",
    "cards",
    "carts",
    "events",
    "holds",
    "orders",
    "payments",
    "payment_transactions",
    "sessions",
)


@dataclass
class Findings:
    lost: list[str] = field(default_factory=list)
    """Operations that got no answer within the retry budget."""
    wrong: list[str] = field(default_factory=list)
    """Operations answered with something other than their first answer."""
    doubled: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    balances: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        parts = []
        for name in ("lost", "wrong", "doubled", "missing", "balances", "holds"):
            items: list[str] = getattr(self, name)
            if items:
                parts.append(f"{name} ({len(items)}):\n  " + "\n  ".join(items[:40]))
        return parts


class Books:
    """The rows of one database, indexed the ways the checks ask."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.cards_by_op = Counter(str((c["metadata"] or {}).get("op")) for c in rows["cards"])
        self.cards = {c["id"]: c for c in rows["cards"]}
        self.loads = Counter(a["reference"] for a in rows["activities"] if a["type"] == "load")
        self.carts_by_email = Counter(c["customer"].get("email") for c in rows["carts"])
        self.orders_by_ref = Counter(o["reference"] for o in rows["orders"])
        self.orders_by_cart = {o["cart_id"]: o for o in rows["orders"]}
        self.payments = {p["id"]: p for p in rows["payments"]}
        self.payments_by_cart = Counter(p["cart_id"] for p in rows["payments"])
        self.sessions_by_cart = Counter(s["cart_id"] for s in rows["sessions"])
        self.holds_by_ref = Counter(h["reference"] for h in rows["holds"])
        self.transactions = Counter(
            (t["payment_id"], t["type"], t["amount"]) for t in rows["payment_transactions"]
        )
        self.charges = Counter(
            t["payment_id"] for t in rows["payment_transactions"] if t["type"] == "Charge"
        )
        self.activities = Counter(
            (a["type"], a["reference"], a["amount"]) for a in rows["activities"]
        )
        self.events = Counter((e["type"], e["object_id"]) for e in rows["events"])


def count_of(books: Books, journey: Journey, op: Op) -> int | None:
    """How many times ``op`` happened, by what it wrote (None: nothing to count it by)."""
    j = journey
    payment = books.payments.get(j.payment_id or "")
    match op.kind:
        case "issue":
            return books.cards_by_op[op.id]
        case "load":
            return books.loads[op.id]
        case "cart":
            return books.carts_by_email[f"{op.id}@crash.example"]
        case "update":
            return books.events[("CartUpdated", j.cart_id)] if j.cart_id else None
        case "add_card":
            return books.payments_by_cart[j.cart_id] if j.cart_id else None
        case "session":
            return books.sessions_by_cart[j.cart_id] if j.cart_id else None
        case "redeem":
            # One payment on the cart and one hold for it: placing must not reserve again.
            paid = books.payments_by_cart[j.cart_id] if j.cart_id else 0
            return max(paid, books.holds_by_ref[j.payment_id]) if j.payment_id else paid
        case "place":
            placed = books.orders_by_ref[op.id]
            held = books.holds_by_ref[j.payment_id] if j.payment_id else placed
            return max(placed, held) if placed else 0
        case "capture" | "complete":
            return books.charges[payment["id"]] if payment else None
        case "refund1" | "refund2":
            if payment is None:
                return None
            amount = j.refunds[int(op.kind[-1]) - 1]
            return books.transactions[(payment["id"], "Refund", amount)]
    return None


def check(books: Books, journeys: list[Journey]) -> Findings:
    found = Findings()
    for j in journeys:
        for op in j.ops:
            if not op.answered:
                found.lost.append(op.describe())
            elif not op.acknowledged:
                found.wrong.append(f"{op.describe()}: {op.status} {op.text}")
            count = count_of(books, j, op)
            if count is None:
                continue
            if count > 1:
                found.doubled.append(f"{op.describe()}: happened {count} times")
            elif count == 0 and op.acknowledged:
                found.missing.append(f"{op.describe()}: acknowledged but not in the database")
        _check_money(books, j, found)
    _check_holds(books, found)
    return found


def _check_money(books: Books, j: Journey, found: Findings) -> None:
    """A finished journey's card holds exactly what its answered operations put on it, and
    its reservation, charge and refunds left one ledger movement each."""
    if not j.finished or j.card_id is None or j.payment_id is None:
        return
    card = books.cards.get(j.card_id)
    expected = j.issued + j.loaded - j.price + sum(j.refunds)
    if card is None or (card["posted"], card["held"]) != (expected, 0):
        state = None if card is None else (card["posted"], card["held"])
        found.balances.append(
            f"{j.prefix}: card {j.card_id} (posted, held) is {state}, expected ({expected}, 0)"
        )
    moves = [("hold", j.price), ("capture", j.price), *(("refund", r) for r in j.refunds)]
    for kind, amount in moves:
        count = books.activities[(kind, j.payment_id, amount)]
        if count != 1:
            found.balances.append(
                f"{j.prefix}: {count} {kind} activities of {amount} for payment "
                f"{j.payment_id}, expected 1"
            )
    order = books.orders_by_cart[j.cart_id or ""]
    events = [("OrderPlaced", order["id"])]
    if j.captured_by == "complete":
        events.append(("OrderCompleted", order["id"]))
    for event in events:
        if books.events[event] != 1:
            found.doubled.append(f"{j.prefix}: {books.events[event]} events {event}, expected 1")


def _check_holds(books: Books, found: Findings) -> None:
    """No hold without the payment that records it and that payment's placed order."""
    for hold in books.rows["holds"]:
        payment = books.payments.get(hold["reference"] or "")
        order = books.orders_by_cart.get(payment["cart_id"]) if payment else None
        if payment is None or payment["hold_ref"] != hold["id"] or order is None:
            found.holds.append(
                f"hold {hold['id']} ({hold['status']}, {hold['amount']}) on card "
                f"{hold['card_id']} has no payment recording it or no order"
            )
        elif hold["status"] == "active" and order["state"] != "Processing":
            found.holds.append(f"hold {hold['id']} is still active on {order['state']} order")


async def audit(url: str, journeys: list[Journey]) -> Findings:
    database = Database(url, pool_size=1)
    try:
        books = Books(await database.read(lambda conn: rows_of(conn, *TABLES)))
    finally:
        await database.dispose()
    return check(books, journeys)
