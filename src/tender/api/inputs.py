"""What a request carries in its URL and JSON body is checked here, once, for every route,
before a handler can pass it to a database.

- A NUL character anywhere (a path id, a query parameter, a JSON string or key) is refused with
  400: PostgreSQL answers NUL in ``text`` and ``jsonb`` with an error, which would be a 500.
- JSON bodies must also hold no lone surrogate (no UTF-8 form, so no row can hold it) and no
  non-finite number (``NaN`` parses in Python, not in ``jsonb``), at any depth, keys included.
  Models that ignore unknown fields (the Glue documents) are covered too, since the check reads
  the parsed document, not the model.
- Each path parameter has a rule for what an id of its kind looks like. Ids tender makes are
  UUIDs; an order is also found by its reference. A value that cannot be such an id answers
  exactly like an unknown one, with that resource's 404, and no query is made for it. With
  several ids in a path, the first (left to right) that cannot be one decides.

``check_request`` runs as an application-wide dependency: after ``AuthFirstRoute`` has checked
the caller and after FastAPI has parsed the body, before the route's own parameters and body
model are validated, so it covers every route, including routes added later.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from tender.domain.cart import CartNotFound
from tender.domain.errors import CardNotFound, NotFound
from tender.domain.ids import is_uuid
from tender.domain.payments import OrderNotFound, PaymentNotFound
from tender.domain.shipping import ShippingMethodNotFound
from tender.services.sessions import SESSION_PREFIX, SessionNotFound

MAX_REFERENCE = 100
"""Order references are 1 to 100 characters (the column's width)."""
MAX_SESSION_ID = 100


@dataclass(frozen=True, slots=True)
class IdRule:
    """What an id in the path looks like, and the answer when it cannot be one."""

    valid: Callable[[str], bool]
    not_found: type[NotFound]


def _reference_or_id(text: str) -> bool:
    return is_uuid(text) or 1 <= len(text) <= MAX_REFERENCE


def _session_id(text: str) -> bool:
    return text.startswith(SESSION_PREFIX) and len(text) <= MAX_SESSION_ID and text.isascii()


def _shipping_method_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 10


CART = IdRule(is_uuid, CartNotFound)
PATH_ID_RULES: dict[str | None, IdRule] = {
    "card_id": IdRule(is_uuid, CardNotFound),
    "cart_id": CART,
    "payment_id": IdRule(is_uuid, PaymentNotFound),
    "order_id": IdRule(_reference_or_id, OrderNotFound),
    "session_id": IdRule(_session_id, SessionNotFound),
    "method_id": IdRule(_shipping_method_id, ShippingMethodNotFound),
    None: IdRule(lambda text: len(text) <= 200, NotFound),
}
"""By parameter name; ``None`` is the catch-all for a name nobody gave a rule yet."""
PREFIX_RULES: dict[str, dict[str, IdRule]] = {
    # Norce's "order" is a tender cart: its id is the cart's, unknown ones are CartNotFound.
    "/api/checkout/v1/orders/{order_id}": {"order_id": CART},
}


def rule_for(path: str, name: str) -> IdRule:
    for prefix, rules in PREFIX_RULES.items():
        if path.startswith(prefix) and name in rules:
            return rules[name]
    return PATH_ID_RULES.get(name, PATH_ID_RULES[None])


def text_problem(text: str) -> str | None:
    """Why no database can store ``text``, or None."""
    if "\x00" in text:
        return "text must not contain NUL characters"
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return "text must be valid Unicode (no lone surrogates)"
    return None


def _problem(item: Any) -> str | None:
    if isinstance(item, str):
        return text_problem(item)
    if isinstance(item, float) and not math.isfinite(item):
        return "numbers must be finite"
    return None


def json_problem(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where in a parsed JSON document something unstorable sits, and what it is, or None.
    Iterative, so that nesting as deep as the parser allows cannot exhaust the stack here; the
    path is only traced once something was found, since nearly every body is fine."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if text_problem(key):
                    return _trace(value)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif _problem(item):
            return _trace(value)
    return None


def _trace(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                problem = text_problem(key)
                if problem:
                    return where, f"keys: {problem}"
                stack.append((child, (*where, key)))
        elif isinstance(item, list):
            stack.extend((child, (*where, index)) for index, child in enumerate(item))
        else:
            problem = _problem(item)
            if problem:
                return where, problem
    return None


def _refuse(location: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": location,
                "msg": message,
                "input": None,
                "ctx": {"error": message},
            }
        ]
    )


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _json_body(request: Request) -> Any:
    """The body FastAPI parsed (cached on the request), or None when there is no JSON body.
    A body FastAPI did not need is parsed here too; one that does not parse is left to the
    route, which ignores it or answers 400."""
    if not is_json(request.headers.get("content-type", "")):
        return None
    try:
        return await request.json()
    except (ValueError, RecursionError):
        return None


def check_path(path: str, params: dict[str, Any]) -> None:
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        problem = text_problem(value)
        if problem:
            raise _refuse(("path", name), problem)
        rule = rule_for(path, name)
        if not rule.valid(value):
            raise rule.not_found()


async def check_request(request: Request) -> None:
    """The application-wide dependency; see the module docstring."""
    route = request.scope.get("route")
    path = route.path_format if isinstance(route, APIRoute) else request.url.path
    check_path(path, request.path_params)
    # Query strings are decoded as UTF-8 with replacement, so a NUL (``%00``) is all that can
    # be wrong there; only a query that holds one is parsed here.
    raw_query: bytes = request.scope.get("query_string", b"")
    if b"%00" in raw_query or b"\x00" in raw_query:
        for name, value in request.query_params.multi_items():
            problem = text_problem(name) or text_problem(value)
            if problem:
                raise _refuse(("query", name), problem)
    if isinstance(route, APIRoute) and route.body_field is None:
        return  # no body to store (a route that reads its own calls ``check_json`` itself)
    raw = await request.body()
    if raw and not maybe_unstorable(raw):
        return
    body = await _json_body(request)
    if body is not None:
        check_json(body)


def check_json(body: Any) -> None:
    """Refuse a parsed JSON body that holds what no database can store, naming where."""
    found = json_problem(body)
    if found:
        where, problem = found
        raise _refuse(("body", *where), problem)


_MAYBE_UNSTORABLE = re.compile(
    rb"\\u0000|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]|NaN|Infinity|[0-9][eE]|(?<![0-9])[0-9]{300}"
)
"""What in a UTF-8 JSON text can parse to something unstorable: a NUL or a surrogate only
from an escape (or, for surrogates, bytes Python's decoder lets pass), a non-finite number
only from ``NaN``, ``Infinity`` or a float too large (an exponent, or some 300 digits; a run
is tried from its first digit only, else runs of 299 cost the search 150 steps a byte)."""


def maybe_unstorable(raw: bytes) -> bool:
    """Whether a body needs ``json_problem``'s walk: nearly none does, and walking every value
    of a large body cost up to 0.4 s a mebibyte, run before an ungated route knew its caller.
    A text in another encoding than UTF-8 (JSON allows UTF-16 and UTF-32) is always walked."""
    if json.detect_encoding(raw) not in ("utf-8", "utf-8-sig"):
        return True
    return _MAYBE_UNSTORABLE.search(raw) is not None
