"""The PIN race over HTTP, on SQLite and PostgreSQL: 41 API clients, each with its own token,
send 40 wrong PINs and the right one for the same card at once, on 6 cards (the service-layer
race in ``tests/services/test_pin_race.py`` covers 20); the app's pool has a connection for
each of them. The service compares no more than
``TENDER_MAX_PIN_ATTEMPTS`` wrong PINs per card, and then refuses the right one.

The enumeration budgets are set wide here so that the lockout alone decides; how they limit
is ``test_http_card_budgets.py``'s subject.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db.client_store import SqlClientStore
from tender.db.engine import Database
from tender.db.ledger_store import SqlLedgerStore
from tender.domain.codes import Hasher
from tender.domain.money import Money
from tender.runtime import Runtime
from tests.api.conftest import SECRET

pytestmark = pytest.mark.xdist_group("postgres-races")  # many connections each: one at a time

CARDS = 6
CALLERS = 41
RIGHT_PIN = "135790"


class Compared:
    """PIN comparisons per card, counted in this process."""

    def __init__(self) -> None:
        self.wrong: Counter[str] = Counter()
        self.right: Counter[str] = Counter()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = Hasher.pin_matches

        def counting(hasher: Hasher, card_id: str, pin: str, stored: bytes) -> bool:
            matched = original(hasher, card_id, pin, stored)
            (self.right if matched else self.wrong)[card_id] += 1
            return matched

        monkeypatch.setattr(Hasher, "pin_matches", counting)


@pytest.fixture
async def runtime(db: Database) -> AsyncIterator[Runtime]:
    settings = Settings(
        env=Environment.TEST,
        database_url=db.url,
        secret_key=SECRET,
        sweep_interval_seconds=0,
        db_pool_size=CALLERS,
        db_apart_pool_size=2,  # attempts wait for their card's row in turn anyway; this keeps
        # the test well inside PostgreSQL's 100 connections, shared with the tests beside it
        card_failures_per_code="100000/hour",
        card_failures_per_client="100000/hour",
    )
    runtime = Runtime(settings)
    yield runtime
    await runtime.close()


async def _tokens(client: httpx.AsyncClient, runtime: Runtime) -> list[dict[str, str]]:
    headers = []
    for _ in range(CALLERS):
        api_client, secret = await runtime.db.transaction(
            lambda c: runtime.oauth.create_client(
                SqlClientStore(c), name="guesser", scopes="view_giftcards"
            )
        )
        token = await client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(api_client.client_id, secret),
        )
        headers.append({"Authorization": f"Bearer {token.json()['access_token']}"})
    return headers


@pytest.mark.parametrize("keyed", [False, True], ids=["keyless", "keyed"])
async def test_pin_guesses_from_41_clients_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """Keyed, each guess runs in a request transaction of its own, and its budgets' claims
    and its PIN attempt are written apart from it, in a pool of two (and its overflow)."""
    compared = Compared()
    compared.install(monkeypatch)
    rng = random.Random(41)
    issued = []
    for _ in range(CARDS):
        (card,) = await runtime.db.transaction(
            lambda c: runtime.ledger.issue(
                SqlLedgerStore(c), amount=Money(5000, "EUR"), pin=RIGHT_PIN
            )
        )
        issued.append(card)
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
        callers = await _tokens(http, runtime)
        valid: Counter[str] = Counter()
        for card in issued:
            pins = [f"{rng.randrange(10**6):06d}" for _ in range(CALLERS - 1)]
            pins = [p if p != RIGHT_PIN else "000000" for p in pins]
            pins.insert(rng.randrange(CALLERS), RIGHT_PIN)
            keys = [
                {"Idempotency-Key": f"{card.card.id}-{i}"} if keyed else {} for i in range(CALLERS)
            ]
            responses = await asyncio.gather(
                *(
                    http.post(
                        "/giftcards/balance",
                        json={"code": card.code, "pin": pin},
                        headers={**h, **key},
                    )
                    for pin, h, key in zip(pins, callers, keys, strict=True)
                )
            )
            assert {r.status_code for r in responses} == {200}
            states = Counter(r.json()["status"]["state"] for r in responses)
            assert set(states) <= {"Valid", "NotFound"}
            valid[card.card.id] = states["Valid"]
        for card in issued:
            card_id = card.card.id
            assert compared.wrong[card_id] == runtime.settings.max_pin_attempts
            assert compared.right[card_id] == valid[card_id] <= 1
        # Every card is locked now: the right PIN is refused and compared no more.
        before = sum(compared.right.values()) + sum(compared.wrong.values())
        for card in issued:
            after = await http.post(
                "/giftcards/balance",
                json={"code": card.code, "pin": RIGHT_PIN},
                headers=callers[0],
            )
            assert after.json()["status"]["state"] == "NotFound"
        assert sum(compared.right.values()) + sum(compared.wrong.values()) == before
