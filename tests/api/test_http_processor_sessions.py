"""Who may call the processor's browser routes, on SQLite and PostgreSQL: a live session from an
origin it allows, whose ``allowedPaymentMethods`` include gift cards. Everyone else gets 401 (or
422 for a session without gift cards) in the one error shape, and nothing is looked up or
changed; a session acts on its own cart only, whatever the body says."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api, assert_error
from tests.api.journeys import card
from tests.api.processor import Shop, gift_payments, open_shop

ROUTES = ("/balance", "/redeem", "/operations/config")


async def call(shop: Shop, path: str, headers: dict[str, str], code: str) -> httpx.Response:
    if path == "/operations/config":
        return await shop.api.client.get(path, headers=headers)
    body: dict[str, Any] = {"code": code}
    if path == "/redeem":
        body["redeemAmount"] = {"centAmount": 1000, "currencyCode": "EUR"}
    return await shop.api.client.post(path, json=body, headers=headers)


async def test_calls_without_a_usable_session_are_refused(api: Api) -> None:
    shop = await open_shop(api)
    gift = await card(api, shop.h, 3000)
    page = shop.page
    refused = {
        "no session": ({"Origin": page["Origin"]}, "InvalidSession"),
        "made up": ({**page, "X-Session-Id": "tnd_ss_madeup"}, "InvalidSession"),
        "not ours": ({**page, "X-Session-Id": "nonsense"}, "InvalidSession"),
        "other origin": ({**page, "Origin": "https://evil.example"}, "OriginNotAllowed"),
        "server token": ({**page, **shop.h}, "CredentialsNotAllowed"),
    }
    for path in ROUTES:
        for headers, code in refused.values():
            response = await call(shop, path, headers, gift["code"])
            assert_error(response, 401, code)
    api.clock.advance(minutes=61)
    for path in ROUTES:
        assert_error(await call(shop, path, page, gift["code"]), 401, "SessionExpired")
    shop.h = {"Authorization": f"Bearer {api.admin_jwt()}"}  # the client's token expired too
    assert await shop.held(gift) == (3000, 0)
    assert (await shop.current())["payments"] == []


async def test_a_session_without_gift_cards_cannot_look_up_or_redeem(api: Api) -> None:
    shop = await open_shop(api, allowedPaymentMethods=["invoice"])
    gift = await card(api, shop.h, 3000)
    for path in ("/balance", "/redeem"):
        response = await call(shop, path, shop.page, gift["code"])
        assert_error(response, 422, "PaymentMethodNotAllowed")
    assert await shop.held(gift) == (3000, 0)
    allowed = await open_shop(api, allowedPaymentMethods=["GiftCard", "invoice"])
    assert (await allowed.balance(gift["code"])).status_code == 200


async def test_oversized_bodies_are_413_before_anything_runs(api: Api) -> None:
    shop = await open_shop(api)
    huge = b'{"code": "' + b"1" * (1024 * 1024 + 10) + b'"}'
    for path in ("/balance", "/redeem"):
        response = await api.client.post(
            path, content=huge, headers={**shop.page, "Content-Type": "application/json"}
        )
        assert_error(response, 413)


async def test_a_session_reads_and_redeems_on_its_own_cart_only(api: Api) -> None:
    mine = await open_shop(api)
    theirs = await open_shop(api, unit=9000)
    gift = await card(api, mine.h, 3000)
    # No body names a cart: a cart id sent along is refused, not followed.
    smuggled = await api.client.post(
        "/redeem",
        json={
            "code": gift["code"],
            "redeemAmount": {"centAmount": 1000, "currencyCode": "EUR"},
            "cartId": theirs.cart["id"],
        },
        headers=mine.page,
    )
    assert_error(smuggled, 400)
    assert (await mine.redeem(gift["code"], 1000)).json()["result"] == "Success"
    assert len(gift_payments(await mine.current())) == 1
    assert gift_payments(await theirs.current()) == []
    assert (await theirs.config()).json()["amountToPay"]["centAmount"] == 9490
    assert (await mine.config()).json()["amountToPay"]["centAmount"] == 3490
    # The other page cannot use the card on its cart while it is on ours either: it is held.
    other = await theirs.redeem(gift["code"], 5000)
    assert other.json()["redeemedAmount"]["centAmount"] == 2000
    assert await mine.held(gift) == (3000, 3000)
    assert await mine.audit() == []


async def test_sessions_take_the_connectors_metadata_and_refuse_the_rest(api: Api) -> None:
    shop = await open_shop(api)
    h = shop.h
    metadata = {
        "processorUrl": "https://tender.example",
        "paymentInterface": "tender-giftcards",
        "pspKey": "giftcard-psp",
        "locale": "de-CH",
        "allowedPaymentMethods": ["giftcard"],
    }
    body = {"cart": {"cartRef": {"id": shop.cart["id"]}}, "metadata": metadata}
    created = await api.client.post("/sessions", json=body, headers=h)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"] == metadata
    for key, bad in (
        ("paymentInterface", "p" * 33),
        ("paymentInterface", 7),
        ("locale", "not a locale"),
        ("processorUrl", "ftp://tender.example"),
        ("pspKey", ""),
        ("somethingElse", "x"),
    ):
        refused = await api.client.post(
            "/sessions", json={**body, "metadata": {**metadata, key: bad}}, headers=h
        )
        assert_error(refused, 400)


async def test_the_connectors_clients_may_hold_view_api_clients(api: Api) -> None:
    """The connector's status check asks for it among its required scopes."""
    token = await api.token("view_api_clients manage_payments")
    response = await api.client.post(
        "/sessions",
        json={"cart": {"cartRef": {"id": (await open_shop(api)).cart["id"]}}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404  # another client's cart: the token itself works
    refused = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "view_api_clientz"},
        auth=await api.new_client("view_api_clients"),
    )
    assert refused.status_code == 400
