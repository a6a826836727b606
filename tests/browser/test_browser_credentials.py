"""Browser calls in real Chromium, counted in tender's access log. Centra's trick: a page reads
its session's cart cross-origin with the session id as a parameter of ``Accept``
(``*/*; api-token=…``), a header browsers send without a preflight: no OPTIONS for those reads,
and (to show the count would see one) exactly one for a read that sends ``API-token`` as a
header; the session's own origin reads the cart, another origin gets 401. And a Glue guest's
page is admitted from the service's allowed origins only."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.browser.conftest import Tender, running_tender
from tests.browser.shop_page import shop_server

READ = """
async ([url, headers]) => {
  try {
    const response = await fetch(url, { headers });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return { failed: String(error) };
  }
}
"""


def served(tender: Tender) -> list[dict[str, Any]]:
    """What tender's access log recorded so far, one entry per request."""
    entries = []
    for line in tender.log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("logger") == "tender.access":
            entries.append(entry)
    return entries


async def served_once(
    tender: Tender, complete: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The access log once ``complete`` holds for it: tender writes a request's line after the
    answer has left, so the browser can have its answer before the line is there."""
    for _ in range(200):  # 10 s
        log = served(tender)
        if complete(log):
            break
        await asyncio.sleep(0.05)
    return log


async def test_a_get_with_the_accept_token_sends_no_preflight(
    chromium: Any, tender_service: Tender, shop_origin: str
) -> None:
    tender = tender_service
    cart = await tender.cart()
    session = await tender.session(shop_origin, cart["id"])
    url = f"{tender.url}/session/cart"
    accept = {"Accept": f"*/*; api-token={session}"}
    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{shop_origin}/no-such-page")  # any page of the shop's origin
        before = len(served(tender))
        for _ in range(3):
            read = await page.evaluate(READ, [url, accept])
            assert read["status"] == 200, read
            assert read["body"]["id"] == cart["id"]
        with shop_server(tender.url) as elsewhere:
            assert elsewhere != shop_origin
            await page.goto(f"{elsewhere}/no-such-page")
            refused = await page.evaluate(READ, [url, accept])
        assert "failed" in refused  # no Access-Control-Allow-Origin: the page reads nothing
        await page.goto(f"{shop_origin}/no-such-page")
        control = await page.evaluate(READ, [url, {"API-token": session}])
        assert control["status"] == 200, control
    finally:
        await context.close()
    log = (await served_once(tender, lambda log: len(log) >= before + 6))[before:]
    reads = [e for e in log if e["method"] == "GET" and e["route"] == "/session/cart"]
    assert [e["status"] for e in reads] == [200, 200, 200, 401, 200]
    # Only the read with API-token as a header was preflighted.
    assert [e["method"] for e in log].count("OPTIONS") == 1


POST = """
async ([url, headers, body]) => {
  try {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return { failed: String(error) };
  }
}
"""


async def test_a_glue_guest_calls_from_an_allowed_origin_only(
    chromium: Any, tmp_path: Path
) -> None:
    """A guest's page sends ``X-Anonymous-Customer-Unique-Id`` cross-origin: the preflight
    admits it for the service's allowed origins, and a page elsewhere reads nothing."""
    anonymous = secrets.token_urlsafe(24)
    with (
        shop_server("http://127.0.0.1:9") as origin,
        shop_server("http://127.0.0.1:9") as elsewhere,
        running_tender(tmp_path, allowed_origins=json.dumps([origin])) as tender,
    ):
        line = {
            "sku": "TEA",
            "name": "Tea",
            "quantity": 1,
            "price": {"centAmount": 4000, "currency": "EUR"},
            "taxRate": "19.00",
        }
        body = {"currency": "EUR", "country": "DE", "lineItems": [line], "anonymousId": anonymous}
        cart = await tender.call("POST", "/carts", body)
        document = {"data": {"type": "checkout-data", "attributes": {"idCart": cart["id"]}}}
        headers = {"X-Anonymous-Customer-Unique-Id": anonymous}
        context = await chromium.new_context()
        try:
            page = await context.new_page()
            await page.goto(f"{origin}/no-such-page")
            stored = await page.evaluate(POST, [f"{tender.url}/checkout-data", headers, document])
            await page.goto(f"{elsewhere}/no-such-page")
            refused = await page.evaluate(POST, [f"{tender.url}/checkout-data", headers, document])
        finally:
            await context.close()
        assert stored["status"] == 200, stored
        assert stored["body"]["data"]["attributes"]["totals"]["grandTotal"] == 4000
        assert "failed" in refused
        log = await served_once(tender, lambda log: sum(e["method"] == "OPTIONS" for e in log) >= 2)
        preflights = [e["status"] for e in log if e["method"] == "OPTIONS"]
        assert preflights == [204, 401]  # the other origin's preflight is refused
        posts = [e for e in log if e["method"] == "POST" and e["route"] == "/checkout-data"]
        assert [e["status"] for e in posts] == [200]  # and its POST never sent
