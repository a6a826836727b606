"""pydantic's complaints about a request, as tender's problems: each once, with a template a
translation can use, and the field named as the caller spelled it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tender.api.problems import Problem
from tender.domain import errors as e


def _distinct(errors: Sequence[Any]) -> list[Any]:
    """Each problem once: a body that a route and its card lookup dependency both read (see
    ``tender.api.card_lookups``) is validated, and found wrong, once for each."""
    seen: dict[tuple[str, tuple[Any, ...], str], Any] = {}
    for err in errors:
        seen.setdefault((err.get("type", ""), tuple(err.get("loc", ())), err.get("msg", "")), err)
    return list(seen.values())


VALIDATION_TEMPLATES = {
    "missing": "This field is required.",
    "string_too_long": "At most {max_length} characters are allowed.",
    "string_too_short": "At least {min_length} characters are required.",
    "too_long": "At most {max_length} entries are allowed.",
    "too_short": "At least {min_length} entries are required.",
    "string_type": "Text is expected here.",
    "int_type": "A whole number is expected here.",
    "int_parsing": "A whole number is expected here.",
    "int_from_float": "A whole number is expected here.",
    "bool_type": "true or false is expected here.",
    "list_type": "A list is expected here.",
    "model_type": "An object is expected here.",
    "dict_type": "An object is expected here.",
    "model_attributes_type": "An object is expected here.",
    "literal_error": "Expected {expected}.",
    "extra_forbidden": "This field is not allowed.",
}
"""Templates (the catalogue's keys) for pydantic's usual complaints, so a translation need
not parse pydantic's English; the English answer keeps pydantic's own text."""


def validation_problems(errors: Sequence[Any], body: Any) -> tuple[list[Problem], bool]:
    """The problems of pydantic's ``errors`` about a request whose parsed body is ``body``,
    and whether the body was no JSON at all."""
    problems: list[Problem] = []
    malformed = False
    for err in _distinct(errors):
        if err.get("type", "") == "json_invalid":
            malformed = True
            problems.append(Problem("InvalidJsonInput", "The request body is not valid JSON."))
            continue
        problems.append(_problem(err, body))
    return problems, malformed


def _problem(err: dict[str, Any], body: Any = None) -> Problem:
    kind = err.get("type", "")
    loc = tuple(err.get("loc", ()))
    body = body if loc[:1] == ("body",) else None
    message = str(err.get("msg", "invalid value"))
    ctx = err.get("ctx") or {}
    if kind == "value_error" and "error" in ctx:
        cause = ctx["error"]
        if isinstance(cause, e.DomainError):
            return Problem(
                cause.code, cause.detail, _field(loc, body), cause.template, cause.params
            )
        message = str(cause)
    code = "MissingField" if kind == "missing" else "InvalidField"
    template = VALIDATION_TEMPLATES.get(kind)
    params = {k: v for k, v in ctx.items() if isinstance(v, str | int)} if template else {}
    source = str(loc[0]) if loc and loc[0] in ("query", "header", "path") else "body"
    return Problem(code, message, _field(loc, body), template or message, params, source)


def _field(loc: tuple[Any, ...], body: Any = None) -> str | None:
    """The field as the caller spelled it: where a list holds objects of several kinds told
    apart by a field (the connector's ``actions``), pydantic puts the kind's name in the
    location (``actions.0.capturePayment.amount``), a key the request does not have."""
    parts: list[str] = []
    node = body
    names = [p for p in loc if p not in ("body", "query", "path", "header")]
    for index, part in enumerate(names):
        if _union_tag(node, part, last=index == len(names) - 1):
            continue
        parts.append(str(part))
        node = _inside(node, part)
    return ".".join(parts) or None


def _union_tag(node: Any, part: Any, *, last: bool) -> bool:
    """Whether ``part`` names the kind of the object ``node`` rather than one of its keys: not
    a key of it but the value of one, with the location going on inside it."""
    return (
        not last
        and isinstance(node, dict)
        and isinstance(part, str)
        and part not in node
        and any(value == part for value in node.values() if isinstance(value, str))
    )


def _inside(node: Any, part: Any) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
        return node[part]
    return None
