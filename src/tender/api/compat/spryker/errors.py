"""Glue's error documents: the flavour that writes every error of the Glue routes.

Each error keeps tender's shape (``statusCode``, ``message``, ``errors[].code/message/field``)
and gains JSON:API's members: ``status`` as a string, ``detail``, and ``source`` (``pointer``
into the request document for a field, ``parameter`` for a query parameter, ``header`` for a
header). Fields are named as Glue names them, messages are in the shopper's language
(``Accept-Language``, said back in ``Content-Language``), and the answer is
``application/vnd.api+json``. Middleware errors (body limit, idempotency key, refused origin)
reach this flavour too: ``tender.api.errors`` chooses it by the request's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from tender.api import i18n
from tender.api.compat.spryker.names import glue_field
from tender.api.compat.spryker.shoppers import GLUE_PATHS
from tender.api.problems import Problem

JSONAPI = "application/vnd.api+json"
PART = "part"
"""The value naming an address part in a message (``{part} is required``): renamed with its
field, so the message names what the client sent."""


def language(scope: Scope) -> str:
    return i18n.negotiate(Headers(scope=scope).get("accept-language"))


def _source(problem: Problem, field: str) -> dict[str, str]:
    if problem.source in ("header", "query", "path"):
        kind = {"header": "header", "query": "parameter", "path": "parameter"}[problem.source]
        return {kind: field}
    parts = field.split(".")
    if parts[0] != "data":  # tender names fields inside the resource's attributes
        parts = ["data", "attributes", *parts]
    return {"pointer": "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)}


def _text(problem: Problem, lang: str, field: str | None) -> str:
    params = dict(problem.params)
    if field and problem.field and params.get(PART) == problem.field.rpartition(".")[2]:
        params[PART] = field.rpartition(".")[2]
    if params:
        return i18n.localize(problem.template or problem.message, params, lang)
    if lang == i18n.DEFAULT:
        return problem.message
    return i18n.translate(problem.template or problem.message, lang)


def _item(problem: Problem, status: int, lang: str) -> dict[str, Any]:
    field = glue_field(problem.field) if problem.field and problem.source == "body" else None
    field = field or problem.field
    text = _text(problem, lang, field)
    item: dict[str, Any] = {"code": problem.code, "message": text}
    if field:
        item["field"] = field
        item["source"] = _source(problem, field)
    item["status"] = str(status)
    item["detail"] = text
    return item


class GlueErrors:
    """The ``Flavour`` of the Glue routes (see ``tender.api.errors``)."""

    def applies(self, path: str) -> bool:
        return path in GLUE_PATHS

    def render(
        self,
        scope: Scope,
        status: int,
        problems: Sequence[Problem],
        message: str | None,
        headers: dict[str, str],
    ) -> Response:
        lang = language(scope)
        items = [_item(p, status, lang) for p in problems]
        summary = i18n.translate(message, lang) if message else None
        body = {
            "statusCode": status,
            "message": summary or (items[0]["message"] if items else "Error"),
            "errors": items,
        }
        headers = {**headers, "Content-Language": lang, "Vary": "Accept-Language"}
        return JSONResponse(body, status_code=status, headers=headers, media_type=JSONAPI)
