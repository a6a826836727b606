"""An error item as every answer carries it, before a flavour writes it (``tender.api.errors``
writes tender's shape, a seed's flavour its own)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Problem:
    """One error item before it is written: its English text, and what a translation needs
    (the message's template and its values, and where in the request the field is)."""

    code: str
    message: str
    field: str | None = None
    template: str | None = None
    """The catalogue's key for this message (``message`` is its English rendering)."""
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)
    source: str = "body"
    """Where ``field`` is: ``body``, ``query``, ``header`` or ``path``."""

    def item(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}
