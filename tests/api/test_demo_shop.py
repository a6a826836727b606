"""The demo storefront's backend: off unless development is on, holding its API client's secret
while the page gets a session id alone, and a session the page can check out with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tender.api.app import create_app
from tender.cli.demo import _create
from tender.config import Environment, InsecureSettings, Settings
from tender.db.engine import Database
from tender.runtime import Runtime
from tender.settings_checks import check_payments
from tests.api.conftest import SECRET, assert_error

SHOP = "http://shop.test"
GLUE = {
    "salutation": "Ms",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "address1": "Teestraße",
    "address2": "7",
    "zipCode": "10115",
    "city": "Berlin",
    "iso2Code": "DE",
}


def settings(db: Database, demo_file: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.TEST,  # unless ``extra`` says otherwise
        "database_url": db.url,
        "secret_key": SECRET,
        "sweep_interval_seconds": 0,
        "db_pool_size": 5,
        "demo_file": str(demo_file),
        **extra,
    }
    return Settings(**values)


async def client_for(runtime: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    return httpx.AsyncClient(transport=transport, base_url=SHOP)


@pytest.fixture
async def shop(db: Database, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    """A development-like app with the demo on and ``tender demo init``'s file written."""
    demo_file = tmp_path / "demo.json"
    runtime = Runtime(settings(db, demo_file, demo=True))
    state = await _create(runtime)
    demo_file.write_text(state.to_json())
    async with await client_for(runtime) as client:
        yield client, demo_file
    await runtime.close()


def browser(session: dict[str, str]) -> dict[str, str]:
    return {"X-Session-Id": session["sessionId"], "Origin": SHOP}


def glue(kind: str, cart_id: str, **attributes: Any) -> dict[str, Any]:
    body = {
        "idCart": cart_id,
        "customer": {"email": "ada@example.com", "salutation": "Ms"},
        "billingAddress": GLUE,
        "shippingAddress": GLUE,
        **attributes,
    }
    return {"data": {"type": kind, "attributes": body}}


@pytest.mark.parametrize("env", [Environment.TEST, Environment.PRODUCTION])
async def test_demo_is_off_unless_development_is_on(
    db: Database, tmp_path: Path, env: Environment
) -> None:
    runtime = Runtime(settings(db, tmp_path / "demo.json", env=env))
    async with await client_for(runtime) as client:
        for path in ("/demo", "/demo/assets/shop.js", "/demo/api/products"):
            assert_error(await client.get(path), 404)
        body = {"lines": [{"sku": "TEA-SENCHA", "quantity": 1}]}
        assert_error(await client.post("/demo/api/checkout", json=body), 404)
    await runtime.close()
    assert Settings(env=Environment.DEVELOPMENT).demo_on
    assert not Settings(env=Environment.PRODUCTION).demo_on
    with pytest.raises(InsecureSettings, match="TENDER_DEMO"):
        check_payments(Settings(env=Environment.PRODUCTION, demo=True))


@pytest.mark.parametrize(
    ("env", "docs", "shown"),
    [
        (Environment.PRODUCTION, None, False),
        (Environment.PRODUCTION, True, True),
        (Environment.TEST, None, True),
        (Environment.DEVELOPMENT, False, False),
    ],
)
async def test_the_api_pages_are_off_in_production_unless_switched_on(
    db: Database, tmp_path: Path, env: Environment, docs: bool | None, shown: bool
) -> None:
    """Swagger UI and ReDoc load a CDN's scripts into tender's origin, where an operator may
    paste an admin token; the OpenAPI document itself runs nothing and is always there."""
    runtime = Runtime(settings(db, tmp_path / "demo.json", env=env, api_docs=docs))
    async with await client_for(runtime) as client:
        for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
            answer = await client.get(path)
            if shown:
                assert answer.status_code == 200, (path, answer.text)
            else:
                assert_error(answer, 404)
        assert (await client.get("/openapi.json")).status_code == 200
    await runtime.close()


async def test_a_shopper_checks_out_with_the_session_alone(
    shop: tuple[httpx.AsyncClient, Path],
) -> None:
    client, demo_file = shop
    lines = [{"sku": "TEA-SENCHA", "quantity": 2}, {"sku": "POT-CAST", "quantity": 1}]
    answer = await client.post("/demo/api/checkout", json={"lines": lines, "locale": "de"})
    assert answer.status_code == 201, answer.text
    session = answer.json()
    assert set(session) == {"sessionId", "cartId", "processorUrl"}
    assert session["processorUrl"] == SHOP
    secret = json.loads(demo_file.read_text())["client_secret"]
    assert secret not in answer.text
    assert "tnd_at_" not in answer.text  # no access token either
    config = await client.get("/operations/config", headers=browser(session))
    assert config.json()["locale"] == "de"  # the shopper's language reaches the enabler

    data = await client.post(
        "/checkout-data", json=glue("checkout-data", session["cartId"]), headers=browser(session)
    )
    assert data.status_code == 200, data.text
    attributes = data.json()["data"]["attributes"]
    assert attributes["totals"]["grandTotal"] == 2 * 1290 + 4900  # prices from the catalogue
    standard = next(m for m in attributes["shipmentMethods"] if m["name"] == "Standard")

    placed = await client.post(
        "/checkout",
        json=glue(
            "checkout",
            session["cartId"],
            shipment={"idShipmentMethod": standard["id"]},
            payments=[{"paymentMethodName": "invoice", "paymentProviderName": "tender"}],
        ),
        headers=browser(session),
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["data"]["attributes"]["orderReference"]


async def test_the_page_names_products_never_prices(shop: tuple[httpx.AsyncClient, Path]) -> None:
    client, _ = shop
    for body, status in (
        ({"lines": [{"sku": "NOPE", "quantity": 1}]}, 400),
        ({"lines": [{"sku": "TEA-SENCHA", "quantity": 11}]}, 400),
        ({"lines": [{"sku": "TEA-SENCHA", "quantity": 1, "price": 1}]}, 400),
        ({"lines": []}, 400),
        ({"lines": [{"sku": "TEA-SENCHA", "quantity": 1}], "locale": "xx"}, 400),
    ):
        assert_error(await client.post("/demo/api/checkout", json=body), status)
    products = (await client.get("/demo/api/products?locale=de")).json()
    assert {p["sku"] for p in products} >= {"TEA-SENCHA", "POT-CAST"}
    assert any(p["name"].startswith("Sencha Grüntee") for p in products)


async def test_without_its_client_the_backend_says_how_to_set_it_up(
    shop: tuple[httpx.AsyncClient, Path],
) -> None:
    client, demo_file = shop
    body = {"lines": [{"sku": "TEA-SENCHA", "quantity": 1}]}
    kept = json.loads(demo_file.read_text())
    demo_file.write_text(json.dumps({**kept, "client_secret": "not-the-secret"}))
    refused = assert_error(await client.post("/demo/api/checkout", json=body), 503)
    assert "tender demo init" in refused["message"]
    demo_file.unlink()
    assert_error(await client.post("/demo/api/checkout", json=body), 503)


async def test_the_page_and_its_assets(shop: tuple[httpx.AsyncClient, Path]) -> None:
    client, _ = shop
    page = await client.get("/demo")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/demo/assets/shop.js">' in page.text
    script = await client.get("/demo/assets/shop.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/enabler/connector-enabler.es.js" in script.text
    for name in ("backend.py", "..%2Fbackend.py", "shop.html"):
        assert_error(await client.get(f"/demo/assets/{name}"), 404)
