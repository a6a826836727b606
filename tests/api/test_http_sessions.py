"""Browser sessions: creation in the commercetools shape, isolation to one cart, expiry, origins,
no server credentials from a page, and CORS preflights."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, assert_error

SHOP = "https://shop.example"


async def setup(api: Api, **metadata: Any) -> tuple[dict[str, str], str, str]:
    h = await api.headers()
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    created = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": cart["id"]}},
            "metadata": {"allowedOrigins": [SHOP], **metadata},
        },
        headers=h,
    )
    assert created.status_code == 201, created.text
    return h, cart["id"], created.json()["id"]


async def test_session_shape_and_lookup(api: Api) -> None:
    h, cart_id, token = await setup(api, futureOrderNumber="ORD-1", processorUrl="https://p")
    assert token.startswith("tnd_ss_")
    assert len(token) > 40
    fetched = await api.client.get(f"/sessions/{token}", headers=h)
    body = fetched.json()
    assert body["state"] == "ACTIVE"
    assert body["activeCart"] == {"cartRef": {"id": cart_id}}
    assert body["metadata"]["futureOrderNumber"] == "ORD-1"
    duplicate = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": cart_id}},
            "metadata": {"futureOrderNumber": "ORD-1"},
        },
        headers=h,
    )
    assert_error(duplicate, 409, "DuplicateOrderNumber")
    unknown_meta = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": cart_id}},
            "metadata": {"evil": True},
        },
        headers=h,
    )
    assert_error(unknown_meta, 400)
    other_cart = await api.client.post(
        "/sessions",
        json={"cart": {"cartRef": {"id": "00000000-0000-7000-8000-000000000000"}}},
        headers=h,
    )
    assert_error(other_cart, 404, "CartNotFound")
    assert_error(await api.client.get("/sessions/tnd_ss_madeup", headers=h), 404)
    api.clock.advance(minutes=61)
    admin = {"Authorization": f"Bearer {api.admin_jwt()}"}  # the client's token expired too
    assert (await api.client.get(f"/sessions/{token}", headers=admin)).json()["state"] == (
        "EXPIRED"
    )


async def test_browser_sees_only_its_cart(api: Api) -> None:
    _h, cart_id, token = await setup(api)
    browser = {"X-Session-Id": token, "Origin": SHOP}
    mine = await api.client.get("/session/cart", headers=browser)
    assert mine.status_code == 200
    assert mine.json()["id"] == cart_id
    assert mine.headers["access-control-allow-origin"] == SHOP
    # Server routes do not take a session, and a session cannot name another cart.
    assert_error(await api.client.get(f"/carts/{cart_id}", headers=browser), 401)
    assert_error(await api.client.post("/session/giftcards/not-mine/remove", headers=browser), 404)
    for bad in ({"X-Session-Id": "tnd_ss_madeup"}, {"X-Session-Id": "nonsense"}, {}):
        assert_error(await api.client.get("/session/cart", headers=bad), 401)


async def test_expired_sessions_answer_session_expired(api: Api) -> None:
    _, _, token = await setup(api)
    api.clock.advance(minutes=61)
    expired = await api.client.get("/session/cart", headers={"X-Session-Id": token})
    assert_error(expired, 401, "SessionExpired")


async def test_origins_and_server_credentials_are_refused(api: Api) -> None:
    h, _, token = await setup(api)
    evil = await api.client.get(
        "/session/cart", headers={"X-Session-Id": token, "Origin": "https://evil.example"}
    )
    assert_error(evil, 401, "OriginNotAllowed")
    with_secret = await api.client.get(
        "/session/cart", headers={"X-Session-Id": token, **h, "Origin": SHOP}
    )
    assert_error(with_secret, 401, "CredentialsNotAllowed")


async def test_cors_preflight(api: Api) -> None:
    await setup(api)
    preflight = {
        "Origin": SHOP,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-session-id, content-type",
    }
    ok = await api.client.options("/session/giftcards", headers=preflight)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == SHOP
    assert int(ok.headers["access-control-max-age"]) >= 3600
    assert "X-Session-Id" in ok.headers["access-control-allow-headers"]
    refused = await api.client.options(
        "/session/giftcards", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert refused.status_code == 401
    assert "access-control-allow-origin" not in refused.headers


async def test_cors_headers_on_actual_responses_only_for_allowed_origins(api: Api) -> None:
    """A page of another origin may make the browser send a request; without
    Access-Control-Allow-Origin it cannot read the answer."""
    h, cart_id, token = await setup(api)
    evil = "https://evil.example"
    api.runtime.settings.allowed_origins = ["https://admin.example"]

    def cors(response: Any) -> str | None:
        assert "Origin" in response.headers.get("vary", ""), response.headers
        return response.headers.get("access-control-allow-origin")  # type: ignore[no-any-return]

    # Allowed: the session's own origin, for a session that is not known any live session's
    # origin, and the service's origins.
    own = await api.client.get("/session/cart", headers={"X-Session-Id": token, "Origin": SHOP})
    assert own.status_code == 200
    assert cors(own) == SHOP
    assert "X-Correlation-ID" in own.headers["access-control-expose-headers"]
    service = "https://admin.example"
    assert cors(await api.client.get("/health", headers={"Origin": service})) == service
    assert cors(await api.client.get(f"/carts/{cart_id}", headers={**h, "Origin": service})) == (
        service
    )
    unknown = await api.client.get("/session/cart", headers={"X-Session-Id": "x", "Origin": SHOP})
    assert_error(unknown, 401)
    assert cors(unknown) == SHOP  # the page of a known origin may read why it was refused

    # Not allowed: nothing that lets the page read the answer, whatever the answer is. A
    # session's origin is its session's alone: not a server route's, nor another session's.
    for response in (
        await api.client.get("/session/cart", headers={"X-Session-Id": token, "Origin": evil}),
        await api.client.get(f"/carts/{cart_id}", headers={**h, "Origin": evil}),
        await api.client.get("/health", headers={"Origin": evil}),
        await api.client.get(f"/carts/{cart_id}", headers={**h, "Origin": SHOP}),
        await api.client.get("/health", headers={"Origin": SHOP}),
        await api.client.get("/session/cart", headers={"X-Session-Id": "x", "Origin": evil}),
    ):
        assert cors(response) is None, response.text
        assert "access-control-expose-headers" not in response.headers
    _, _, other = await setup(api, allowedOrigins=[evil])  # another client's page on evil
    theirs = await api.client.get("/session/cart", headers={"X-Session-Id": other, "Origin": evil})
    assert cors(theirs) == evil
    for response in (
        await api.client.get("/session/cart", headers={"X-Session-Id": token, "Origin": evil}),
        await api.client.get(f"/carts/{cart_id}", headers={**h, "Origin": evil}),
    ):
        assert cors(response) is None, response.text

    # Once the session has expired its origin is no longer known.
    api.clock.advance(minutes=61)
    gone = await api.client.get("/session/cart", headers={"X-Session-Id": "x", "Origin": SHOP})
    assert cors(gone) is None
    assert cors(await api.client.get("/health", headers={"Origin": service})) == service
    # Origins no session can have allowed are not even looked up (PostgreSQL refuses NUL).
    for junk in ("https://a\x00b", "https://" + "a" * 300):
        assert cors(await api.client.get("/health", headers={"Origin": junk})) is None
        preflight = await api.client.options(
            "/session/cart", headers={"Origin": junk, "Access-Control-Request-Method": "GET"}
        )
        assert_error(preflight, 401, "OriginNotAllowed")
    # Without an Origin header (a server, curl) there is nothing to add.
    plain = await api.client.get("/health")
    assert "access-control-allow-origin" not in plain.headers


async def test_browser_adds_and_removes_gift_cards(api: Api) -> None:
    h, cart_id, token = await setup(api)
    await api.client.post(
        f"/carts/{cart_id}",
        json={
            "version": 1,
            "actions": [
                {
                    "action": "addLineItem",
                    "sku": "A",
                    "name": "A",
                    "quantity": 1,
                    "price": {"centAmount": 5000, "currency": "EUR"},
                    "taxRate": "19.00",
                }
            ],
        },
        headers=h,
    )
    card = (
        await api.client.post(
            "/giftcards",
            json={"amount": {"centAmount": 2000, "currency": "EUR"}, "pin": "9999"},
            headers=h,
        )
    ).json()
    browser = {"X-Session-Id": token, "Origin": SHOP}
    wrong = await api.client.post(
        "/session/giftcards", json={"code": card["code"], "pin": "0000"}, headers=browser
    )
    assert_error(wrong, 400, "InvalidGiftCard")
    added = await api.client.post(
        "/session/giftcards", json={"code": card["code"], "pin": "9999"}, headers=browser
    )
    assert added.status_code == 201, added.text
    payment = added.json()["payment"]
    assert payment["amountPlanned"]["centAmount"] == 2000
    assert added.json()["cart"]["totals"]["remaining"]["centAmount"] == 3000
    assert card["code"].replace(" ", "") not in added.text.replace(" ", "")
    removed = await api.client.post(f"/session/giftcards/{payment['id']}/remove", headers=browser)
    assert removed.status_code == 200
    statuses = [p["status"] for p in removed.json()["payments"]]
    assert statuses == ["removed"]


async def test_add_card_attempts_are_rate_limited_per_session(api: Api) -> None:
    _, _, token = await setup(api)
    browser = {"X-Session-Id": token, "Origin": SHOP}
    statuses = []
    for _ in range(11):
        response = await api.client.post(
            "/session/giftcards",
            json={"code": "1234 5678 9012 3456", "pin": "1111"},
            headers=browser,
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [400] * 10
    limited = await api.client.post("/session/giftcards", json={"code": "1"}, headers=browser)
    body = assert_error(limited, 429, "TooManyRequests")
    assert body["errors"][0]["code"] == "TooManyRequests"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another session is not affected; the next minute lets this one try again.
    _, _, other = await setup(api)
    fresh = await api.client.post(
        "/session/giftcards", json={"code": "1"}, headers={"X-Session-Id": other, "Origin": SHOP}
    )
    assert fresh.status_code == 400
    api.clock.advance(seconds=61)
    again = await api.client.post("/session/giftcards", json={"code": "1"}, headers=browser)
    assert again.status_code == 400


async def test_a_sessions_lists_are_bounded(api: Api) -> None:
    """Each allowed origin becomes a row every preflight may match, and the session's every
    request reads its lists: a merchant's token could name 40,000 of them."""
    h = await api.headers()
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    origins = [f"https://shop{n}.example" for n in range(21)]
    for metadata, field in (
        ({"allowedOrigins": origins}, "metadata.allowedOrigins"),
        ({"allowedPaymentMethods": ["giftcard"] * 11}, "metadata.allowedPaymentMethods"),
        ({"allowedPaymentMethods": ["x" * 51]}, "metadata.allowedPaymentMethods"),
    ):
        refused = await api.client.post(
            "/sessions",
            json={"cart": {"cartRef": {"id": cart["id"]}}, "metadata": metadata},
            headers=h,
        )
        body = assert_error(refused, 400, "InvalidInput")
        assert body["errors"][0]["field"] == field
    fits = await api.client.post(
        "/sessions",
        json={
            "cart": {"cartRef": {"id": cart["id"]}},
            "metadata": {"allowedOrigins": origins[:20]},
        },
        headers=h,
    )
    assert fits.status_code == 201, fits.text


async def test_a_session_that_allows_no_method_offered_here_is_refused(api: Api) -> None:
    """A typo (``gift-card``) or only another connector's methods would make a session that
    pays with nothing, found out by its shopper at the last step; a list may still name other
    connectors' methods beside tender's, in any case."""
    h = await api.headers()
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    ref = {"cartRef": {"id": cart["id"]}}
    for methods in (["gift-card"], ["card", "paypal"], []):
        refused = await api.client.post(
            "/sessions",
            json={"cart": ref, "metadata": {"allowedPaymentMethods": methods}},
            headers=h,
        )
        body = assert_error(refused, 400, "InvalidInput")
        assert body["errors"][0]["field"] == "metadata.allowedPaymentMethods"
        assert "giftcard, invoice" in body["errors"][0]["message"], body
    for methods in (["GiftCard", "paypal"], ["card", "Invoice"]):
        made = await api.client.post(
            "/sessions",
            json={"cart": ref, "metadata": {"allowedPaymentMethods": methods}},
            headers=h,
        )
        assert made.status_code == 201, (methods, made.text)
    events = (await api.client.get(f"/events?resourceId={cart['id']}", headers=h)).json()
    assert [e["type"] for e in events["results"]].count("SessionCreated") == 2, events
