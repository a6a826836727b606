"""Who sees what: a client its own objects, an admin everyone's, nobody what does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from tender.domain.ownership import owner_of, visible
from tender.domain.principals import Principal, PrincipalKind


@dataclass(frozen=True)
class Thing:
    owner: str


def test_a_client_sees_its_own_objects_only() -> None:
    client = Principal(PrincipalKind.CLIENT, "shop", frozenset())
    owner = owner_of(client)
    assert owner == "client:shop"
    assert visible(Thing("client:shop"), owner)
    assert not visible(Thing("client:other"), owner)
    assert not visible(None, owner)


def test_an_admin_sees_everyones_objects_but_not_missing_ones() -> None:
    admin = Principal(PrincipalKind.ADMIN, "ops", frozenset())
    assert owner_of(admin) is None
    assert visible(Thing("client:other"), None)
    assert not visible(None, None)
