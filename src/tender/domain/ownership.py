"""Who may see what. A merchant's API client sees its own carts, orders, payments and sessions;
a merchant admin sees everyone's. Anything a caller may not see answers exactly like something
that does not exist, so ids of other merchants' objects cannot be probed."""

from __future__ import annotations

from typing import Protocol, TypeGuard, TypeVar

from tender.domain.principals import Principal, PrincipalKind


class Owned(Protocol):
    @property
    def owner(self) -> str:
        """The actor of the merchant's client the object belongs to."""
        ...


T = TypeVar("T", bound=Owned)


def owner_of(principal: Principal) -> str | None:
    """Whose objects a caller sees: a client its own, a merchant admin all (``None``)."""
    return None if principal.kind is PrincipalKind.ADMIN else principal.actor


def visible(found: T | None, owner: str | None) -> TypeGuard[T]:
    """Whether ``found`` exists for a caller that sees ``owner``'s objects (see ``owner_of``)."""
    return found is not None and (owner is None or found.owner == owner)
