"""``POST /operations/payment-intents/{paymentId}``: the connector's capture, refund, cancel and
reverse of a gift card payment, each moving exactly the amount asked on the card; every refusal
in the one error shape, changing nothing; a provider's decline recorded as a ``Failure`` and
answered ``rejected``; racing captures and refunds never move more than was authorized."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tender.domain.money import Money
from tests import rows
from tests.api.conftest import Api, assert_error
from tests.api.journeys import add_card, browser, card, held, ready_cart
from tests.api.operations_setup import (
    INTENTS,
    action,
    api_with_standin,
    audit,
    intent,
    placed_order,
    transactions,
)

SUCCESS = "Success"


async def test_partial_capture_then_refunds_move_exactly_what_is_asked(api: Api) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    payment, card_id = world["payment"], world["card"]["id"]
    assert await held(api, h, card_id) == (10_000, 4_490)

    assert await intent(api, h, payment, action("capturePayment", 3_000)) == {"outcome": "approved"}
    assert await held(api, h, card_id) == (7_000, 0)  # the rest of the hold is released
    assert await transactions(api, h, payment) == [
        ("Authorization", SUCCESS, 4_490),
        ("Charge", SUCCESS, 3_000),
        ("CancelAuthorization", SUCCESS, 1_490),
    ]

    refund = action("refundPayment", 1_000, merchantReference="RMA-1")
    assert await intent(api, h, payment, refund) == {"outcome": "approved"}
    assert await held(api, h, card_id) == (8_000, 0)
    # reverse gives back what is still charged
    assert await intent(api, h, payment, action("reversePayment")) == {"outcome": "approved"}
    assert await held(api, h, card_id) == (10_000, 0)
    assert (await transactions(api, h, payment))[-2:] == [
        ("Refund", SUCCESS, 1_000),
        ("Refund", SUCCESS, 2_000),
    ]
    assert await audit(api) == []
    events = (await api.client.get("/events", headers=h)).json()["results"]
    processed = [e["payload"] for e in events if e["type"] == "PaymentIntentProcessed"]
    assert [(p["action"], p["outcome"], p["reference"]) for p in processed] == [
        ("capture", "approved", None),
        ("refund", "approved", "RMA-1"),
        ("reverse", "approved", None),
    ]


async def test_cancel_and_reverse_release_an_open_authorization(api: Api) -> None:
    h = await api.headers()
    for name in ("cancelPayment", "reversePayment"):
        world = await placed_order(api, h)
        assert await intent(api, h, world["payment"], action(name)) == {"outcome": "approved"}
        assert await held(api, h, world["card"]["id"]) == (10_000, 0)
        assert (await transactions(api, h, world["payment"]))[-1] == (
            "CancelAuthorization",
            SUCCESS,
            4_490,
        )
        # nothing is left to capture, cancel or reverse
        for again in (action("capturePayment", 100), action("cancelPayment"), action(name)):
            response = await api.client.post(f"{INTENTS}/{world['payment']}", json=again, headers=h)
            assert_error(response, 409, "PaymentTransactionRefused")
    assert await audit(api) == []


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (action("capturePayment", 4_490), 409, "PaymentTransactionRefused", None),  # twice
        (action("cancelPayment"), 409, "PaymentTransactionRefused", None),  # after capture
        (action("refundPayment", 4_491), 422, "RefundExceedsCapture", "actions.0.amount"),
        (action("refundPayment", 100, "USD"), 422, "CurrencyMismatch", None),
        (action("refundPayment", 100, "EURO"), 400, "InvalidCurrency", None),
        (action("refundPayment", 0), 400, "InvalidAmount", "actions.0.amount.centAmount"),
        (action("refundPayment", -5), 400, "InvalidAmount", "actions.0.amount.centAmount"),
        (action("refundPayment", 100, transactionId=str(uuid.uuid4())), 404, None, None),
        (action("refundPayment"), 400, "MissingField", "actions.0.amount"),
        (action("capturePayment"), 400, "MissingField", "actions.0.amount"),
        (
            action("cancelPayment", merchantReference="x" * 201),
            400,
            "InvalidField",
            "actions.0.merchantReference",
        ),
        (
            {"actions": [{"action": "capturePayment", "amount": {"centAmount": 1.5}}]},
            400,
            "InvalidField",
            "actions.0.amount.centAmount",
        ),
        (action("voidPayment"), 400, "InvalidField", "actions.0"),
        ({"actions": []}, 400, "InvalidField", "actions"),
        ({"actions": action("cancelPayment")["actions"] * 2}, 400, "InvalidField", "actions"),
        ({}, 400, "MissingField", "actions"),
        ({"actions": [{"amount": {"centAmount": 1}}]}, 400, "InvalidField", "actions.0"),
        ({**action("cancelPayment"), "extra": 1}, 400, "InvalidField", "extra"),
        (action("cancelPayment", flavour="x"), 400, "InvalidField", None),
    ],
)
async def test_refusals_change_nothing(
    api: Api, body: Any, status: int, code: str | None, field: str | None
) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    captured = await intent(api, h, world["payment"], action("capturePayment", 4_490))
    assert captured == {"outcome": "approved"}
    before = await rows.snapshot(api.runtime.db)
    response = await api.client.post(f"{INTENTS}/{world['payment']}", json=body, headers=h)
    error = assert_error(response, status, code)
    if field is not None:
        assert error["errors"][0]["field"] == field, error
    if code == "CurrencyMismatch":
        assert error["errors"][0]["field"] == "actions.0.amount.currencyCode", error
    assert await rows.snapshot(api.runtime.db) == before


async def test_capture_checks_amount_currency_and_state(api: Api) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    payment = world["payment"]
    wrong_digits = action("capturePayment", 100)
    wrong_digits["actions"][0]["amount"]["fractionDigits"] = 3
    before = await rows.snapshot(api.runtime.db)
    for body, status, code in (
        (action("capturePayment", 4_491), 422, "CaptureExceedsAuthorization"),
        (action("capturePayment", 100, "USD"), 422, "CurrencyMismatch"),
        (wrong_digits, 400, "InvalidAmount"),
        (action("refundPayment", 100), 409, "PaymentTransactionRefused"),  # nothing captured
        (action("capturePayment"), 400, "MissingField"),
    ):
        response = await api.client.post(f"{INTENTS}/{payment}", json=body, headers=h)
        assert_error(response, status, code)
    assert await rows.snapshot(api.runtime.db) == before
    # a refund may name the charge it gives back
    await intent(api, h, payment, action("capturePayment", 4_490))
    (charge,) = [
        t
        for t in (await api.client.get(f"/payments/{payment}", headers=h)).json()["transactions"]
        if t["type"] == "Charge"
    ]
    named = action("refundPayment", 490, transactionId=charge["id"])
    assert await intent(api, h, payment, named) == {"outcome": "approved"}


async def test_amounts_in_commercetools_money_form_are_taken(api: Api) -> None:
    """commercetools sends its ``Money`` whole: ``type`` and ``fractionDigits`` beside the
    amount. A capture and a refund in that form move money like any other; a ``type`` other
    than ``centPrecision`` (high precision money has no minor units to move) is refused."""
    h = await api.headers()
    world = await placed_order(api, h)
    payment = world["payment"]
    typed = {"type": "centPrecision", "fractionDigits": 2}
    precise = action("capturePayment", 100)
    precise["actions"][0]["amount"].update(type="highPrecision", fractionDigits=2)
    before = await rows.snapshot(api.runtime.db)
    response = await api.client.post(f"{INTENTS}/{payment}", json=precise, headers=h)
    assert_error(response, 400, "InvalidField")
    assert await rows.snapshot(api.runtime.db) == before

    capture = action("capturePayment", 4_490)
    capture["actions"][0]["amount"].update(typed)
    assert await intent(api, h, payment, capture) == {"outcome": "approved"}
    refund = action("refundPayment", 490)
    refund["actions"][0]["amount"].update(typed)
    assert await intent(api, h, payment, refund) == {"outcome": "approved"}
    assert (await transactions(api, h, payment))[-2:] == [
        ("Charge", SUCCESS, 4_490),
        ("Refund", SUCCESS, 490),
    ]


async def test_unknown_foreign_and_unplaced_payments(api: Api) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    other = await api.headers()  # another merchant client
    cart = await ready_cart(api, h, unit=1_000)
    gift = await card(api, h, 5_000)
    unplaced = (await add_card(api, h, cart["id"], gift["code"]))["payment"]["id"]
    before = await rows.snapshot(api.runtime.db)
    body = action("capturePayment", 100)
    for payment, headers, status, code in (
        (str(uuid.uuid4()), h, 404, "PaymentNotFound"),
        ("not-a-payment", h, 404, "PaymentNotFound"),
        (world["payment"], other, 404, "PaymentNotFound"),
        (unplaced, h, 409, "PaymentNotInOrder"),
    ):
        response = await api.client.post(f"{INTENTS}/{payment}", json=body, headers=headers)
        assert_error(response, status, code)
    refund = await api.client.post(
        f"{INTENTS}/{unplaced}", json=action("refundPayment", 100), headers=h
    )
    assert_error(refund, 409, "PaymentNotInOrder")
    assert await rows.snapshot(api.runtime.db) == before


async def test_who_may_send_payment_intents(api: Api) -> None:
    """The scope is required; a narrower token, no token, and a browser session are refused. A
    merchant-admin JWT that carries the scope is accepted, as on every scoped route."""
    h = await api.headers()
    world = await placed_order(api, h)
    url = f"{INTENTS}/{world['payment']}"
    body = action("capturePayment", 1_000)
    session = await browser(api, h, (await ready_cart(api, h, unit=100))["id"])
    narrow = await api.headers("manage_orders manage_payments view_sessions")
    before = await rows.snapshot(api.runtime.db)
    assert_error(await api.client.post(url, json=body, headers=narrow), 403, "insufficient_scope")
    no_scope_jwt = {"Authorization": f"Bearer {api.admin_jwt('manage_orders')}"}
    assert_error(await api.client.post(url, json=body, headers=no_scope_jwt), 403)
    assert_error(await api.client.post(url, json=body), 401)
    assert_error(await api.client.post(url, json=body, headers=session), 401)
    as_bearer = {"Authorization": f"Bearer {session['X-Session-Id']}"}
    assert_error(await api.client.post(url, json=body, headers=as_bearer), 401, "invalid_token")
    assert_error(await api.client.post(url, content=b"{", headers=narrow), 403)  # auth first
    assert await rows.snapshot(api.runtime.db) == before
    admin = {"Authorization": f"Bearer {api.admin_jwt('manage_checkout_payment_intents')}"}
    assert await intent(api, admin, world["payment"], body) == {"outcome": "approved"}


async def test_a_declined_movement_is_a_recorded_failure(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_with_standin(db, monkeypatch) as (api, plan):
        h = await api.headers()
        world = await placed_order(api, h)
        payment, card_id = world["payment"], world["card"]["id"]
        plan.decline = {"capture"}
        rejected = await intent(api, h, payment, action("capturePayment", 3_000))
        assert rejected == {"outcome": "rejected"}
        assert await held(api, h, card_id) == (10_000, 4_490)  # nothing moved
        assert await transactions(api, h, payment) == [
            ("Authorization", SUCCESS, 4_490),
            ("Charge", "Failure", 3_000),
        ]
        plan.decline = set()
        assert await intent(api, h, payment, action("capturePayment", 3_000)) == {
            "outcome": "approved"
        }
        plan.decline = {"refund"}
        assert await intent(api, h, payment, action("reversePayment")) == {"outcome": "rejected"}
        assert await held(api, h, card_id) == (7_000, 0)
        assert (await transactions(api, h, payment))[-1] == ("Refund", "Failure", 3_000)
        assert [c for c in plan.calls if c[0] != "reserve"] == [
            ("capture", Money(3_000, "EUR")),
            ("capture", Money(3_000, "EUR")),
            ("refund", Money(3_000, "EUR")),
        ]
        events = (await api.client.get("/events", headers=h)).json()["results"]
        outcomes = [
            e["payload"]["outcome"] for e in events if e["type"] == "PaymentIntentProcessed"
        ]
        assert outcomes == ["rejected", "approved", "rejected"]
        assert await audit(api) == []


async def test_an_idempotent_capture_is_applied_once(api: Api) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    keyed = {**h, "Idempotency-Key": "capture-1"}
    first = await intent(api, keyed, world["payment"], action("capturePayment", 1_000))
    second = await intent(api, keyed, world["payment"], action("capturePayment", 1_000))
    assert first == second == {"outcome": "approved"}
    assert await held(api, h, world["card"]["id"]) == (9_000, 0)


async def test_racing_captures_and_refunds_move_money_once(api: Api) -> None:
    h = await api.headers()
    world = await placed_order(api, h)
    url = f"{INTENTS}/{world['payment']}"

    async def send(body: Any) -> int:
        response = await api.client.post(url, json=body, headers=h)
        assert response.status_code < 500, response.text
        return response.status_code

    captures = await asyncio.gather(*(send(action("capturePayment", 3_000)) for _ in range(8)))
    assert sorted(captures) == [200] + [409] * 7
    refunds = await asyncio.gather(*(send(action("refundPayment", 1_000)) for _ in range(8)))
    assert sorted(refunds) == [200] * 3 + [409] * 5  # 3 000 captured, 1 000 each
    assert await held(api, h, world["card"]["id"]) == (10_000, 0)
    assert await audit(api) == []
    kinds = [t[0] for t in await transactions(api, h, world["payment"])]
    assert kinds.count("Charge") == 1
    assert kinds.count("Refund") == 3


async def test_a_lapsed_reservation_spent_elsewhere_is_rejected_by_the_ledger(api: Api) -> None:
    """No stand-in: the ledger itself declines. The order's reservation lapsed (the payment
    window passed and the sweep released it) and the card's money went to another order, so
    the capture cannot take it again: rejected, recorded as a failed charge, nothing moved."""
    client = await api.new_client()

    async def login() -> dict[str, str]:
        response = await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=client
        )
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    world = await placed_order(api, await login())
    api.clock.advance(hours=25)
    h = await login()  # the same merchant client, a day later
    runtime = api.runtime
    swept = await runtime.db.transaction(
        lambda conn: runtime.ledger.sweep_expired_holds(runtime.work(conn, actor=None).ledger)
    )
    assert swept == 1
    other = await ready_cart(api, h, unit=9_510)  # 95.10 + 4.90 shipping: the whole card
    await add_card(api, h, other["id"], world["card"]["code"])
    placed = await api.client.post("/orders", json={"cartId": other["id"]}, headers=h)
    assert placed.status_code == 201, placed.text
    assert await held(api, h, world["card"]["id"]) == (10_000, 10_000)

    answer = await intent(api, h, world["payment"], action("capturePayment", 4_490))
    assert answer == {"outcome": "rejected"}
    assert await held(api, h, world["card"]["id"]) == (10_000, 10_000)
    assert (await transactions(api, h, world["payment"]))[-1] == ("Charge", "Failure", 4_490)
    assert await audit(api) == []


async def test_a_capture_on_a_worker_whose_clock_is_behind_still_ends_the_authorization(
    api: Api,
) -> None:
    """Workers' clocks differ: a capture written by one two seconds behind the worker that
    placed the order is still the payment's later transaction. Sorted by its own clock it came
    first, and the captured authorization looked open: completing failed and a cancel was
    approved for money no longer held."""
    h = await api.headers()
    world = await placed_order(api, h)
    payment = world["payment"]
    api.clock.advance(seconds=-2)
    assert await intent(api, h, payment, action("capturePayment", 4490)) == {"outcome": "approved"}
    assert [t[0] for t in await transactions(api, h, payment)] == ["Authorization", "Charge"]
    done = await api.client.post(f"/orders/{world['order']['id']}/complete", headers=h)
    assert done.status_code == 200, done.text
    refused = await api.client.post(
        f"/operations/payment-intents/{payment}", json=action("cancelPayment"), headers=h
    )
    assert_error(refused, 409)
    assert await audit(api) == []


async def test_a_charge_refunded_once_cannot_be_named_again(api: Api) -> None:
    """A refund naming a charge is held to what is left of that charge, not to what it took:
    the order reopened and placed again has a second charge, which naming the first (refunded
    in full) once more would have refunded."""
    h = await api.headers()
    world = await placed_order(api, h)
    order, payment = world["order"]["id"], world["payment"]
    assert await intent(api, h, payment, action("capturePayment", 4490)) == {"outcome": "approved"}
    found = (await api.client.get(f"/payments/{payment}", headers=h)).json()["transactions"]
    (first,) = [t["id"] for t in found if t["type"] == "Charge"]
    named = action("refundPayment", 1000, transactionId=first)
    assert await intent(api, h, payment, named) == {"outcome": "approved"}
    rest = action("refundPayment", 3490, transactionId=first)
    assert await intent(api, h, payment, rest) == {"outcome": "approved"}
    assert (await api.client.post(f"/orders/{order}/reopen", headers=h)).status_code == 200
    placed = await api.client.post("/orders", json={"cartId": world["order"]["cartId"]}, headers=h)
    assert placed.status_code == 201, placed.text
    assert (await api.client.post(f"/orders/{order}/complete", headers=h)).status_code == 200
    again = await api.client.post(f"{INTENTS}/{payment}", json=named, headers=h)
    assert_error(again, 409)
    refunds = [t for t in await transactions(api, h, payment) if t[0] == "Refund"]
    assert [t[2] for t in refunds] == [1000, 3490]
    assert await audit(api) == []
