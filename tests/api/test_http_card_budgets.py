"""Enumeration budgets beyond the session, over HTTP on SQLite and PostgreSQL: failed card
lookups are limited per card code (hashed), per API client across all its sessions, and per
shopper address behind declared proxies; a spoofed ``X-Forwarded-For`` changes nothing; a
refused call looks nothing up; an anonymous caller writes no counter."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db.client_store import SqlClientStore
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore, cards
from tender.db.rate_limit_store import SqlLimitCounters, limits_table
from tender.domain.errors import StoreUnavailable
from tender.domain.money import Money
from tender.runtime import Runtime
from tests.api.conftest import ALL_SCOPES, SECRET, assert_error
from tests.conftest import FakeClock

SHOP = "https://shop.example"
PIN = "4711"
UNKNOWN = "9999 8888 7777 6666"
PROXY = "10.0.0.2"
SHOPPER = "198.51.100.7"


@dataclass
class Service:
    runtime: Runtime
    clock: FakeClock
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def http(self, peer: str = "192.0.2.1") -> httpx.AsyncClient:
        """A client whose requests come from ``peer``, as the service sees the connection."""
        app = create_app(runtime=self.runtime)
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.clients.append(client)
        return client

    async def headers(self, scopes: str = ALL_SCOPES) -> dict[str, str]:
        """A new API client and a token of it."""
        client, secret = await self.runtime.db.transaction(
            lambda c: self.runtime.oauth.create_client(SqlClientStore(c), name="t", scopes=scopes)
        )
        response = await self.http().post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client.client_id, secret),
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def card(self, pin: str | None = PIN) -> tuple[str, str]:
        (issued,) = await self.runtime.db.transaction(
            lambda c: self.runtime.ledger.issue(
                SqlLedgerStore(c), amount=Money(5000, "EUR"), pin=pin
            )
        )
        return issued.card.id, issued.code

    async def session(self, headers: dict[str, str]) -> dict[str, str]:
        """A cart of the client behind ``headers`` and a browser session on it."""
        http = self.http()
        cart = await http.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=headers)
        created = await http.post(
            "/sessions",
            json={
                "cart": {"cartRef": {"id": cart.json()["id"]}},
                "metadata": {"allowedOrigins": [SHOP]},
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        return {"X-Session-Id": created.json()["id"]}

    async def pin_attempts(self, card_id: str) -> int:
        async def read(conn: Any) -> int:
            stmt = select(cards.c.failed_pin_attempts).where(cards.c.id == card_id)
            return int((await conn.execute(stmt)).scalar_one())

        return await self.runtime.db.read(read)

    async def counter_keys(self) -> list[str]:
        async def read(conn: Any) -> list[str]:
            return [str(k) for k in (await conn.execute(select(limits_table.c.key))).scalars()]

        return await self.runtime.db.read(read)

    async def counts(self) -> dict[str, int]:
        async def read(conn: Any) -> dict[str, int]:
            rows = await conn.execute(select(limits_table.c.key, limits_table.c.count))
            return {str(key): int(count) for key, count in rows}

        return await self.runtime.db.read(read)


Start = Callable[..., Awaitable[Service]]

GENEROUS = {
    "card_failures_per_code": "1000/hour",
    "card_failures_per_client": "1000/hour",
    "card_failures_per_ip": "1000/hour",
}


@pytest.fixture
async def start(db: Database) -> AsyncIterator[Start]:
    services: list[Service] = []

    async def make(**overrides: Any) -> Service:
        settings = Settings(
            env=Environment.TEST,
            database_url=db.url,
            secret_key=SECRET,
            sweep_interval_seconds=0,
            db_pool_size=5,
            **{**GENEROUS, **overrides},
        )
        clock = FakeClock()
        service = Service(Runtime(settings, clock=clock), clock)
        services.append(service)
        return service

    yield make
    for service in services:
        for client in service.clients:
            await client.aclose()
        await service.runtime.close()


async def balance(
    http: httpx.AsyncClient, headers: dict[str, str], code: str, pin: str | None = PIN
) -> httpx.Response:
    return await http.post("/giftcards/balance", json={"code": code, "pin": pin}, headers=headers)


async def add_in_browser(
    http: httpx.AsyncClient,
    session: dict[str, str],
    code: str,
    pin: str | None = PIN,
    forwarded: str | None = None,
) -> httpx.Response:
    headers = {**session, "Origin": SHOP}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return await http.post("/session/giftcards", json={"code": code, "pin": pin}, headers=headers)


def assert_limited(response: httpx.Response, longest: int) -> int:
    assert_error(response, 429, "TooManyRequests")
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= longest
    return wait


def state_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["status"]["state"])


# --- per card code -------------------------------------------------------------------------


async def test_failed_lookups_of_one_code_are_limited_whoever_sends_them(start: Start) -> None:
    service = await start(card_failures_per_code="3/hour")
    http = service.http()
    card_id, code = await service.card()
    other_id, other_code = await service.card()
    # Three different clients, one wrong PIN each: the code's budget is spent.
    for _ in range(3):
        assert state_of(await balance(http, await service.headers(), code, "0000")) == "NotFound"
    fourth = await service.headers()
    limited = await balance(http, fourth, code.lower().replace(" ", "-"), PIN)
    assert_limited(limited, 3600)
    # Refused before the lookup: even the right PIN was not compared or counted.
    assert await service.pin_attempts(card_id) == 3
    # Other codes are not affected, nor is the budget spent by successes.
    for _ in range(5):
        assert state_of(await balance(http, fourth, other_code)) == "Valid"
    assert await service.pin_attempts(other_id) == 0
    service.clock.advance(hours=1)
    assert state_of(await balance(http, await service.headers(), code)) == "Valid"


async def test_codes_are_counted_under_a_keyed_hash_never_in_clear(start: Start) -> None:
    service = await start()
    http = service.http()
    headers = await service.headers()
    _, code = await service.card()
    await balance(http, headers, code, "0000")
    await balance(http, headers, UNKNOWN, "0000")
    keys = await service.counter_keys()
    code_keys = [k for k in keys if "/code/" in k]
    assert len(code_keys) == 2
    digits = re.sub(r"\D", "", code)
    card_hash = service.runtime.hasher.code(digits).hex()
    for key in keys:
        for secret in (digits, re.sub(r"\D", "", UNKNOWN), card_hash[:16], digits[-8:]):
            assert secret not in key


async def test_every_lookup_route_draws_on_the_code_budget(start: Start) -> None:
    service = await start(card_failures_per_code="3/hour")
    _, code = await service.card()
    headers = await service.headers()
    http = service.http()
    cart = (
        await http.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=headers)
    ).json()
    server_add = await http.post(
        f"/carts/{cart['id']}/giftcards", json={"code": code, "pin": "0000"}, headers=headers
    )
    assert_error(server_add, 400, "InvalidGiftCard")
    norce = await http.post(
        f"/api/checkout/v1/orders/{cart['id']}/payments",
        json={"cardId": code, "code": "0000"},
        headers=headers,
    )
    assert norce.status_code == 400, norce.text
    browser = await add_in_browser(http, await service.session(headers), code, "0000")
    assert_error(browser, 400, "InvalidGiftCard")
    assert_limited(await balance(http, headers, code), 3600)
    assert_limited(
        await http.post(
            f"/carts/{cart['id']}/giftcards", json={"code": code, "pin": PIN}, headers=headers
        ),
        3600,
    )


# --- per client, across its sessions ------------------------------------------------------


async def test_failures_count_per_client_across_all_its_sessions(start: Start) -> None:
    service = await start(card_failures_per_client="4/hour")
    http = service.http()
    merchant = await service.headers()
    sessions = [await service.session(merchant) for _ in range(5)]
    # Each session stays far below its own budget of 10 a minute ...
    for index, session in enumerate(sessions[:4]):
        unknown = f"1234 5678 9012 {index:04d}"
        assert_error(await add_in_browser(http, session, unknown), 400, "InvalidGiftCard")
    # ... but the client behind them has spent its budget: a fresh session is refused, and so
    # are the client's own server calls.
    _, code = await service.card()
    assert_limited(await add_in_browser(http, sessions[4], code), 3600)
    assert_limited(await balance(http, merchant, code), 3600)
    # Another merchant client is not affected.
    other = await service.headers()
    added = await add_in_browser(http, await service.session(other), code)
    assert added.status_code == 201, added.text
    service.clock.advance(hours=1)
    refreshed = await service.headers()
    assert state_of(await balance(http, refreshed, UNKNOWN)) == "NotFound"


async def test_successful_lookups_spend_no_failure_budget(start: Start) -> None:
    service = await start(card_failures_per_client="2/hour", card_failures_per_code="2/hour")
    http = service.http()
    headers = await service.headers()
    _, code = await service.card()
    for _ in range(6):
        assert state_of(await balance(http, headers, code)) == "Valid"
    counts = await service.counts()
    failures = {key: count for key, count in counts.items() if "/failed/" in key}
    assert len(failures) == 2  # the client's and the code's, each claimed and given back
    assert set(failures.values()) == {0}, counts
    assert [count for key, count in counts.items() if "/attempts/" in key] == [6]


async def test_keyed_successful_lookups_give_their_claims_back(start: Start) -> None:
    """With an Idempotency-Key the claims are given back once the request's transaction has
    ended (on PostgreSQL; with it, on SQLite): six found cards spend none of a budget of two."""
    service = await start(card_failures_per_client="2/hour", card_failures_per_code="2/hour")
    http = service.http()
    headers = await service.headers()
    _, code = await service.card()
    for index in range(6):
        keyed = {**headers, "Idempotency-Key": f"look-{index}"}
        assert state_of(await balance(http, keyed, code)) == "Valid"
    counts = await service.counts()
    failures = {key: count for key, count in counts.items() if "/failed/" in key}
    assert len(failures) == 2
    assert set(failures.values()) == {0}, counts


# --- racing lookups ------------------------------------------------------------------------


async def test_racing_failures_never_overshoot_the_client_budget(start: Start) -> None:
    """Failures are claimed before the lookup: of sixteen unknown codes sent at once against
    a budget of four, exactly four are looked up and the rest refused. Counted after the
    lookup, every one of them passed the budget's check before the first was counted."""
    service = await start(card_failures_per_client="4/hour")
    headers = await service.headers()
    https = [service.http() for _ in range(16)]
    answers = await asyncio.gather(
        *(
            balance(http, headers, f"1234 5678 9012 {index:04d}", None)
            for index, http in enumerate(https)
        )
    )
    looked_up = [a for a in answers if a.status_code == 200]
    assert [state_of(a) for a in looked_up] == ["NotFound"] * 4
    for refused in answers:
        if refused.status_code != 200:
            assert_limited(refused, 3600)
    counts = await service.counts()
    assert [n for key, n in counts.items() if "/failed/client/" in key] == [4]


async def test_racing_wrong_pins_of_one_code_compare_no_more_than_its_budget(
    start: Start,
) -> None:
    service = await start(card_failures_per_code="3/hour")
    card_id, code = await service.card()
    clients = [await service.headers() for _ in range(3)]
    answers = await asyncio.gather(
        *(balance(service.http(), clients[n % 3], code, "0000") for n in range(12))
    )
    assert sorted(a.status_code for a in answers) == [200] * 3 + [429] * 9
    assert await service.pin_attempts(card_id) == 3
    # The refused calls gave their claims back: once the window ends the code is whole.
    service.clock.advance(hours=1)
    assert state_of(await balance(service.http(), await service.headers(), code)) == "Valid"


async def test_a_lookup_that_errs_gives_its_claim_back(start: Start) -> None:
    """A card that is found but cannot pay (another currency's cart) is no failure: the
    claim is given back, as for a balance that answers."""
    service = await start(card_failures_per_client="1/hour")
    headers = await service.headers()
    http = service.http()
    _, code = await service.card()
    cart = (
        await http.post("/carts", json={"currency": "USD", "country": "US"}, headers=headers)
    ).json()
    for _ in range(3):
        refused = await http.post(
            f"/carts/{cart['id']}/giftcards", json={"code": code, "pin": PIN}, headers=headers
        )
        assert_error(refused, 422, "CurrencyMismatch")
    counts = await service.counts()
    assert [n for key, n in counts.items() if "/failed/client/" in key] == [0]


async def test_a_give_back_that_fails_leaves_the_answer_and_the_claim(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup's work has committed when its claims are given back: a database that fails
    just then must not turn a balance (or a redemption holding money) into an error the page
    retries. The claim stays counted, the safe side."""
    service = await start(card_failures_per_client="5/hour")
    headers = await service.headers()
    _, code = await service.card()

    async def lost(*_: Any, **__: Any) -> None:
        raise StoreUnavailable("the database cannot be reached")

    monkeypatch.setattr(SqlLimitCounters, "give_back", lost)
    assert state_of(await balance(service.http(), headers, code)) == "Valid"
    counts = await service.counts()
    assert [n for key, n in counts.items() if "/failed/client/" in key] == [1]


async def test_a_keyed_lookup_whose_give_back_fails_never_answers_work_it_lost(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an Idempotency-Key, SQLite's counters join the request's one transaction: a
    give-back failing there takes the request's work with it, so the request must fail too
    (it answered 201 for a card that was never added). On PostgreSQL the counters are apart
    and the answer stands."""
    service = await start()
    headers = await service.headers()
    http = service.http()
    _, code = await service.card()
    line = {"sku": "T", "name": "Tea", "quantity": 1, "taxRate": "19.00",
            "price": {"centAmount": 2000, "currency": "EUR"}}  # fmt: skip
    cart = await http.post(
        "/carts", json={"currency": "EUR", "country": "DE", "lineItems": [line]}, headers=headers
    )

    async def lost(*_: Any, **__: Any) -> None:
        raise StoreUnavailable("the database cannot be reached")

    monkeypatch.setattr(SqlLimitCounters, "give_back", lost)
    added = await http.post(
        f"/carts/{cart.json()['id']}/giftcards",
        json={"code": code, "pin": PIN},
        headers={**headers, "Idempotency-Key": "add-once"},
    )
    payments = (await http.get(f"/carts/{cart.json()['id']}", headers=headers)).json()["payments"]
    if service.runtime.db.is_sqlite:
        assert_error(added, 503, "ServiceUnavailable")
        assert payments == []
    else:
        assert added.status_code == 201, added.text
        assert len(payments) == 1


# --- per shopper address -------------------------------------------------------------------


async def test_failures_are_limited_per_shopper_address_behind_trusted_proxies(
    start: Start,
) -> None:
    service = await start(trusted_proxies=["10.0.0.0/8"], card_failures_per_ip="3/hour")
    proxy = service.http(PROXY)
    merchant = await service.headers()
    # Three failures of one shopper, each in a fresh session, whatever they put left of the
    # address the proxy appended.
    for forwarded in (SHOPPER, f"6.6.6.6, {SHOPPER}", f"{SHOPPER}, 10.0.0.3"):
        session = await service.session(merchant)
        failed = await add_in_browser(proxy, session, UNKNOWN, forwarded=forwarded)
        assert_error(failed, 400, "InvalidGiftCard")
    _, code = await service.card()
    for forwarded in (SHOPPER, f"203.0.113.50, {SHOPPER}", f"{SHOPPER}:61000, 10.9.9.9"):
        session = await service.session(merchant)
        limited = await add_in_browser(proxy, session, code, forwarded=forwarded)
        assert_limited(limited, 3600)
    # Another shopper behind the same proxy is not affected.
    added = await add_in_browser(
        proxy, await service.session(merchant), code, forwarded="198.51.100.8"
    )
    assert added.status_code == 201, added.text


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(start: Start) -> None:
    service = await start(trusted_proxies=["10.0.0.0/8"], card_failures_per_ip="3/hour")
    attacker = service.http("203.0.113.9")
    merchant = await service.headers()
    for index in range(3):
        session = await service.session(merchant)
        spoofed = f"198.51.100.{index + 20}"
        failed = await add_in_browser(attacker, session, UNKNOWN, forwarded=spoofed)
        assert_error(failed, 400, "InvalidGiftCard")
    _, code = await service.card()
    # A new forged address, or one that names a trusted proxy, changes nothing.
    for forged in ("198.51.100.99", PROXY, f"{SHOPPER}, {PROXY}"):
        limited = await add_in_browser(
            attacker, await service.session(merchant), code, forwarded=forged
        )
        assert_limited(limited, 3600)
    neighbour = service.http("203.0.113.10")
    added = await add_in_browser(neighbour, await service.session(merchant), code)
    assert added.status_code == 201, added.text


async def test_addresses_are_budgeted_only_once_proxies_are_declared(start: Start) -> None:
    # Unset: behind an undeclared proxy every shopper would share one address; none counts.
    unset = await start(card_failures_per_ip="1/hour")
    http = unset.http("203.0.113.9")
    merchant = await unset.headers()
    for _ in range(3):
        failed = await add_in_browser(http, await unset.session(merchant), UNKNOWN)
        assert_error(failed, 400, "InvalidGiftCard")
    assert not [k for k in await unset.counter_keys() if "/ip/" in k]


async def test_with_no_proxy_declared_the_peer_is_the_shopper(start: Start) -> None:
    service = await start(trusted_proxies=[], card_failures_per_ip="2/hour")
    merchant = await service.headers()
    first, same_64, other_64 = "2001:db8:1:2::5", "2001:db8:1:2:ffff::6", "2001:db8:1:3::5"
    for peer in (first, same_64):
        failed = await add_in_browser(
            service.http(peer), await service.session(merchant), UNKNOWN, forwarded="192.0.2.77"
        )
        assert_error(failed, 400, "InvalidGiftCard")
    _, code = await service.card()
    # One IPv6 subscriber holds a /64: its addresses share one budget.
    limited = await add_in_browser(
        service.http("2001:db8:1:2::99"), await service.session(merchant), code
    )
    assert_limited(limited, 3600)
    added = await add_in_browser(service.http(other_64), await service.session(merchant), code)
    assert added.status_code == 201, added.text


# --- who is counted at all -----------------------------------------------------------------


async def test_anonymous_callers_write_no_counter(start: Start) -> None:
    service = await start(trusted_proxies=[])
    http = service.http()
    _, code = await service.card()
    for _ in range(5):
        junk = await balance(http, {"Authorization": "Bearer junk"}, code, "0000")
        assert junk.status_code == 401
        bad_session = await add_in_browser(http, {"X-Session-Id": "tnd_ss_nope"}, code, "0000")
        assert bad_session.status_code == 401
        missing = await add_in_browser(http, {}, code, "0000")
        assert missing.status_code == 401
    assert await service.counter_keys() == []


async def test_keyed_requests_count_the_same(start: Start) -> None:
    """With an Idempotency-Key every unit of work joins the request's one transaction; a wrong
    PIN and the failure it costs are still kept with the 400 answer."""
    service = await start(card_failures_per_code="3/hour")
    http = service.http()
    headers = await service.headers()
    card_id, code = await service.card()
    cart = (
        await http.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=headers)
    ).json()
    for index in range(3):
        refused = await http.post(
            f"/carts/{cart['id']}/giftcards",
            json={"code": code, "pin": "0000"},
            headers={**headers, "Idempotency-Key": f"wrong-{index}"},
        )
        assert_error(refused, 400, "InvalidGiftCard")
    assert await service.pin_attempts(card_id) == 3
    limited = await http.post(
        f"/carts/{cart['id']}/giftcards",
        json={"code": code, "pin": PIN},
        headers={**headers, "Idempotency-Key": "right"},
    )
    assert_limited(limited, 3600)
    assert await service.pin_attempts(card_id) == 3
