"""The Spryker Glue seed's samples (``tests/api/fixtures``, copied from the seed's text), and
a field-by-field check of a document of tender's against one: the same names, the same JSON
types, all the way down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "spryker-glue-checkout-api.txt"
"""Where the seed lies beside the repository, when it does (a copy of the shared folder)."""

NULL_IN_TENDER = frozenset({"attributes.items[].metadata.image"})
"""Parts the sample fills that tender has no data for: tender keeps no product images."""


def sample(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def from_seed() -> dict[str, Any] | None:
    """The two samples as the seed's text has them, or ``None`` where the seed is not beside
    the repository."""
    if not SEED.exists():
        return None
    text = SEED.read_text()
    decoder = json.JSONDecoder()
    orders = text.index('    "included": [\n        {\n            "type": "orders"')
    order, _ = decoder.raw_decode(text, text.index("{", orders + 15))
    address, _ = decoder.raw_decode(text, text.index("{", text.index('"addresses": [')))
    return {
        "glue_order_sample.json": order,
        "glue_checkout_data_address_sample.json": address,
    }


def _kind(value: Any) -> str:
    """The JSON type (a bool is not a number)."""
    for kind, types in (
        ("boolean", (bool,)),
        ("number", (int,)),
        ("string", (str,)),
        ("array", (list,)),
        ("object", (dict,)),
    ):
        if isinstance(value, types):
            return kind
    return "null" if value is None else type(value).__name__


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where ``ours`` departs from the sample ``theirs``: a name missing or extra, a JSON type
    that differs. A part the sample leaves ``null`` may be anything (Spryker fills it when it
    has it); each element of an array is held to the sample's first."""
    if theirs is None:
        return []
    if ours is None:
        return [] if path in NULL_IN_TENDER else [f"{path}: null where the seed has a value"]
    if _kind(ours) != _kind(theirs):
        return [f"{path}: {_kind(ours)} where the seed has {_kind(theirs)}"]
    if isinstance(theirs, dict):
        found = [f"{path}.{k}: missing" for k in theirs if k not in ours]
        found += [f"{path}.{k}: not in the seed" for k in ours if k not in theirs]
        for key in theirs.keys() & ours.keys():
            found += differences(ours[key], theirs[key], f"{path}.{key}".lstrip("."))
        return found
    if isinstance(theirs, list) and theirs:
        return [p for item in ours for p in differences(item, theirs[0], f"{path}[]")]
    return []
