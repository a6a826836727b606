"""Gift card providers behind the one ``GiftCardProvider`` interface, chosen by config name.

A provider is built per transaction from a ``ProviderContext``: the built-in ledger works in
the caller's transaction through its store; an external provider would use only the actor and
its own HTTP client. Adding one is an entry in ``PROVIDERS`` and a value of
``TENDER_GIFT_CARD_PROVIDER``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tender.domain.ports import GiftCardProvider, LedgerStore, PinAttempts
from tender.providers.ledger import LedgerProvider
from tender.services.ledger import Ledger


@dataclass(frozen=True, slots=True)
class ProviderContext:
    ledger: Ledger
    store: LedgerStore
    """The ledger's storage, bound to the caller's transaction."""
    actor: str | None
    pins: PinAttempts
    """Where the ledger counts PIN attempts: apart from the caller's transaction."""


ProviderFactory = Callable[[ProviderContext], GiftCardProvider]

PROVIDERS: dict[str, ProviderFactory] = {
    "ledger": lambda context: LedgerProvider(
        context.ledger, context.store, context.pins, actor=context.actor
    ),
}


class UnknownProvider(ValueError):
    """The configured provider name is not in ``PROVIDERS``; the message lists the known ones."""


def provider_factory(name: str) -> ProviderFactory:
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise UnknownProvider(
            f"TENDER_GIFT_CARD_PROVIDER={name!r} is not a known provider ({known})"
        ) from None
