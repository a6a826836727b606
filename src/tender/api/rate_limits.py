"""Budgets on what helps guess gift card codes, on top of the per-card PIN lockout.

Every balance check and add-card call is one *card lookup*. Before it runs:

- the attempt is counted per browser session or per API client (``TENDER_CARD_ATTEMPTS_PER_…``),
  whether it will succeed or not;
- the *failure* budgets that apply must not be spent: per card code (``…_PER_CODE``, keyed by
  a keyed hash of the code, never the code), per API client across its own calls and all of
  its browser sessions (``…_PER_CLIENT``), and per shopper address for browser calls when the
  merchant declared its proxies (``…_PER_IP``, see ``tender.domain.network``).

Before it, in the same statement, a failure is *claimed* against each failure budget, as if
the lookup would fail: a budget a claim takes past its limit refuses the call, which answers
429 with ``Retry-After``, looks up nothing and gives its claims back. A lookup that then
succeeds gives its claims back; one that failed (unknown code, wrong or missing PIN, locked
card) keeps them. So failures are counted before the comparison, atomically: however many
lookups race, no more of them than a budget allows get as far as comparing, which counting
after the fact could not promise (a burst of concurrent failures overshot the budget by the
burst's size). A crash between the claim and the give-back leaves a failure counted that did
not happen, the safe side. All of this happens only after the caller was authenticated, so an
anonymous request writes no counter. The counters live in the database
(``Runtime.limit_counters``), so every worker shares them; ``limits`` parses the rates.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute, parse_many
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.api.security import runtime_of
from tender.domain.codes import normalise_code
from tender.domain.errors import InvalidCardCode, InvalidCredentials, RateLimited
from tender.domain.network import Network, budget_name, client_address, parse_networks
from tender.domain.principals import Principal
from tender.domain.sessions import Session
from tender.domain.upkeep import Counted
from tender.runtime import Runtime

NAMESPACE = "tender"
log = logging.getLogger(__name__)


@functools.cache
def rates(notation: str) -> tuple[RateLimitItem, ...]:
    """``10/hour;30/day`` as ``limits`` items (the settings were checked at start-up)."""
    return tuple(
        type(item)(item.amount, item.multiples, namespace=NAMESPACE)
        for item in parse_many(notation)
    )


@functools.cache
def per_minute(amount: int) -> RateLimitItem:
    return RateLimitItemPerMinute(amount, namespace=NAMESPACE)


@functools.cache
def proxies(declared: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(declared)


def identity(value: str) -> str:
    """A counter's name for a principal: as is when short and plain, else a digest (admin
    subjects are e-mail addresses of any length; keys have 200 characters)."""
    if len(value) <= 80 and value.isascii() and value.isprintable() and "/" not in value:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Budget:
    """One counter: a rate, and who it counts."""

    item: RateLimitItem
    identifiers: tuple[str, ...]
    key: str
    """The counter's name, ``item.key_for(*identifiers)``, worked out once."""


def budgets(items: Sequence[RateLimitItem], *identifiers: str) -> list[Budget]:
    named = ("cards", *identifiers)
    joined = "/".join(named)
    return [Budget(item, named, f"{item.namespace}/{joined}/{_rate_key(item)}") for item in items]


@functools.cache
def _rate_key(item: RateLimitItem) -> str:
    """The end of ``item.key_for(…)``, which names the rate; for text identifiers the rest is
    the namespace and the identifiers joined with ``/``. Worked out once per rate: a balance
    check names five counters, and ``key_for`` costs a dozen calls each."""
    return item.key_for()[len(item.namespace) + 1 :]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a card lookup is counted against."""

    attempts: Budget
    """Counted for every lookup: the session's or the API client's per-minute budget."""
    client: str
    """The API client behind the call: the caller itself, or the one that opened the session."""
    address: str | None
    """The shopper's address (or IPv6 /64), for browser calls behind declared proxies."""


@dataclass(frozen=True, slots=True)
class ShopperBudget:
    """A shopper without a session (a Glue guest or customer): budgeted like a session, on
    its own, and within the budget of the merchant's client whose cart it checks out."""

    key: str
    """The guest's or customer's actor (a guest's is a keyed hash of its id)."""
    owner: str
    """The API client behind the cart."""


def browser_caller(request: Request, runtime: Runtime, session: Session) -> Caller:
    return shopper_caller(request, runtime, "session:" + session.token_hash.hex(), session.owner)


def shopper_caller(request: Request, runtime: Runtime, key: str, owner: str) -> Caller:
    """Attempts per shopper (``key``), failures per client (``owner``) and per address."""
    settings = runtime.settings
    address = None
    if settings.trusted_proxies is not None:
        found = client_address(
            request.client.host if request.client else None,
            request.headers.getlist("x-forwarded-for"),
            proxies(tuple(settings.trusted_proxies)),
        )
        address = budget_name(found) if found is not None else None
    (attempts,) = budgets(
        [per_minute(settings.card_attempts_per_session_minute)], "attempts", identity(key)
    )
    return Caller(attempts, identity(owner), address)


def server_caller(runtime: Runtime, principal: Principal) -> Caller:
    """A server call comes from the merchant's backend: its address says nothing about the
    shopper, so only the client and the code are budgeted."""
    client = identity(principal.actor)
    (attempts,) = budgets(
        [per_minute(runtime.settings.card_attempts_per_client_minute)], "attempts", client
    )
    return Caller(attempts, client, None)


def failure_budgets(runtime: Runtime, caller: Caller, code: str) -> list[Budget]:
    settings = runtime.settings
    found = budgets(rates(settings.card_failures_per_client), "failed", "client", caller.client)
    try:
        normalised = normalise_code(code)
    except InvalidCardCode:
        pass  # a malformed code names no card; the other budgets still count it
    else:
        code_key = runtime.hasher.budget_key(normalised)
        found += budgets(rates(settings.card_failures_per_code), "failed", "code", code_key)
    if caller.address is not None:
        found += budgets(rates(settings.card_failures_per_ip), "failed", "ip", caller.address)
    return found


@dataclass(frozen=True, slots=True)
class Admission:
    """What counting a lookup found: the claims to give back unless it fails, and whether
    it may run at all."""

    claimed: dict[str, Counted]
    """The failure budgets' counters as this lookup's claims left them."""
    wait: int | None
    """Seconds until every spent budget has a new window, or ``None`` when none is spent."""


async def _admit(
    conn: AsyncConnection, runtime: Runtime, caller: Caller, failures: Sequence[Budget]
) -> Admission:
    """Count the attempt and claim a failure against each failure budget, in one statement."""
    now = runtime.clock.now().timestamp()
    budgets = (caller.attempts, *failures)
    counted = await runtime.limit_counters(conn, lambda: now).claim(
        [(budget.key, budget.item.get_expiry()) for budget in budgets]
    )
    ends = [counted[b.key].expires_at for b in budgets if counted[b.key].count > b.item.amount]
    wait = max(1, math.ceil(max(ends) - now)) if ends else None
    return Admission({budget.key: counted[budget.key] for budget in failures}, wait)


async def _give_back(runtime: Runtime, claimed: dict[str, Counted]) -> None:
    """Give the claims back, or leave them counted: the lookup's work has committed by now
    (a redemption holds the card's money), so a give-back that fails (the database gone for
    a moment) must not turn its answer into an error the page would retry. A claim left
    counts as a failure until its window ends, the safe side."""
    now = runtime.clock.now().timestamp()
    try:
        await runtime.db.apart_statement(
            lambda conn: runtime.limit_counters(conn, lambda: now).give_back(claimed)
        )
    except Exception:
        if runtime.db.request_failed():
            raise  # SQLite: the give-back joined the request's transaction, now lost with it
        log.warning("a card lookup's failure claims were not given back", exc_info=True)


@dataclass(slots=True)
class CardLookup:
    """A lookup the budgets let through. An ``InvalidCredentials`` leaving it counts as a
    failure; a lookup that reports failure without raising (a balance check answering
    ``NotFound``) says so with ``failed()``."""

    failures: list[Budget]
    failure: bool = False

    def failed(self) -> None:
        self.failure = True


@asynccontextmanager
async def card_lookup(
    request: Request,
    *,
    code: str,
    session: Session | None = None,
    principal: Principal | None = None,
    shopper: ShopperBudget | None = None,
) -> AsyncIterator[CardLookup]:
    """Guard one lookup of ``code`` by a browser ``session``, a Glue ``shopper`` or a server
    ``principal``: 429 before it if a budget is spent; its failure claimed before it, and
    given back unless it failed.

    The counters are written apart from the lookup's transaction on PostgreSQL (even inside a
    keyed request, whose give-back waits until its transaction has ended and then takes the
    request's own connection), so they stay counted whatever the lookup does, and a shared
    counter is never locked for the rest of a request. SQLite's one writer is the request's:
    there a keyed request's counts commit with its answer, and go only with an answer of 5xx,
    which says nothing of the card."""
    runtime = runtime_of(request)
    if session is not None:
        caller = browser_caller(request, runtime, session)
    elif shopper is not None:
        caller = shopper_caller(request, runtime, shopper.key, shopper.owner)
    elif principal is not None:
        caller = server_caller(runtime, principal)
    else:
        raise TypeError("a card lookup is made by a session, a shopper or a principal")
    lookup = CardLookup(failure_budgets(runtime, caller, code))
    await runtime.db.begin_request()  # a retry that has its answer already counts nothing
    admitted = await runtime.db.apart_statement(
        lambda conn: _admit(conn, runtime, caller, lookup.failures)
    )
    if admitted.wait is not None:
        await _give_back(runtime, admitted.claimed)  # refused, it looked nothing up
        raise RateLimited(retry_after=admitted.wait)
    try:
        yield lookup
    except InvalidCredentials:
        lookup.failed()
        raise
    finally:
        if not lookup.failure:  # in a keyed request, once its transaction has ended
            await runtime.db.after_request(lambda: _give_back(runtime, admitted.claimed))
