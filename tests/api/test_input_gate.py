"""The quick look at a raw JSON body that decides whether ``json_problem`` walks it: whatever
the walk would refuse, the look must let through to the walk, whatever the text's encoding or
escapes; and a route that takes no body never has one parsed, whoever sends it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tender.api.inputs import json_problem, maybe_unstorable
from tests.api.conftest import Api, assert_error

UNSTORABLE_TEXT = st.sampled_from(["\x00", "\ud800", "\udfff", "a\x00b", "\udbff\udc00x\ud9ab"])
TEXT = st.one_of(st.text(max_size=8), UNSTORABLE_TEXT)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
DOCUMENTS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)


def encodings(value: Any) -> list[bytes]:
    """The ways a client may send ``value``: escaped or raw, UTF-8 (with surrogates let
    through, as Python's JSON decoder reads them back), UTF-16 and UTF-32."""
    escaped, raw = json.dumps(value), json.dumps(value, ensure_ascii=False)
    texts = [escaped.encode(), raw.encode("utf-8", "surrogatepass")]
    texts += [escaped.encode(codec) for codec in ("utf-16-le", "utf-16-be", "utf-32")]
    return texts


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_whatever_the_walk_refuses_reaches_the_walk(value: Any) -> None:
    for text in encodings(value):
        if json_problem(json.loads(text)) is not None:
            assert maybe_unstorable(text), text


CRAFTED = [
    b'["\\uD800"]',
    b'{"\\uDBFF\\uDFFF\\uDC00": 1}',
    b'{"a": "\\u0000"}',
    b"[1E400]",
    b"[-1e999]",
    b"[1.0e+400]",
    b"[-Infinity]",
    b"[NaN]",
    b"[" + b"9" * 400 + b".5]",
    b'{"k": 1, "\xed\xa0\x80": 2}',
    b"\xef\xbb\xbf" + b'["\\u0000"]',
    '["\\u0000"]'.encode("utf-16"),
    '["\\ud800"]'.encode("utf-32-be"),
]


@pytest.mark.parametrize("text", CRAFTED)
def test_crafted_texts_reach_the_walk(text: bytes) -> None:
    assert json_problem(json.loads(text)) is not None, text
    assert maybe_unstorable(text), text


def test_plain_bodies_are_not_walked() -> None:
    plain = {"code": "1234 5678 9012 3456", "redeemAmount": {"centAmount": 500}, "x": [1, 2.5]}
    assert not maybe_unstorable(json.dumps(plain).encode())
    assert not maybe_unstorable(json.dumps(["ü", "€", "日本"], ensure_ascii=False).encode())


async def test_a_route_that_takes_no_body_never_parses_one(api: Api) -> None:
    """``GET /health`` with a JSON body: its NUL is not even looked at (it used to be parsed
    and walked whole, a mebibyte of ``[[],[],…]`` blocking the loop for 0.4 s, before any
    caller was known)."""
    junk = b"[" + b'"\\u0000",' * 1000 + b'"x"]'
    for path in ("/health", "/.well-known/jwks.json"):
        response = await api.client.request(
            "GET", path, content=junk, headers={"content-type": "application/json"}
        )
        assert response.status_code == 200, (path, response.text)


async def test_an_oversized_token_form_is_refused_before_it_is_decoded(api: Api) -> None:
    client_id, secret = await api.new_client("view_giftcards")
    form = b"grant_type=client_credentials&x=" + b"%41" * 3000
    response = await api.client.post(
        "/oauth/token",
        content=form,
        auth=(client_id, secret),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 400, "invalid_request")
    small = await api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert small.status_code == 200, small.text
