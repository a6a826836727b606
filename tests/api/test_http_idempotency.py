"""Idempotency-Key: replay byte for byte, refuse a changed body, refuse a key in flight, and
one order with one set of holds however many times a key is fired at once."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import Api, assert_error
from tests.api.journeys import ready_cart

ISSUE = {"amount": {"centAmount": 1000, "currency": "EUR"}}


async def count_cards(api: Api, h: dict[str, str]) -> int:
    return len((await api.client.get("/giftcards?limit=500", headers=h)).json()["results"])


async def test_same_key_same_body_replays_byte_for_byte(api: Api) -> None:
    h = await api.headers()
    keyed = {**h, "Idempotency-Key": "issue-1"}
    first = await api.client.post("/giftcards", json=ISSUE, headers=keyed)
    second = await api.client.post("/giftcards", json=ISSUE, headers=keyed)
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first.headers["idempotent-replayed"] == "false"
    assert second.headers["idempotent-replayed"] == "true"
    assert await count_cards(api, h) == 1


async def test_same_key_other_body_is_422_and_other_callers_are_separate(api: Api) -> None:
    h = await api.headers()
    keyed = {**h, "Idempotency-Key": "issue-2"}
    assert (await api.client.post("/giftcards", json=ISSUE, headers=keyed)).status_code == 201
    changed = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 999, "currency": "EUR"}}, headers=keyed
    )
    assert_error(changed, 422, "IdempotencyKeyReused")
    other = {**(await api.headers()), "Idempotency-Key": "issue-2"}
    assert (await api.client.post("/giftcards", json=ISSUE, headers=other)).status_code == 201
    assert await count_cards(api, h) == 2
    too_long = await api.client.post(
        "/giftcards", json=ISSUE, headers={**h, "Idempotency-Key": "k" * 256}
    )
    assert_error(too_long, 400, "InvalidIdempotencyKey")


async def test_keys_survive_a_new_token_and_expire_after_a_day(api: Api) -> None:
    client_id, secret = await api.new_client()

    async def token() -> dict[str, str]:
        response = await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    first = await api.client.post(
        "/giftcards", json=ISSUE, headers={**await token(), "Idempotency-Key": "k"}
    )
    refreshed = await api.client.post(
        "/giftcards", json=ISSUE, headers={**await token(), "Idempotency-Key": "k"}
    )
    assert refreshed.headers["idempotent-replayed"] == "true"
    assert refreshed.content == first.content
    api.clock.advance(hours=25)
    later = await api.client.post(
        "/giftcards", json=ISSUE, headers={**await token(), "Idempotency-Key": "k"}
    )
    assert later.headers["idempotent-replayed"] == "false"
    assert later.json()["id"] != first.json()["id"]


async def test_one_key_fired_fifty_times_places_one_order(api: Api) -> None:
    h = await api.headers()
    card = (
        await api.client.post(
            "/giftcards", json={"amount": {"centAmount": 100_000, "currency": "EUR"}}, headers=h
        )
    ).json()
    cart = await ready_cart(api, h, unit=4000, quantity=2)
    added = await api.client.post(
        f"/carts/{cart['id']}/giftcards", json={"code": card["code"]}, headers=h
    )
    assert added.status_code == 201

    async def place() -> Any:
        return await api.client.post(
            "/orders", json={"cartId": cart["id"]}, headers={**h, "Idempotency-Key": "place-once"}
        )

    responses = await asyncio.gather(*(place() for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    created = [r for r in responses if r.status_code == 201]
    assert created, statuses
    assert set(statuses) <= {201, 409}
    assert len({r.json()["id"] for r in created}) == 1
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["errors"][0]["code"] in (
            "IdempotencyKeyInUse",
            "ConcurrentModification",
        )
    replay = await place()
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == created[0].content
    orders = (await api.client.get("/orders", headers=h)).json()["results"]
    assert len(orders) == 1
    detail = (await api.client.get(f"/giftcards/{card['id']}", headers=h)).json()
    assert detail["balance"]["held"]["centAmount"] == 8490
    holds = [
        a
        for a in (await api.client.get(f"/giftcards/{card['id']}/activities", headers=h)).json()[
            "results"
        ]
        if a["type"] == "hold"
    ]
    assert len(holds) == 1
