"""Redeemed cards and cards added through checkout are one list of payments on the cart. Over
HTTP, on SQLite and PostgreSQL: placing (tender's ``/orders`` and Spryker's ``/checkout``)
keeps a redemption's hold and reserves the other cards only for what remains; reallocation
never changes a redeemed amount; reopening releases it; completing captures it once (an
immediately captured one not again); the ledger audit stays clean throughout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tender.domain.redemption import CaptureMode
from tests.api.conftest import Api, assert_error
from tests.api.journeys import add_card, card, choose_payment_method, glue_checkout, update_cart
from tests.api.processor import Shop, gift_payments, open_shop, transactions


def euros(cents: int) -> dict[str, Any]:
    return {"centAmount": cents, "currencyCode": "EUR"}


async def redeemed_and_added(api: Api) -> tuple[Shop, dict[str, Any], dict[str, Any]]:
    """A 44.90 cart: 20.00 redeemed from one card by the page, a second card of 50.00 added
    by the merchant's backend after it (it covers the 24.90 left)."""
    shop = await open_shop(api)
    redeemed = await card(api, shop.h, 3000)
    added = await card(api, shop.h, 5000)
    assert (await shop.redeem(redeemed["code"], 2000)).json()["result"] == "Success"
    await add_card(api, shop.h, shop.cart["id"], added["code"])
    cart = await shop.current()
    assert [p["amountPlanned"]["centAmount"] for p in gift_payments(cart)] == [2000, 2490]
    assert cart["totals"]["remaining"]["centAmount"] == 0
    return shop, redeemed, added


async def place(shop: Shop) -> dict[str, Any]:
    placed = await shop.api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
    assert placed.status_code == 201, placed.text
    return placed.json()  # type: ignore[no-any-return]


async def transition(shop: Shop, order: dict[str, Any], name: str) -> dict[str, Any]:
    response = await shop.api.client.post(f"/orders/{order['id']}/{name}", headers=shop.h)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_placing_keeps_the_redemption_and_completing_captures_it(api: Api) -> None:
    shop, redeemed, added = await redeemed_and_added(api)
    order = await place(shop)
    assert await shop.held(redeemed) == (3000, 2000)
    assert await shop.held(added) == (5000, 2490)
    assert await shop.holds_taken(redeemed) == 1  # not reserved a second time
    first, second = gift_payments(order)
    assert transactions(first) == [("Authorization", "Success", 2000)]
    assert transactions(second) == [("Authorization", "Success", 2490)]
    done = await transition(shop, order, "complete")
    assert done["state"] == "Completed"
    first, second = gift_payments(done)
    assert transactions(first)[1:] == [("Charge", "Success", 2000)]
    assert transactions(second)[1:] == [("Charge", "Success", 2490)]
    assert await shop.held(redeemed) == (1000, 0)
    assert await shop.held(added) == (2510, 0)
    assert await shop.audit() == []


async def test_reallocation_never_changes_a_redeemed_amount(api: Api) -> None:
    shop, redeemed, added = await redeemed_and_added(api)
    cart = await shop.current()
    # The total grows and shrinks: only the added card follows it.
    bigger = await update_cart(
        api,
        shop.h,
        cart,
        {"action": "changeLineItemQuantity", "lineItemId": line(cart), "quantity": 2},
    )
    assert [p["amountPlanned"]["centAmount"] for p in gift_payments(bigger)] == [2000, 5000]
    smaller = await update_cart(
        api,
        shop.h,
        bigger,
        {"action": "changeLineItemQuantity", "lineItemId": line(bigger), "quantity": 1},
    )
    assert [p["amountPlanned"]["centAmount"] for p in gift_payments(smaller)] == [2000, 2490]
    assert await shop.held(redeemed) == (3000, 2000)
    assert await shop.held(added) == (5000, 0)
    # The page cannot drop a redeemed card while its money is held.
    payment_id = gift_payments(smaller)[0]["id"]
    refused = await api.client.post(
        f"/carts/{shop.cart['id']}/giftcards/{payment_id}/remove", headers=shop.h
    )
    assert_error(refused, 409, "RedeemedPaymentKept")
    assert await shop.audit() == []


def line(cart: dict[str, Any]) -> str:
    return str(cart["lineItems"][0]["id"])


async def test_reopening_releases_the_redemption_and_placing_again_reserves_it(
    api: Api,
) -> None:
    shop, redeemed, added = await redeemed_and_added(api)
    order = await place(shop)
    reopened = await transition(shop, order, "reopen")
    assert reopened["state"] == "Checkout"
    assert await shop.held(redeemed) == (3000, 0)
    assert await shop.held(added) == (5000, 0)
    cart = await shop.current()
    assert [p["amountPlanned"]["centAmount"] for p in gift_payments(cart)] == [2000, 2490]
    first = gift_payments(cart)[0]
    assert transactions(first) == [
        ("Authorization", "Success", 2000),
        ("CancelAuthorization", "Success", 2000),
    ]
    again = await place(shop)
    assert await shop.held(redeemed) == (3000, 2000)
    assert await shop.holds_taken(redeemed) == 2
    done = await transition(shop, again, "complete")
    charged = [t for p in gift_payments(done) for t in transactions(p) if t[0] == "Charge"]
    assert charged == [("Charge", "Success", 2000), ("Charge", "Success", 2490)]
    assert await shop.held(redeemed) == (1000, 0)
    assert await shop.audit() == []


async def test_an_immediate_capture_is_not_captured_again(api: Api) -> None:
    api.runtime.redemptions.capture = CaptureMode.IMMEDIATE
    shop, redeemed, added = await redeemed_and_added(api)
    assert await shop.held(redeemed) == (1000, 0)  # taken when redeemed
    (first, _) = gift_payments(await shop.current())
    assert transactions(first) == [("Charge", "Success", 2000)]
    order = await place(shop)
    assert await shop.holds_taken(redeemed) == 1
    reopened = await transition(shop, order, "reopen")  # a charge is not a hold: it stays
    assert await shop.held(redeemed) == (1000, 0)
    assert transactions(gift_payments(reopened)[0]) == [("Charge", "Success", 2000)]
    done = await transition(shop, await place(shop), "complete")
    first, second = gift_payments(done)
    assert transactions(first) == [("Charge", "Success", 2000)]
    assert [t for t in transactions(second) if t[0] == "Charge"] == [("Charge", "Success", 2490)]
    assert await shop.held(redeemed) == (1000, 0)
    assert await shop.held(added) == (2510, 0)
    assert await shop.audit() == []


async def test_spryker_checkout_keeps_the_redemption(api: Api) -> None:
    shop = await open_shop(api)
    redeemed = await card(api, shop.h, 3000)
    added = await card(api, shop.h, 1000)
    assert (await shop.redeem(redeemed["code"], 2500)).json()["result"] == "Success"
    await add_card(api, shop.h, shop.cart["id"], added["code"])
    placed = await glue_checkout(api, shop.h, shop.cart["id"], shop.shipping, "invoice")
    order = (await api.client.get(f"/orders/{placed['orderReference']}", headers=shop.h)).json()
    assert order["state"] == "Processing"
    assert await shop.held(redeemed) == (3000, 2500)
    assert await shop.held(added) == (1000, 1000)
    assert await shop.holds_taken(redeemed) == 1
    invoice = [p for p in order["payments"] if p["paymentMethod"] == "invoice"]
    assert [p["amountPlanned"]["centAmount"] for p in invoice] == [4490 - 2500 - 1000]
    assert await shop.audit() == []


async def test_spryker_checkout_then_completion_captures_each_card_once(api: Api) -> None:
    shop = await open_shop(api)
    redeemed = await card(api, shop.h, 3000)
    added = await card(api, shop.h, 5000)
    assert (await shop.redeem(redeemed["code"], 2500)).json()["result"] == "Success"
    await add_card(api, shop.h, shop.cart["id"], added["code"])
    placed = await glue_checkout(api, shop.h, shop.cart["id"], shop.shipping, "giftcard")
    order = (await api.client.get(f"/orders/{placed['orderReference']}", headers=shop.h)).json()
    assert [p["paymentMethod"] for p in order["payments"]] == ["giftcard", "giftcard"]
    done = await transition(shop, order, "complete")
    charged = [t for p in gift_payments(done) for t in transactions(p) if t[0] == "Charge"]
    assert charged == [("Charge", "Success", 2500), ("Charge", "Success", 1990)]
    assert await shop.held(redeemed) == (500, 0)
    assert await shop.held(added) == (3010, 0)
    assert await shop.holds_taken(redeemed) == 1
    assert await shop.audit() == []


async def test_cancelling_the_order_gives_an_immediate_redemption_back(api: Api) -> None:
    api.runtime.redemptions.capture = CaptureMode.IMMEDIATE
    shop, redeemed, added = await redeemed_and_added(api)
    order = await place(shop)
    cancelled = await transition(shop, order, "cancel")
    assert cancelled["state"] == "Cancelled"
    first, second = gift_payments(cancelled)
    assert transactions(first) == [("Charge", "Success", 2000), ("Refund", "Success", 2000)]
    assert [t[0] for t in transactions(second)] == ["Authorization", "CancelAuthorization"]
    assert await shop.held(redeemed) == (3000, 0)
    assert await shop.held(added) == (5000, 0)
    assert await shop.audit() == []


@pytest.mark.parametrize("capture", ["authorize", "immediate"])
async def test_a_redemption_that_brings_less_than_its_share_stops_reopening(
    api: Api, capture: str
) -> None:
    """Placing keeps a redemption as it is, so reopening may keep one whose money is taken;
    but not once part of it was refunded (or only part captured): placed again, the order
    would have counted the whole 20.00 with 5.00 behind it, and sent nobody to pay the rest.
    The merchant refunds the rest first; the card is then an ordinary one, reserved again."""
    api.runtime.redemptions.capture = CaptureMode(capture)
    shop, redeemed, _ = await redeemed_and_added(api)
    order = await place(shop)
    payment = gift_payments(order)[0]["id"]
    intents = f"/operations/payment-intents/{payment}"
    if capture == "authorize":
        first = {"actions": [{"action": "capturePayment", "amount": euros(500)}]}
    else:
        first = {"actions": [{"action": "refundPayment", "amount": euros(1500)}]}
    answer = await api.client.post(intents, json=first, headers=shop.h)
    assert answer.json() == {"outcome": "approved"}, answer.text
    assert await shop.held(redeemed) == (2500, 0)  # 5.00 of the 20.00 taken

    refused = await api.client.post(f"/orders/{order['id']}/reopen", headers=shop.h)
    assert_error(refused, 409, "PaymentCaptured")
    assert (await api.client.get(f"/orders/{order['id']}", headers=shop.h)).json()[
        "state"
    ] == "Processing"

    rest = {"actions": [{"action": "refundPayment", "amount": euros(500)}]}
    answer = await api.client.post(intents, json=rest, headers=shop.h)
    assert answer.json() == {"outcome": "approved"}, answer.text
    await transition(shop, order, "reopen")
    again = await place(shop)
    assert await shop.held(redeemed) == (3000, 2000)  # reserved again, like any card
    assert sum(p["amountPlanned"]["centAmount"] for p in gift_payments(again)) == 4490
    assert await shop.audit() == []


@pytest.mark.parametrize("capture", ["authorize", "immediate"])
async def test_a_redemption_given_back_before_placing_leaves_the_cart(
    api: Api, capture: str
) -> None:
    """The connector's merchant side may cancel (or reverse) a redemption whose cart is not
    placed yet: the money goes back to the card, the payment leaves the cart, and the rest is
    open again. Capturing or refunding it still waits for the order."""
    api.runtime.redemptions.capture = CaptureMode(capture)
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    redeemed = (await shop.redeem(gift["code"], 2000)).json()
    payment = redeemed["paymentReference"]
    intents = "/operations/payment-intents"
    capture_first = {"actions": [{"action": "capturePayment", "amount": euros(2000)}]}
    refused = await api.client.post(f"{intents}/{payment}", json=capture_first, headers=shop.h)
    assert_error(refused, 409, "PaymentNotInOrder")

    give_back = {"actions": [{"action": "reversePayment", "merchantReference": "abandoned"}]}
    answer = await api.client.post(f"{intents}/{payment}", json=give_back, headers=shop.h)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "approved"}
    assert await shop.held(gift) == (3000, 0)
    cart = await shop.current()
    assert gift_payments(cart)[0]["status"] == "removed"
    assert cart["totals"]["remaining"]["centAmount"] == 4490
    kind = "Authorization" if capture == "authorize" else "Charge"
    back = "CancelAuthorization" if capture == "authorize" else "Refund"
    assert transactions(gift_payments(cart)[0]) == [
        (kind, "Success", 2000),
        (back, "Success", 2000),
    ]
    again = await api.client.post(f"{intents}/{payment}", json=give_back, headers=shop.h)
    assert_error(again, 409)
    assert await shop.audit() == []
    # the card can pay again, on this cart or another
    assert (await shop.redeem(gift["code"], 2000)).json()["result"] == "Success"


@pytest.mark.parametrize("capture", ["authorize", "immediate"])
async def test_a_redemption_given_back_on_a_reopened_order_is_not_taken_again(
    api: Api, capture: str
) -> None:
    """A reopened order's cart is open again: a redemption made there and given back by the
    merchant leaves the cart as before placing, and placing again does not take it back."""
    api.runtime.redemptions.capture = CaptureMode(capture)
    shop = await open_shop(api)
    gift = await card(api, shop.h, 5000)
    await choose_payment_method(api, shop.h, shop.cart["id"], "invoice")
    order = await place(shop)  # the invoice pays for it all
    await transition(shop, order, "reopen")
    payment = (await shop.redeem(gift["code"], 2000)).json()["paymentReference"]
    give_back = {"actions": [{"action": "reversePayment", "merchantReference": "changed mind"}]}
    answer = await api.client.post(
        f"/operations/payment-intents/{payment}", json=give_back, headers=shop.h
    )
    assert answer.json() == {"outcome": "approved"}, answer.text
    assert await shop.held(gift) == (5000, 0)
    assert gift_payments(await shop.current())[0]["status"] == "removed"
    await place(shop)
    assert await shop.held(gift) == (5000, 0)  # not reserved, nor charged, again
    assert await shop.audit() == []


async def test_a_redemption_whose_hold_lapsed_is_reserved_again_by_placing(api: Api) -> None:
    """A page redeemed the card, the order was placed only after the hold's time ran out:
    placing takes the money again (the overdue hold is expired first, so its money counts),
    rather than placing an order on a hold that no longer holds anything."""
    api.runtime.redemptions.payment_window = timedelta(minutes=30)
    shop = await open_shop(api)  # 44.90
    gift = await card(api, shop.h, 5000)
    assert (await shop.redeem(gift["code"], 4490)).json()["result"] == "Success"
    api.clock.advance(minutes=31)  # past the reservation's time; the sweep has not run
    order = await place(shop)
    assert await shop.held(gift) == (5000, 4490)
    assert await shop.holds_taken(gift) == 2
    first = transactions(gift_payments(order)[0])
    assert first == [
        ("Authorization", "Success", 4490),
        ("CancelAuthorization", "Success", 4490),
        ("Authorization", "Success", 4490),
    ]
    done = await transition(shop, order, "complete")
    assert done["state"] == "Completed"
    assert await shop.held(gift) == (510, 0)
    assert await shop.audit() == []


async def test_a_redemption_whose_hold_lapsed_and_was_spent_stops_placing(api: Api) -> None:
    api.runtime.redemptions.payment_window = timedelta(minutes=30)
    shop = await open_shop(api)
    gift = await card(api, shop.h, 5000)
    assert (await shop.redeem(gift["code"], 4490)).json()["result"] == "Success"
    api.clock.advance(minutes=31)
    await api.runtime.db.transaction(
        lambda c: api.runtime.ledger.sweep_expired_holds(api.runtime.work(c, actor=None).ledger)
    )
    elsewhere = await open_shop(api)
    assert (await elsewhere.redeem(gift["code"], 4490)).json()["result"] == "Success"
    refused = await api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
    assert_error(refused, 409, "GiftCardShortfall")
    assert await shop.held(gift) == (5000, 4490)  # the other cart's hold alone
    cart = await shop.current()
    assert transactions(gift_payments(cart)[0]) == [("Authorization", "Success", 4490)]
    assert await shop.audit() == []


@pytest.mark.parametrize("route", ["intent", "merchant"])
async def test_a_kept_redemption_is_refunded_whole_or_not_at_all_in_checkout(
    api: Api, route: str
) -> None:
    """Reopening keeps a redemption that brings its whole share, and placing again counts
    that share: a refund of part of it in between would have the order placed as paid with
    the card bringing less (found only at completing). In part it is refused; in full it is
    taken, and placing takes the card again like any other."""
    api.runtime.redemptions.capture = CaptureMode.IMMEDIATE
    shop = await open_shop(api)  # 44.90
    gift = await card(api, shop.h, 10_000)
    redeemed = (await shop.redeem(gift["code"], 4490)).json()
    payment = redeemed["paymentReference"]
    placed = await api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
    assert placed.status_code == 201, placed.text
    reopened = await api.client.post(f"/orders/{placed.json()['id']}/reopen", headers=shop.h)
    assert reopened.status_code == 200, reopened.text

    async def refund(minor: int) -> Any:
        if route == "intent":
            body = {"actions": [{"action": "refundPayment", "amount": euros(minor)}]}
            path = f"/operations/payment-intents/{payment}"
            return await api.client.post(path, json=body, headers=shop.h)
        body = {"amount": {"centAmount": minor, "currency": "EUR"}}
        return await api.client.post(f"/payments/{payment}/refund", json=body, headers=shop.h)

    assert_error(await refund(1000), 409)
    assert (await refund(4490)).status_code == 200
    again = await api.client.post("/orders", json={"cartId": shop.cart["id"]}, headers=shop.h)
    assert again.status_code == 201, again.text
    (taken,) = gift_payments(again.json())
    assert taken["amountPlanned"]["centAmount"] == 4490
