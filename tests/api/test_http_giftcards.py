"""The admin gift card API: issue, read, list, history, move money, change status, balance."""

from __future__ import annotations

from tests.api.conftest import Api, assert_error, issue

EUR5000 = {"centAmount": 5000, "currency": "EUR"}


async def test_issue_shows_code_and_pin_once_then_masks(api: Api) -> None:
    headers = await api.headers()
    card = await issue(api, headers, minor=5000, pinRequired=True, metadata={"order": "A-1"})
    assert len(card["code"].replace(" ", "")) == 16
    assert card["pin"].isdigit()
    assert card["balance"]["available"] == {
        "centAmount": 5000,
        "currency": "EUR",
        "currencyCode": "EUR",
        "fractionDigits": 2,
    }
    fetched = await api.client.get(f"/giftcards/{card['id']}", headers=headers)
    assert fetched.status_code == 200
    shown = fetched.json()
    assert shown["code"] == "****" + card["code"][-4:]
    assert "pin" not in shown
    assert shown["pinRequired"] is True
    assert shown["metadata"] == {"order": "A-1"}
    assert card["code"].replace(" ", "") not in fetched.text.replace(" ", "")


async def test_issue_batch_and_list_with_filters_and_cursor(api: Api) -> None:
    headers = await api.headers()
    batch = await api.client.post(
        "/giftcards",
        json={"amount": {"centAmount": 1000, "currency": "JPY"}, "count": 5},
        headers=headers,
    )
    assert batch.status_code == 201
    results = batch.json()["results"]
    assert len(results) == 5
    assert len({r["code"] for r in results}) == 5
    assert results[0]["balance"]["posted"]["fractionDigits"] == 0
    euro = await issue(api, headers, minor=5000)
    await api.client.post(f"/giftcards/{euro['id']}/disable", headers=headers)

    first = (await api.client.get("/giftcards?currency=JPY&limit=3", headers=headers)).json()
    assert len(first["results"]) == 3
    assert first["nextCursor"]
    second = (
        await api.client.get(
            f"/giftcards?currency=JPY&limit=3&cursor={first['nextCursor']}", headers=headers
        )
    ).json()
    assert len(second["results"]) == 2
    assert "nextCursor" not in second or second["nextCursor"] is None
    disabled = (await api.client.get("/giftcards?status=disabled", headers=headers)).json()
    assert [c["id"] for c in disabled["results"]] == [euro["id"]]


async def test_load_adjust_disable_enable_and_history(api: Api) -> None:
    headers = await api.headers()
    card = await issue(api, headers, minor=5000)
    path = f"/giftcards/{card['id']}"
    loaded = await api.client.post(
        f"{path}/load",
        json={"amount": {"centAmount": 250, "currencyCode": "EUR"}, "reference": "topup-1"},
        headers=headers,
    )
    assert loaded.json()["balance"]["posted"]["centAmount"] == 5250
    adjusted = await api.client.post(
        f"{path}/adjust", json={"amount": {"centAmount": -50, "currency": "EUR"}}, headers=headers
    )
    assert adjusted.json()["balance"]["posted"]["centAmount"] == 5200
    disabled = await api.client.post(f"{path}/disable", json={"reason": "fraud"}, headers=headers)
    assert disabled.json()["status"] == "disabled"
    enabled = await api.client.post(f"{path}/enable", headers=headers)
    assert enabled.json()["status"] == "active"

    page = (await api.client.get(f"{path}/activities?limit=3", headers=headers)).json()
    assert [a["type"] for a in page["results"]] == ["issue", "load", "adjust"]
    assert page["results"][1]["reference"] == "topup-1"
    assert page["results"][1]["balanceAfter"]["posted"]["centAmount"] == 5250
    assert page["results"][1]["actor"].startswith("client:")
    rest = (
        await api.client.get(f"{path}/activities?cursor={page['nextCursor']}", headers=headers)
    ).json()
    assert [a["type"] for a in rest["results"]] == ["disable", "enable"]
    assert rest["results"][0]["reference"] == "fraud"


async def test_balance_answers_the_seed_balance_type(api: Api) -> None:
    headers = await api.headers()
    card = await issue(api, headers, minor=5000, pin="2468")
    valid = await api.client.post(
        "/giftcards/balance", json={"code": card["code"].lower(), "pin": "2468"}, headers=headers
    )
    assert valid.status_code == 200
    assert valid.json() == {
        "status": {"state": "Valid"},
        "amount": {
            "centAmount": 5000,
            "currency": "EUR",
            "currencyCode": "EUR",
            "fractionDigits": 2,
        },
        "giftCardId": card["id"],
    }
    wrong = await api.client.post(
        "/giftcards/balance", json={"code": card["code"], "pin": "1111"}, headers=headers
    )
    unknown = await api.client.post(
        "/giftcards/balance",
        json={"code": "1234 5678 9012 3456", "pin": "1111"},
        headers=headers,
    )
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.json() == unknown.json()
    assert wrong.json()["status"]["state"] == "NotFound"
    other = await api.client.post(
        "/giftcards/balance",
        json={"code": card["code"], "pin": "2468", "currency": "SEK"},
        headers=headers,
    )
    assert other.json()["status"]["state"] == "CurrencyNotMatch"
    await api.client.post(f"/giftcards/{card['id']}/disable", headers=headers)
    generic = await api.client.post(
        "/giftcards/balance", json={"code": card["code"], "pin": "2468"}, headers=headers
    )
    assert generic.json()["status"]["state"] == "GenericError"


async def test_zero_and_expired_balances(api: Api) -> None:
    headers = await api.headers()
    empty = (
        await api.client.post(
            "/giftcards", json={"amount": {"centAmount": 0, "currency": "EUR"}}, headers=headers
        )
    ).json()
    zero = await api.client.post(
        "/giftcards/balance", json={"code": empty["code"]}, headers=headers
    )
    assert zero.json()["status"]["state"] == "ZeroBalance"
    soon = await issue(api, headers, minor=5000, expiresAt="2026-01-02T00:00:00Z")
    api.clock.advance(days=2)
    headers = await api.headers()  # the first token expired with the two days
    expired = await api.client.post(
        "/giftcards/balance", json={"code": soon["code"]}, headers=headers
    )
    assert expired.json()["status"]["state"] == "Expired"


async def test_unknown_and_malformed_ids_are_404(api: Api) -> None:
    headers = await api.headers()
    for path in (
        "/giftcards/00000000-0000-7000-8000-000000000000",
        "/giftcards/not-a-uuid",
        "/giftcards/not-a-uuid/activities",
    ):
        assert_error(await api.client.get(path, headers=headers), 404, "GiftCardNotFound")
    for action in ("load", "adjust"):
        response = await api.client.post(
            f"/giftcards/nope/{action}", json={"amount": EUR5000}, headers=headers
        )
        assert_error(response, 404, "GiftCardNotFound")
    assert_error(await api.client.post("/giftcards/nope/disable", headers=headers), 404)
