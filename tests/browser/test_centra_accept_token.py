"""Centra's trick in real Chromium: a page reads its session's cart cross-origin with the
session id as a parameter of ``Accept`` (``*/*; api-token=…``), a header browsers send without
a preflight. tender counts the requests it gets in its access log: no OPTIONS for those reads,
and (to show the count would see one) exactly one for a read that sends ``API-token`` as a
header. The session's own origin reads the cart; another origin gets 401."""

from __future__ import annotations

import json
from typing import Any

from tests.browser.conftest import Tender
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
    log = served(tender)[before:]
    reads = [e for e in log if e["method"] == "GET" and e["route"] == "/session/cart"]
    assert [e["status"] for e in reads] == [200, 200, 200, 401, 200]
    # Only the read with API-token as a header was preflighted.
    assert [e["method"] for e in log].count("OPTIONS") == 1
