"""Allow-lists of origins hold what a browser's ``Origin`` header says, or refuse."""

from __future__ import annotations

import pytest

from tender.domain.errors import InvalidInput
from tender.domain.sessions import check_metadata, origin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://shop.example", "https://shop.example"),
        ("https://shop.example/", "https://shop.example"),
        ("HTTPS://Shop.Example:8443", "https://shop.example:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_an_origin_is_kept_as_browsers_send_it(text: str, expected: str) -> None:
    assert origin(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "*",
        "null",
        "shop.example",
        "https://shop.example/checkout",
        "https://shop.example?x=1",
        "https://user@shop.example",
        "https://shop.example:99999",
        "ftp://shop.example",
        "https://*.shop.example",
        "https://" + "a" * 200 + ".example",
    ],
)
def test_what_no_browser_sends_is_no_origin(text: str) -> None:
    assert origin(text) is None
    with pytest.raises(InvalidInput):
        check_metadata({"allowedOrigins": [text]})
