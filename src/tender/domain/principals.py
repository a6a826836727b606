"""Principals and scopes, independent of how the credentials reached us."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    MANAGE_PAYMENTS = "manage_payments"
    MANAGE_ORDERS = "manage_orders"
    VIEW_SESSIONS = "view_sessions"
    VIEW_API_CLIENTS = "view_api_clients"
    """Lets a connector check that its own credentials carry the scopes it needs."""
    MANAGE_CHECKOUT_PAYMENT_INTENTS = "manage_checkout_payment_intents"
    INTROSPECT_OAUTH_TOKENS = "introspect_oauth_tokens"
    MANAGE_GIFTCARDS = "manage_giftcards"
    VIEW_GIFTCARDS = "view_giftcards"


IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.MANAGE_GIFTCARDS: frozenset({Scope.VIEW_GIFTCARDS}),
    Scope.MANAGE_PAYMENTS: frozenset({Scope.VIEW_SESSIONS}),
}


class InvalidScope(ValueError):
    pass


def parse_scopes(text: str | None) -> frozenset[Scope]:
    """Space-separated scope names; a commercetools-style ``:projectKey`` suffix is accepted."""
    scopes: set[Scope] = set()
    for item in (text or "").split():
        name = item.split(":", 1)[0]
        try:
            scopes.add(Scope(name))
        except ValueError:
            raise InvalidScope(f"unknown scope {item!r}") from None
    return frozenset(scopes)


def format_scopes(scopes: frozenset[Scope]) -> str:
    return " ".join(sorted(s.value for s in scopes))


class PrincipalKind(StrEnum):
    CLIENT = "client"
    ADMIN = "admin"
    SESSION = "session"
    """A shopper's browser, acting on one cart through ``X-Session-Id``."""
    GUEST = "guest"
    """A Glue guest, acting on the carts of its anonymous id (the subject is a keyed hash)."""
    CUSTOMER = "customer"
    """A customer of the merchant's identity provider, acting on the carts of its ``sub``."""


CLIENT_ACTOR = PrincipalKind.CLIENT.value + ":"
"""How an API client's actor begins (``Principal.actor``), and so a cart's or session's owner."""


def owning_client(owner: str) -> str | None:
    """The API client an owner (an actor, ``client:…``) is, or ``None`` for an admin."""
    return owner[len(CLIENT_ACTOR) :] if owner.startswith(CLIENT_ACTOR) else None


MAX_OWNER = 100
"""The longest actor that can own a cart, a session or an order (their ``owner`` column)."""
MAX_ADMIN_SUBJECT = MAX_OWNER - len("admin:")


def usable_admin_subject(subject: str) -> bool:
    """Whether an admin token's ``sub`` can be recorded as the owner of what the admin creates
    and in the ledger: printable (no NUL or lone surrogate, which PostgreSQL refuses), not
    blank or padded (``" ops"`` would pass for ``ops`` in a listing), and short enough."""
    return (
        0 < len(subject) <= MAX_ADMIN_SUBJECT
        and subject.isprintable()
        and subject == subject.strip()
    )


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    subject: str
    scopes: frozenset[Scope]

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes or any(scope in IMPLIED.get(s, ()) for s in self.scopes)

    @property
    def actor(self) -> str:
        """How the ledger records who did something."""
        return f"{self.kind.value}:{self.subject}"
