"""Split tender: how much of the order each gift card covers (the Norce/Awardit rule).

Cards are used in the order they were added; each covers ``min(available, still to pay)``.
Recomputed whenever the total or the set of cards changes, so the amounts shown to the shopper
and the amounts reserved at Processing are always the same function of the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CardBalance:
    payment_id: str
    available: int
    """The card's available balance (its ``upperLimitAmount``)."""


@dataclass(frozen=True, slots=True)
class Allocation:
    payment_id: str
    amount: int
    upper_limit: int


def allocate(total: int, cards: list[CardBalance]) -> list[Allocation]:
    """Cover ``total`` with ``cards`` in order; cards beyond the total cover 0 (kept, not dropped,
    so the shopper sees them and a later increase of the total uses them again)."""
    if total < 0:
        raise ValueError("the total cannot be negative")
    remaining = total
    result = []
    for card in cards:
        amount = min(max(card.available, 0), remaining)
        remaining -= amount
        result.append(Allocation(card.payment_id, amount, max(card.available, 0)))
    return result
