"""Holes 1 and 7 of issue 8: payment methods are enforced on every browser route, a redirect
payment is confirmed only by its provider's signed server-to-server callback, and the redirect
simulator (on which anyone can "pay") never runs in production."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tender.config import Environment, InsecureSettings, Settings
from tender.db.engine import Database
from tender.runtime import Runtime
from tests.api.conftest import SECRET, Api, assert_error
from tests.api.journeys import (
    browser,
    card,
    checkout_document,
    choose_payment_method,
    glue_checkout,
    order_payment,
    ready_cart,
    shipping_method,
)
from tests.api.payment_setup import (
    PROVIDER_SECRET,
    PROVIDER_URL,
    WITH_PROVIDER,
    api_with,
    callback_body,
    signed,
)


def jsonapi_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Spryker routes keep JSON:API's ``status`` and ``detail`` on each error."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status
    assert body["errors"][0]["code"] == code, body
    for item in body["errors"]:
        assert item["status"] == str(status)
        assert item["detail"] == item["message"]
    return body


def method_names(document: dict[str, Any]) -> list[str]:
    return [
        r["attributes"]["paymentMethodName"]
        for r in document.get("included", [])
        if r["type"] == "payment-methods"
    ]


async def a_shop(api: Api, unit: int = 100_010) -> tuple[dict[str, str], int, dict[str, Any]]:
    """The merchant's headers, a shipping method and a ready cart of ``unit`` + 4.90."""
    h = await api.headers()
    shipping = await shipping_method(api, h)
    return h, shipping, await ready_cart(api, h, unit=unit, shipping=shipping)


async def cart_of(api: Api, h: dict[str, str], cart_id: str) -> dict[str, Any]:
    return (await api.client.get(f"/carts/{cart_id}", headers=h)).json()  # type: ignore[no-any-return]


async def payment_of(api: Api, h: dict[str, str], payment_id: str) -> dict[str, Any]:
    return (await api.client.get(f"/payments/{payment_id}", headers=h)).json()  # type: ignore[no-any-return]


def auth_states(payment: dict[str, Any]) -> list[str]:
    return [t["state"] for t in payment["transactions"] if t["type"] == "Authorization"]


async def callback(
    api: Api, payment_id: str, body: dict[str, Any], **options: Any
) -> httpx.Response:
    raw, headers = signed(api, body, **options)
    return await api.client.post(
        f"/redirect-payments/{payment_id}/callback", content=raw, headers=headers
    )


# --- hole 1 ----------------------------------------------------------------------------------


async def test_a_session_allowing_only_invoice_cannot_select_or_place_redirect(
    db: Database,
) -> None:
    """As reproduced against ``make run`` (development, so the simulator offers redirect)."""
    async with api_with(db, env=Environment.DEVELOPMENT) as api:
        h, shipping, cart = await a_shop(api)
        page = await browser(api, h, cart["id"], allowedPaymentMethods=["invoice"])
        before = await cart_of(api, h, cart["id"])

        placed = await api.client.post(
            "/checkout",
            json=checkout_document("checkout", cart["id"], shipping, "redirect"),
            headers=page,
        )
        body = jsonapi_error(placed, 422, "PaymentMethodNotAllowed")
        assert body["errors"][0]["field"] == "payments"
        selected = await api.client.post(
            "/checkout-data?include=payment-methods",
            json=checkout_document("checkout-data", cart["id"], shipping, "redirect"),
            headers=page,
        )
        jsonapi_error(selected, 422, "PaymentMethodNotAllowed")
        after = await cart_of(api, h, cart["id"])
        assert after["paymentMethods"] == before["paymentMethods"] == []
        assert (after["locked"], after["version"]) == (False, before["version"])
        assert (await api.client.get("/orders", headers=h)).json()["results"] == []

        # Only what the session allows is offered to its page; the backend sees everything.
        offered = await api.client.post(
            "/checkout-data?include=payment-methods",
            json=checkout_document("checkout-data", cart["id"], shipping, "invoice"),
            headers=page,
        )
        assert offered.status_code == 200, offered.text
        assert method_names(offered.json()) == ["invoice"]
        everything = await api.client.post(
            "/checkout-data?include=payment-methods",
            json=checkout_document("checkout-data", cart["id"], shipping, "invoice"),
            headers=h,
        )
        assert method_names(everything.json()) == ["giftcard", "invoice", "redirect"]
        gift = await card(api, h, 1_000)
        refused = await api.client.post(
            "/session/giftcards", json={"code": gift["code"]}, headers=page
        )
        assert_error(refused, 422, "PaymentMethodNotAllowed")


async def test_the_browser_cannot_confirm_its_own_redirect_payment(db: Database) -> None:
    """The whole chain of hole 1 with a real provider configured: nothing the browser holds
    or posts marks the order paid; only the provider's signed callback does."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, shipping, cart = await a_shop(api)  # 1,005.00 EUR
        page = await browser(api, h, cart["id"], allowedPaymentMethods=["redirect"])
        placed = await api.client.post(
            "/checkout",
            json=checkout_document("checkout", cart["id"], shipping, "redirect"),
            headers=page,
        )
        assert placed.status_code == 201, placed.text
        attributes = placed.json()["data"]["attributes"]
        reference = attributes["orderReference"]
        url = httpx.URL(attributes["redirectUrl"])
        assert url.host == "pay.example"  # the provider's page, not tender's
        assert url.params["amount"] == "100500"
        payment_id = url.path.rsplit("/", 1)[1]

        # The simulator does not exist here.
        assert_error(await api.client.get(f"/redirect-payments/{payment_id}"), 404)
        assert_error(await api.client.post(f"/redirect-payments/{payment_id}/pay"), 404)
        # Anything the browser can send to /order-payments only learns that it must wait
        # (Glue's 422, "order payment is not updated"; tender's own route says 409).
        for identifier in (reference, payment_id):
            for payload in (
                [{"type": "payment-confirmation"}],
                [{"type": "payment-confirmation", "hash": "0" * 64}],
                [{"type": "payment-confirmation", "status": "authorized", "paymentId": payment_id}],
            ):
                answer = await api.client.post(
                    "/order-payments", json=order_payment(identifier, payload), headers=page
                )
                jsonapi_error(answer, 422, "PaymentAwaitingProvider")
        # Nor can the merchant's backend confirm it for the provider.
        assert_error(
            await api.client.post(
                f"/payments/{payment_id}/confirm",
                json={"dataPayload": [{"type": "payment-confirmation"}]},
                headers=h,
            ),
            409,
            "PaymentAwaitingProvider",
        )
        assert_error(
            await api.client.post(f"/orders/{reference}/complete", headers=h),
            409,
            "PaymentNotAuthorized",
        )
        order = (await api.client.get(f"/orders/{reference}", headers=h)).json()
        assert order["state"] == "Processing"
        assert not [
            t for p in order["payments"] for t in p["transactions"] if t["type"] == "Charge"
        ]

        # The provider's signed callback confirms; then the page's acknowledgement succeeds.
        confirmed = await callback(api, payment_id, callback_body(payment_id, 100_500))
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json() == {
            "paymentId": payment_id,
            "status": "authorized",
            "transactionState": "Success",
        }
        acknowledged = await api.client.post(
            "/order-payments",
            json=order_payment(reference, [{"type": "payment-confirmation"}]),
            headers=page,
        )
        assert acknowledged.status_code == 201, acknowledged.text
        completed = await api.client.post(f"/orders/{reference}/complete", headers=h)
        assert completed.status_code == 200, completed.text
        charges = [
            (t["state"], t["amount"]["centAmount"])
            for p in completed.json()["payments"]
            for t in p["transactions"]
            if t["type"] == "Charge"
        ]
        assert charges == [("Success", 100_500)]


async def test_a_session_may_only_acknowledge_methods_it_allows(db: Database) -> None:
    async with api_with(db, **WITH_PROVIDER) as api:
        h, shipping, cart = await a_shop(api)
        placed = await glue_checkout(api, h, cart["id"], shipping, "redirect")
        reference = placed["orderReference"]
        page = await browser(api, h, cart["id"], allowedPaymentMethods=["invoice"])
        answer = await api.client.post(
            "/order-payments",
            json=order_payment(reference, [{"type": "payment-confirmation"}]),
            headers=page,
        )
        jsonapi_error(answer, 422, "PaymentMethodNotAllowed")


async def test_without_provider_or_simulator_redirect_is_not_offered(
    api: Api, db: Database
) -> None:
    h, shipping, cart = await a_shop(api)
    listed = await api.client.post(
        "/checkout-data?include=payment-methods",
        json=checkout_document("checkout-data", cart["id"], shipping, "invoice"),
        headers=h,
    )
    assert method_names(listed.json()) == ["giftcard", "invoice"]
    for path, kind in (("/checkout-data", "checkout-data"), ("/checkout", "checkout")):
        refused = await api.client.post(
            path, json=checkout_document(kind, cart["id"], shipping, "redirect"), headers=h
        )
        body = jsonapi_error(refused, 422, "PaymentMethodNotAllowed")
        assert body["errors"][0]["field"] == "payments"
        assert "redirect is not available" in body["errors"][0]["message"]

    # tender's own cart API keeps the same rule.
    current = await cart_of(api, h, cart["id"])
    refused = await api.client.post(
        f"/carts/{cart['id']}",
        json={
            "version": current["version"],
            "actions": [{"action": "setPaymentMethod", "paymentMethod": "redirect"}],
        },
        headers=h,
    )
    body = assert_error(refused, 422, "PaymentMethodNotAllowed")
    assert body["errors"][0]["field"] == "paymentMethod"
    assert "redirect is not available" in body["errors"][0]["message"]

    # Chosen while the merchant offered redirect, refused at placing once it no longer does.
    async with api_with(db, **WITH_PROVIDER) as offering:
        await choose_payment_method(offering, h, cart["id"], "redirect")
    body = assert_error(
        await api.client.post("/orders", json={"cartId": cart["id"]}, headers=h),
        422,
        "PaymentMethodNotAllowed",
    )
    assert body["errors"][0]["field"] == "paymentMethods"
    assert (await cart_of(api, h, cart["id"]))["locked"] is False
    # Neither the simulator nor a callback exists.
    missing = await api.client.post(
        "/redirect-payments/00000000-0000-7000-8000-000000000000/callback", json={}
    )
    assert_error(missing, 404)


# --- hole 7 ----------------------------------------------------------------------------------


async def pending_redirect(api: Api) -> tuple[dict[str, str], str]:
    h, shipping, cart = await a_shop(api)
    placed = await glue_checkout(api, h, cart["id"], shipping, "redirect")
    url = httpx.URL(placed["redirectUrl"])
    return h, url.path.rstrip("/").rsplit("/", 1)[1]


async def test_the_simulator_is_off_in_production(db: Database) -> None:
    async with api_with(db, env=Environment.PRODUCTION, **WITH_PROVIDER) as api:
        h, payment_id = await pending_redirect(api)
        assert_error(await api.client.get(f"/redirect-payments/{payment_id}"), 404)
        assert_error(await api.client.post(f"/redirect-payments/{payment_id}/pay"), 404)
        assert auth_states(await payment_of(api, h, payment_id)) == ["Pending"]


async def test_the_simulator_is_off_unless_development_or_switched_on(db: Database) -> None:
    async with api_with(db, **WITH_PROVIDER) as api:  # TENDER_ENV=test
        _, payment_id = await pending_redirect(api)
        assert_error(await api.client.get(f"/redirect-payments/{payment_id}"), 404)
    async with api_with(db, env=Environment.DEVELOPMENT) as api:
        h, payment_id = await pending_redirect(api)
        page = await api.client.get(f"/redirect-payments/{payment_id}")
        assert page.status_code == 200
        assert "simulator" in page.text
        paid = await api.client.post(f"/redirect-payments/{payment_id}/pay")
        assert paid.status_code == 200, paid.text
        assert "hash" not in paid.text
        assert auth_states(await payment_of(api, h, payment_id)) == ["Success"]


def test_production_refuses_the_simulator_at_start_up(db: Database) -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        database_url=db.url,
        secret_key=SECRET,
        redirect_simulator=True,
    )
    with pytest.raises(InsecureSettings, match="TENDER_REDIRECT_SIMULATOR"):
        Runtime(settings)


# --- the provider's callback -----------------------------------------------------------------


async def test_callbacks_without_a_valid_fresh_signature_change_nothing(db: Database) -> None:
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id = await pending_redirect(api)
        session = await browser(api, h, (await payment_of(api, h, payment_id))["cartId"])
        good = callback_body(payment_id, 100_500)
        raw = json.dumps(good).encode()
        path = f"/redirect-payments/{payment_id}/callback"
        valid_raw, valid = signed(api, good)

        refusals = [
            await api.client.post(path, content=raw, headers={"Content-Type": "application/json"}),
            await api.client.post(
                path, content=raw, headers={**valid, "X-Tender-Signature": "sha256=" + "0" * 64}
            ),
            await api.client.post(
                path, content=raw, headers={**valid, "X-Tender-Signature": "not-a-signature"}
            ),
            # the same body signed with what a browser holds: its session id, the payment id
            await callback(api, payment_id, good, secret=session["X-Session-Id"]),
            await callback(api, payment_id, good, secret=payment_id),
            # a signed body with another amount or status: the signature no longer matches
            await api.client.post(
                path,
                content=json.dumps(callback_body(payment_id, 1)).encode(),
                headers=valid,
            ),
            await api.client.post(
                path,
                content=json.dumps(callback_body(payment_id, 100_500, "failed")).encode(),
                headers=valid,
            ),
            # stale, from the future, or not a time at all
            await callback(api, payment_id, good, age=301),
            await callback(api, payment_id, good, age=-301),
            await api.client.post(path, content=raw, headers={**valid, "X-Tender-Timestamp": "x"}),
        ]
        for response in refusals:
            assert_error(response, 401, "InvalidSignature")
        assert valid_raw == raw
        assert auth_states(await payment_of(api, h, payment_id)) == ["Pending"]

        # Validly signed but wrong: another payment's id in the body, another amount.
        other = await callback(api, payment_id, callback_body("someone-else", 100_500))
        assert_error(other, 400, "InvalidInput")
        short = await callback(api, payment_id, callback_body(payment_id, 100))
        body = assert_error(short, 422, "PaymentConfirmationRefused")
        assert "1005.00 EUR" in body["errors"][0]["message"]
        garbage, garbage_headers = signed(api, b'{"paymentId": ')
        assert_error(await api.client.post(path, content=garbage, headers=garbage_headers), 400)
        assert auth_states(await payment_of(api, h, payment_id)) == ["Pending"]

        # Within the tolerance, the valid callback confirms; a provider's retry changes nothing.
        ok = await callback(api, payment_id, good, age=299)
        assert ok.status_code == 200, ok.text
        again = await callback(api, payment_id, good)
        assert again.status_code == 200, again.text
        assert auth_states(await payment_of(api, h, payment_id)) == ["Success"]
        contrary = await callback(api, payment_id, callback_body(payment_id, 100_500, "failed"))
        assert_error(contrary, 409)
        events = (await api.client.get("/events?limit=500", headers=h)).json()["results"]
        authorized = [e for e in events if e["type"] == "PaymentAuthorized"]
        assert len(authorized) == 1
        assert authorized[0]["payload"]["by"] == "provider"
        assert authorized[0]["payload"]["providerReference"] == "psp-4711"


async def test_a_declined_payment_fails_and_the_order_cannot_complete(db: Database) -> None:
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id = await pending_redirect(api)
        declined = await callback(api, payment_id, callback_body(payment_id, 100_500, "failed"))
        assert declined.status_code == 200, declined.text
        assert declined.json()["transactionState"] == "Failure"
        payment = await payment_of(api, h, payment_id)
        assert auth_states(payment) == ["Failure"]
        refused = await api.client.post(f"/orders/{payment['orderId']}/complete", headers=h)
        message = assert_error(refused, 409, "PaymentsShortOfTotal")["errors"][0]["message"]
        assert payment_id in message


@pytest.mark.parametrize("end", ["cancel", "reopen"])
async def test_money_the_provider_took_after_the_order_ended_is_kept_for_the_merchant(
    db: Database, end: str
) -> None:
    """The shopper paid at the provider after the merchant cancelled the order (or sent it
    back to checkout). Refused with 409, the provider delivered the report for ever and nobody
    learned of the money it held; now it is answered 200 and kept: a CancelAuthorization to do
    at the provider, one event, the authorization still failed and the order as it was; the
    merchant, having cancelled it there, marks it done with the payment's cancel."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id = await pending_redirect(api)
        order_id = (await payment_of(api, h, payment_id))["orderId"]
        await moved(api, h, order_id, end)
        order_before = (await api.client.get(f"/orders/{order_id}", headers=h)).json()
        first = await callback(api, payment_id, callback_body(payment_id, 100_500))
        assert first.status_code == 200, first.text
        again = await callback(api, payment_id, callback_body(payment_id, 100_500))
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        declined_late = await callback(
            api, payment_id, callback_body(payment_id, 100_500, "failed")
        )
        assert declined_late.status_code == 200, declined_late.text

        payment = await payment_of(api, h, payment_id)
        assert auth_states(payment) == ["Failure"]
        (asked,) = [t for t in payment["transactions"] if t["type"] == "CancelAuthorization"]
        assert asked["state"] == "Initial"
        assert asked["amount"]["centAmount"] == 100_500
        order = (await api.client.get(f"/orders/{order_id}", headers=h)).json()
        for unchanged in ("state", "version", "grandTotal", "snapshot", "lastModifiedAt"):
            assert order[unchanged] == order_before[unchanged], unchanged
        events = (await api.client.get("/events?limit=500", headers=h)).json()["results"]
        (late,) = [e for e in events if e["type"] == "PaymentAuthorizedAfterCancel"]
        assert late["payload"]["paymentId"] == payment_id
        assert late["payload"]["providerReference"] == "psp-4711"
        assert late["payload"]["amount"] == {"centAmount": 100_500, "currency": "EUR"}
        assert not [e for e in events if e["type"] == "PaymentAuthorized"]

        # The merchant cancelled it at the provider and says so: once.
        made = await api.client.post(f"/payments/{payment_id}/cancel", headers=h)
        assert made.status_code == 200, made.text
        (done,) = [t for t in made.json()["transactions"] if t["type"] == "CancelAuthorization"]
        assert (done["id"], done["state"]) == (asked["id"], "Success")
        assert_error(await api.client.post(f"/payments/{payment_id}/cancel", headers=h), 409)
        events = (await api.client.get("/events?limit=500", headers=h)).json()["results"]
        (changed,) = [e for e in events if e["type"] == "PaymentTransactionChanged"]
        assert changed["payload"]["transactionId"] == asked["id"]
        assert changed["payload"]["state"] == "Success"
        assert auth_states(await payment_of(api, h, payment_id)) == ["Failure"]
        # A delivery after that asks for nothing again.
        late_again = await callback(api, payment_id, callback_body(payment_id, 100_500))
        assert late_again.status_code == 200, late_again.text
        payment = await payment_of(api, h, payment_id)
        (still,) = [t for t in payment["transactions"] if t["type"] == "CancelAuthorization"]
        assert still["state"] == "Success"


async def confirmed_redirect(api: Api) -> tuple[dict[str, str], str, str]:
    """A placed order's redirect payment of 1,005.00 the provider confirmed: the merchant's
    headers, the payment's id and the order's."""
    h, payment_id = await pending_redirect(api)
    order_id = (await payment_of(api, h, payment_id))["orderId"]
    confirmed = await callback(api, payment_id, callback_body(payment_id, 100_500))
    assert confirmed.status_code == 200, confirmed.text
    return h, payment_id, order_id


async def moved(api: Api, h: dict[str, str], order_id: str, step: str) -> None:
    """The order moved by ``POST /orders/{id}/{step}`` (reopen, cancel, complete)."""
    response = await api.client.post(f"/orders/{order_id}/{step}", headers=h)
    assert response.status_code == 200, response.text


def of_type(payment: dict[str, Any], kind: str) -> list[tuple[str, int]]:
    return [
        (t["state"], t["amount"]["centAmount"])
        for t in payment["transactions"]
        if t["type"] == kind
    ]


@pytest.mark.parametrize("end", ["cancel", "reopen"])
async def test_an_authorization_the_provider_holds_is_only_asked_back_when_the_order_ends(
    db: Database, end: str
) -> None:
    """tender cannot call a redirect provider: ending an order whose payment it confirmed asks
    for the cancellation (``Initial``) instead of recording it made, as it does for money
    reported after the end; the merchant cancels at the provider and marks it made, once."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id, order_id = await confirmed_redirect(api)
        await moved(api, h, order_id, end)
        payment = await payment_of(api, h, payment_id)
        assert auth_states(payment) == ["Success"]
        assert of_type(payment, "CancelAuthorization") == [("Initial", 100_500)]
        if end == "reopen":  # placed again, the old payment is no longer the order's to take
            cart_id = (await api.client.get(f"/orders/{order_id}", headers=h)).json()["cartId"]
            again = await api.client.post("/orders", json={"cartId": cart_id}, headers=h)
            assert again.status_code == 201, again.text
            assert_error(await api.client.post(f"/payments/{payment_id}/capture", headers=h), 409)
            await moved(api, h, order_id, "reopen")
            # and cancelled from checkout after that: asked once still
            await moved(api, h, order_id, "cancel")
            payment = await payment_of(api, h, payment_id)
            assert of_type(payment, "CancelAuthorization") == [("Initial", 100_500)]
        made = await api.client.post(f"/payments/{payment_id}/cancel", headers=h)
        assert made.status_code == 200, made.text
        assert of_type(made.json(), "CancelAuthorization") == [("Success", 100_500)]
        assert_error(await api.client.post(f"/payments/{payment_id}/cancel", headers=h), 409)


async def test_a_redirect_payment_the_merchant_cancelled_is_not_taken_by_completing(
    db: Database,
) -> None:
    """The payment's own cancel is the merchant reporting what it did at the provider: made,
    and completing the order no longer counts on (or captures) that money."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id, order_id = await confirmed_redirect(api)
        cancelled = await api.client.post(f"/payments/{payment_id}/cancel", headers=h)
        assert cancelled.status_code == 200, cancelled.text
        assert of_type(cancelled.json(), "CancelAuthorization") == [("Success", 100_500)]
        assert_error(await api.client.post(f"/orders/{order_id}/complete", headers=h), 409)
        assert of_type(await payment_of(api, h, payment_id), "Charge") == []


async def test_captured_money_the_provider_holds_is_only_asked_back_when_the_order_is_cancelled(
    db: Database,
) -> None:
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id, order_id = await confirmed_redirect(api)
        await moved(api, h, order_id, "complete")
        await moved(api, h, order_id, "cancel")
        payment = await payment_of(api, h, payment_id)
        assert of_type(payment, "Refund") == [("Initial", 100_500)]
        other = {"amount": {"centAmount": 500, "currency": "EUR"}}
        refused = await api.client.post(f"/payments/{payment_id}/refund", json=other, headers=h)
        assert_error(refused, 409)
        made = await api.client.post(f"/payments/{payment_id}/refund", headers=h)
        assert made.status_code == 200, made.text
        assert of_type(made.json(), "Refund") == [("Success", 100_500)]
        assert_error(await api.client.post(f"/payments/{payment_id}/refund", headers=h), 409)


async def test_a_provider_that_declined_cannot_authorize_later(db: Database) -> None:
    """A provider's contradiction stays refused: only a payment tender ended is kept late."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, payment_id = await pending_redirect(api)
        declined = await callback(api, payment_id, callback_body(payment_id, 100_500, "failed"))
        assert declined.status_code == 200, declined.text
        contrary = await callback(api, payment_id, callback_body(payment_id, 100_500))
        assert_error(contrary, 409)
        payment = await payment_of(api, h, payment_id)
        assert [t["type"] for t in payment["transactions"]] == ["Authorization"]


# --- tender's own placing answers the redirect page --------------------------------------------


async def place(api: Api, h: dict[str, str], cart_id: str, **headers: str) -> httpx.Response:
    return await api.client.post("/orders", json={"cartId": cart_id}, headers={**h, **headers})


async def test_placing_with_invoice_answers_no_redirect_page(db: Database) -> None:
    async with api_with(db, **WITH_PROVIDER) as api:  # redirect offered, invoice chosen
        h, _, cart = await a_shop(api)
        await choose_payment_method(api, h, cart["id"], "invoice")
        placed = await place(api, h, cart["id"])
        assert placed.status_code == 201, placed.text
        assert placed.json()["redirectUrl"] is None


async def test_placing_with_redirect_answers_the_providers_page_for_its_payment(
    db: Database,
) -> None:
    """The merchant's backend sends the shopper to the page as answered, filling in nothing;
    the provider's callback for the payment it names confirms the order."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, _, cart = await a_shop(api)  # 1,005.00 EUR
        gift = await card(api, h, 5_000)
        added = await api.client.post(
            f"/carts/{cart['id']}/giftcards", json={"code": gift["code"]}, headers=h
        )
        assert added.status_code == 201, added.text
        await choose_payment_method(api, h, cart["id"], "redirect")
        placed = await place(api, h, cart["id"])
        assert placed.status_code == 201, placed.text
        order = placed.json()
        (redirect,) = [p for p in order["payments"] if p["paymentMethod"] == "redirect"]
        assert redirect["amountPlanned"]["centAmount"] == 95_500

        url = httpx.URL(order["redirectUrl"])
        assert (url.scheme, url.host, url.path) == (
            "https",
            "pay.example",
            "/checkout/" + redirect["id"],
        )
        assert dict(url.params) == {"amount": "95500", "currency": "EUR"}  # what the cards leave
        for secret in (PROVIDER_SECRET, gift["code"], SECRET):
            assert secret not in order["redirectUrl"]

        confirmed = await callback(api, redirect["id"], callback_body(redirect["id"], 95_500))
        assert confirmed.status_code == 200, confirmed.text
        assert auth_states(await payment_of(api, h, redirect["id"])) == ["Success"]
        completed = await api.client.post(f"/orders/{order['id']}/complete", headers=h)
        assert completed.status_code == 200, completed.text
        assert completed.json()["state"] == "Completed"


async def test_a_replayed_placing_answers_the_same_page_and_the_order_keeps_none(
    db: Database,
) -> None:
    """A retry with the placing's Idempotency-Key gets the page it lost; the order itself, as
    Glue's, does not carry it: the page belongs to placing."""
    async with api_with(db, **WITH_PROVIDER) as api:
        h, _, cart = await a_shop(api)
        await choose_payment_method(api, h, cart["id"], "redirect")
        first = await place(api, h, cart["id"], **{"Idempotency-Key": "place-1"})
        assert first.status_code == 201, first.text
        assert first.json()["redirectUrl"].startswith("https://pay.example/checkout/")
        again = await place(api, h, cart["id"], **{"Idempotency-Key": "place-1"})
        assert again.status_code == 201, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["redirectUrl"] == first.json()["redirectUrl"]
        assert again.content == first.content
        order = (await api.client.get(f"/orders/{first.json()['id']}", headers=h)).json()
        assert "redirectUrl" not in order


async def test_the_providers_page_learns_where_to_send_the_shopper_back(db: Database) -> None:
    """``{returnUrl}`` is the session's ``merchantReturnUrl``, one query value; empty without."""
    url = PROVIDER_URL + "&back={returnUrl}"
    async with api_with(db, **{**WITH_PROVIDER, "redirect_provider_url": url}) as api:
        h, shipping, cart = await a_shop(api)
        back = "https://shop.example/thanks?step=2&x=a b"
        page = await browser(api, h, cart["id"], merchantReturnUrl=back)
        placed = await glue_checkout(api, page, cart["id"], shipping, "redirect")
        assert httpx.URL(placed["redirectUrl"]).params["back"] == back
        h, shipping, cart = await a_shop(api)
        placed = await glue_checkout(api, h, cart["id"], shipping, "redirect")
        assert httpx.URL(placed["redirectUrl"]).params["back"] == ""


async def test_the_simulators_page_is_answered_as_a_full_url(db: Database) -> None:
    async with api_with(db, env=Environment.DEVELOPMENT) as api:
        h, _, cart = await a_shop(api)
        await choose_payment_method(api, h, cart["id"], "redirect")
        placed = await place(api, h, cart["id"])
        assert placed.status_code == 201, placed.text
        order = placed.json()
        (redirect,) = [p for p in order["payments"] if p["paymentMethod"] == "redirect"]
        assert order["redirectUrl"] == f"http://test/redirect-payments/{redirect['id']}"
        page = await api.client.get(order["redirectUrl"])
        assert page.status_code == 200
        paid = await api.client.post(f"{order['redirectUrl']}/pay")
        assert paid.status_code == 200, paid.text
        assert auth_states(await payment_of(api, h, redirect["id"])) == ["Success"]
