"""The built-in gift card ledger: issue, check, reserve, capture, release, refund and correct.

Every method runs inside the caller's transaction and moves money with one conditional
statement, so two racing calls can never both spend the same available balance: the loser's
condition no longer holds and it gets a clear error instead.

One module per concern, each a mixin over ``LedgerBase``: ``issuing``, ``credentials`` (code
and PIN), ``reads``, ``holds``, ``movements`` (load, refund, adjust) and ``status``.
"""

from __future__ import annotations

from tender.services.ledger.credentials import Credentials
from tender.services.ledger.holds import Holds
from tender.services.ledger.issuing import MAX_BATCH, IssuedCard, Issuing
from tender.services.ledger.movements import ADJUST, LOAD, REFUND, Movement, Movements
from tender.services.ledger.reads import Reads
from tender.services.ledger.status import Statuses

__all__ = ["ADJUST", "LOAD", "MAX_BATCH", "REFUND", "IssuedCard", "Ledger", "Movement"]


class Ledger(Issuing, Credentials, Reads, Holds, Movements, Statuses):
    """Every use case of the ledger on one object, built once with the hasher, policy and
    clock; each call takes the store bound to the caller's transaction."""
