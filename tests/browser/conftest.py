"""Real headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) on a shop page
of its own origin, against tender as deployed: uvicorn in a subprocess on a fresh SQLite
database. The shop's origin is allowed by each session, as a merchant's backend would set it.

Screenshots of the main steps go to ``test-artifacts/screenshots``. Without Chromium or
Playwright the tests skip, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tender.auth.jwt import mint_admin_token
from tender.domain.principals import parse_scopes
from tests.api.conftest import ALL_SCOPES, SECRET, SIGNING_KEY
from tests.browser.shop_page import shop_server
from tests.helpers import ADDRESS
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
IN_CI = os.environ.get("CI") == "true"
TENDER = str(Path(sys.executable).with_name("tender"))


def unknown_code() -> str:
    """A code no card has, new for each use: the per-code failure budget stays untouched."""
    return " ".join(f"{secrets.randbelow(10_000):04d}" for _ in range(4))


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason + " (CI=true: browser tests may not skip)")
    pytest.skip(reason)


@dataclass
class Tender:
    """The running service, and the merchant backend's calls to it."""

    url: str
    log: Path

    def admin(self) -> dict[str, str]:
        token = mint_admin_token(
            key=SIGNING_KEY,
            subject="shop-backend@example.com",
            scopes=parse_scopes(ALL_SCOPES),
            ttl=timedelta(minutes=30),
            now=datetime.now(UTC),
        )
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None, status: int = 201) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
            response = await client.request(method, path, json=body, headers=self.admin())
        assert response.status_code == status, response.text
        return response.json()

    async def cart(self, *, unit: int = 4000) -> dict[str, Any]:
        """A euro cart ready to place once paid: a line of ``unit`` and 4.90 shipping."""
        shipping = await self.call(
            "POST",
            "/shipping-methods",
            {
                "name": "Standard",
                "carrierName": "DHL",
                "price": {"centAmount": 490, "currency": "EUR"},
                "taxRate": "19.00",
                "countries": ["DE"],
            },
        )
        line = {
            "sku": "TEA",
            "name": "Tea",
            "quantity": 1,
            "price": {"centAmount": unit, "currency": "EUR"},
            "taxRate": "19.00",
        }
        body = {
            "currency": "EUR",
            "country": "DE",
            "lineItems": [line],
            "customerEmail": "ada@example.com",
        }
        cart = await self.call("POST", "/carts", body)
        actions = [
            {"action": "setShippingAddress", "address": ADDRESS},
            {"action": "setBillingAddress", "address": ADDRESS},
            {"action": "setShippingMethod", "shippingMethodId": shipping["id"]},
        ]
        update = {"version": cart["version"], "actions": actions}
        return await self.call("POST", f"/carts/{cart['id']}", update, 200)  # type: ignore[no-any-return]

    async def session(self, origin: str, cart_id: str, **metadata: Any) -> str:
        body = {
            "cart": {"cartRef": {"id": cart_id}},
            "metadata": {"allowedOrigins": [origin], **metadata},
        }
        return str((await self.call("POST", "/sessions", body))["id"])

    async def card(self, minor: int, currency: str = "EUR", **extra: Any) -> dict[str, Any]:
        body = {"amount": {"centAmount": minor, "currency": currency}, **extra}
        return await self.call("POST", "/giftcards", body)  # type: ignore[no-any-return]


@contextmanager
def running_tender(folder: Path, **settings: str) -> Iterator[Tender]:
    """``uvicorn`` serving tender on a fresh SQLite database in ``folder``."""
    env = {
        **os.environ,
        "TENDER_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'tender.db'}",
        "TENDER_SECRET_KEY": SECRET,
        "TENDER_ENV": "test",
        "TENDER_SWEEP_INTERVAL_SECONDS": "0",
        "TENDER_ENV_FILE": os.devnull,
        **{f"TENDER_{name.upper()}": value for name, value in settings.items()},
    }
    subprocess.run([TENDER, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = free_port()
    log = folder / "tender.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "tender.api.app:app_from_env", "--factory"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    service = Tender(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(service.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("tender did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield service
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="session")
def tender_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tender]:
    # cards without PINs: the form has the code field alone
    with running_tender(tmp_path_factory.mktemp("browser"), redeem_pin="none") as service:
        yield service


@pytest.fixture(scope="session")
def shop_origin(tender_service: Tender) -> Iterator[str]:
    with shop_server(tender_service.url) as origin:
        yield origin


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (make test installs Debian's chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def chromium(chromium_path: Path) -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("the playwright package is missing (make install adds it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), headless=True
        )
        yield browser
        await browser.close()


@dataclass
class Shop:
    """One shopper's tab on the shop page, with every request it made."""

    page: Any
    origin: str
    tender: Tender
    name: str
    requests: list[Any] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    cart: dict[str, Any] | None = None

    async def open(self, kind: str = "esm", *, session: str | None = None, **params: str) -> str:
        """Opens the page on a new session for a new cart (unless given) and waits until the
        component is mounted or its start failed; returns the session id."""
        if session is None:
            self.cart = await self.tender.cart()
            session = await self.tender.session(self.origin, self.cart["id"])
        query = {"processorUrl": self.tender.url, "sessionId": session, **params}
        await self.page.goto(f"{self.origin}/{kind}.html?{urlencode(query)}")
        await self.page.wait_for_function(
            "document.body.dataset.ready === 'true'"
            " || (window.calls || []).some((c) => c.name === 'startFailed')"
        )
        return session

    async def calls(self, name: str | None = None) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = await self.page.evaluate("window.calls")
        return [c for c in calls if name is None or c["name"] == name]

    async def wait_for(self, name: str, count: int = 1) -> list[dict[str, Any]]:
        await self.page.wait_for_function(
            "([name, count]) => window.calls.filter((c) => c.name === name).length >= count",
            arg=[name, count],
        )
        return await self.calls(name)

    async def wait_for_error(self, code: str) -> None:
        await self.page.wait_for_function(
            "(code) => window.calls.some("
            "(c) => c.name === 'giftcard:error' && c.detail && c.detail.code === code)",
            arg=code,
        )

    async def shot(self, step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{step}.png", full_page=True)

    def processor_requests(self) -> list[Any]:
        return [r for r in self.requests if r.url.startswith(self.tender.url)]


async def _shop(chromium: Any, tender: Tender, origin: str, name: str) -> AsyncIterator[Shop]:
    context = await chromium.new_context(locale="en-US")
    page = await context.new_page()
    shop = Shop(page, origin, tender, re.sub(r"[^\w.-]+", "-", name).strip("-"))
    page.on("request", lambda request: shop.requests.append(request))
    page.on("pageerror", lambda error: shop.page_errors.append(str(error)))
    try:
        yield shop
    finally:
        await context.close()
    # Whatever a test did, the enabler never let an exception escape into the page.
    assert shop.page_errors == []


@pytest.fixture
async def shop(
    chromium: Any, tender_service: Tender, shop_origin: str, request: pytest.FixtureRequest
) -> AsyncIterator[Shop]:
    async for shop in _shop(chromium, tender_service, shop_origin, request.node.name):
        yield shop


@pytest.fixture(scope="session")
def pin_tender_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tender]:
    """A processor whose shoppers type a PIN besides the code."""
    folder = tmp_path_factory.mktemp("browser-pins")
    with running_tender(folder, redeem_pin="required") as service:
        yield service


@pytest.fixture
async def pin_shop(
    chromium: Any, pin_tender_service: Tender, shop_origin: str, request: pytest.FixtureRequest
) -> AsyncIterator[Shop]:
    async for shop in _shop(chromium, pin_tender_service, shop_origin, request.node.name):
        yield shop


@dataclass
class Demo:
    tender: Tender
    client_secret: str
    """What the demo's backend holds and the page must never see."""


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """tender as ``make run`` starts it: development on, the demo's client made by
    ``tender demo init`` (its cards are not used: each test issues its own). One for every
    module that drives the demo shop."""
    folder = tmp_path_factory.mktemp("demo")
    demo_file = folder / "demo.json"
    with running_tender(folder, env="development", demo_file=str(demo_file)) as service:
        env = {
            **os.environ,
            "TENDER_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'tender.db'}",
            "TENDER_ENV": "development",
            "TENDER_DEMO_FILE": str(demo_file),
            "TENDER_ENV_FILE": os.devnull,
        }
        env["TENDER_SECRET_KEY"] = SECRET
        subprocess.run([TENDER, "demo", "init"], env=env, check=True, capture_output=True)
        yield Demo(service, json.loads(demo_file.read_text())["client_secret"])
