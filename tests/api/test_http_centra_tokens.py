"""Centra's conventions for browser calls: the session id sent as ``API-token`` wherever
``X-Session-Id`` is taken, and on GETs as ``Accept: */*; api-token=…`` (a header that needs no
preflight), under the same origin rules; refused ``X-Correlation-ID`` values are replaced and
the refusal logged."""

from __future__ import annotations

import json
import logging

from tender.api.logs import JsonFormatter
from tests.api.conftest import Api, assert_error
from tests.api.test_http_sessions import SHOP, setup


def accept(token: str) -> dict[str, str]:
    return {"Accept": f"*/*; api-token={token}"}


async def test_the_session_as_api_token_and_in_accept(api: Api) -> None:
    h, cart_id, token = await setup(api)
    for headers in (
        {"API-token": token},
        accept(token),
        {"Accept": f'application/json, */*; q=0.5; api-token="{token}"'},
        {"X-Session-Id": token, "API-token": token},  # the same id twice is one id
    ):
        response = await api.client.get("/session/cart", headers={**headers, "Origin": SHOP})
        assert response.status_code == 200, (headers, response.text)
        assert response.json()["id"] == cart_id
        assert response.headers["access-control-allow-origin"] == SHOP
    config = await api.client.get("/operations/config", headers=accept(token))
    assert config.status_code == 200, config.text
    # A POST takes API-token like X-Session-Id…
    card = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 500, "currency": "EUR"}}, headers=h
    )
    added = await api.client.post(
        "/session/giftcards", json={"code": card.json()["code"]}, headers={"API-token": token}
    )
    assert added.status_code == 201, added.text
    # …but not Accept: the trick is for reads, which a page would otherwise preflight.
    refused = await api.client.post(
        "/session/giftcards", json={"code": "6012345678901234"}, headers=accept(token)
    )
    assert_error(refused, 401)


async def test_the_same_origin_rules_apply(api: Api) -> None:
    h, _cart_id, token = await setup(api)
    _h2, _other_cart, other = await setup(api)
    for headers in ({"API-token": token}, accept(token)):
        evil = await api.client.get(
            "/session/cart", headers={**headers, "Origin": "https://evil.example"}
        )
        assert_error(evil, 401, "OriginNotAllowed")
        assert "access-control-allow-origin" not in evil.headers
        with_secret = await api.client.get("/session/cart", headers={**headers, **h})
        assert_error(with_secret, 401, "CredentialsNotAllowed")
        # Centra's shared secret header, as its seed says: "the request will fail".
        centra = {**headers, "Origin": SHOP, "API-Authorization": "shared-secret"}
        with_shared = await api.client.get("/session/cart", headers=centra)
        assert_error(with_shared, 401, "CredentialsNotAllowed")
    # Two different sessions in one request name nobody.
    for headers in (
        {"X-Session-Id": token, "API-token": other},
        {"API-token": token, **accept(other)},
    ):
        assert_error(await api.client.get("/session/cart", headers=headers), 401, "InvalidSession")
    for junk in ("*/*; api-token=", "*/*; api-token=tnd_ss_madeup", "*/*; api-token:" + token):
        assert_error(await api.client.get("/session/cart", headers={"Accept": junk}), 401)


async def test_preflights_allow_the_api_token_and_glues_credentials(api: Api) -> None:
    await setup(api)
    preflight = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    session_route = await api.client.options("/session/giftcards", headers=preflight)
    allowed = session_route.headers["access-control-allow-headers"]
    assert "API-token" in allowed
    assert "Authorization" not in allowed  # server credentials stay off browser routes
    glue = await api.client.options("/checkout-data", headers=preflight)
    assert {"API-token", "Authorization", "X-Anonymous-Customer-Unique-Id"} <= {
        name.strip() for name in glue.headers["access-control-allow-headers"].split(",")
    }


async def test_idempotency_keys_follow_the_session_however_it_is_sent(api: Api) -> None:
    h, cart_id, token = await setup(api)
    document = {"data": {"type": "checkout-data", "attributes": {"idCart": cart_id}}}
    first = await api.client.post(
        "/checkout-data", json=document, headers={"X-Session-Id": token, "Idempotency-Key": "k1"}
    )
    assert first.status_code == 200, first.text
    again = await api.client.post(
        "/checkout-data", json=document, headers={"API-token": token, "Idempotency-Key": "k1"}
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert h  # the merchant's own calls are untouched


class Lines(logging.Handler):
    """Formats each record as it is emitted, inside the request (as the service's handler)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_a_refused_correlation_id_is_replaced_and_logged(api: Api) -> None:
    hostile = "bad value\t<script>" + "x" * 10
    logger = logging.getLogger("tender.correlation")
    handler = Lines()
    logger.addHandler(handler)
    try:
        response = await api.client.get("/health", headers={"X-Correlation-ID": hostile})
        fine = await api.client.get("/health", headers={"X-Correlation-ID": "shop-req-42"})
    finally:
        logger.removeHandler(handler)
    made = response.headers["x-correlation-id"]
    assert made != hostile
    assert len(made) == 36
    assert fine.headers["x-correlation-id"] == "shop-req-42"
    assert len(handler.lines) == 1
    entry = json.loads(handler.lines[0])
    assert entry["level"] == "warning"
    assert entry["correlationId"] == made  # the new id finds the refusal
    assert entry["refusedLength"] == len(hostile)
    assert "script" not in json.dumps(entry)  # the refused value itself is not logged
