"""The message catalogue and language negotiation, without HTTP."""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import tender
from tender.api import i18n
from tender.api.compat.spryker.checkout_data import METHOD_NAMES
from tender.api.errors import DATABASE_UNAVAILABLE, UNEXPECTED
from tender.api.validation_problems import VALIDATION_TEMPLATES
from tender.domain.errors import DomainError
from tender.domain.money import MAX_MINOR, Money

ROOT = Path(__file__).parents[2]
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def _subclasses(cls: type[DomainError]) -> Iterator[type[DomainError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _every_error() -> list[type[DomainError]]:
    for module in pkgutil.walk_packages(tender.__path__, "tender."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    return [DomainError, *_subclasses(DomainError)]


def test_every_error_and_name_has_a_german_message() -> None:
    german = i18n.catalogue("de")
    missing = [c.__name__ for c in _every_error() if c.message not in german]
    assert missing == []
    answers = (UNEXPECTED, DATABASE_UNAVAILABLE)  # the service's own failures
    for text in (*VALIDATION_TEMPLATES.values(), *METHOD_NAMES.values(), *answers):
        assert text in german, text


def test_translations_keep_their_placeholders() -> None:
    for english, german in i18n.catalogue("de").items():
        if PLACEHOLDER.search(english):
            assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(german))
        assert german != english, english


def test_the_catalogue_ships_with_the_package() -> None:
    """pyproject's package data takes every catalogue, so an installed tender speaks German."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["tender"]
    package = ROOT / "src" / "tender"
    files = list((package / "api" / "locale").rglob("*.po"))
    assert files
    for file in files:
        relative = file.relative_to(package)
        assert any(relative.match(p) for p in patterns), relative


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-CH;q=0.9, en;q=0.8", "de"),
        ("en;q=0.8, de-CH;q=0.9", "de"),
        ("de, en;q=0.9", "de"),
        ("en, de", "en"),
        ("fr, de;q=0.001", "de"),
        ("fr", "en"),
        ("de;q=0", "en"),
        ("de;q=1.5, en;q=0.1", "en"),
        ("de;q=0.9999", "en"),
        ("DE", "de"),
        ("*", "en"),
        ("x" * 501, "en"),
        ("de\x00", "en"),
        (None, "en"),
    ],
)
def test_negotiation(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language


@pytest.mark.parametrize(
    ("money", "english", "german"),
    [
        (Money(1500, "EUR"), "15.00 EUR", "15,00\xa0€"),
        (Money(123456789, "EUR"), "1,234,567.89 EUR", "1.234.567,89\xa0€"),
        (Money(1500, "JPY"), "1,500 JPY", "1.500\xa0¥"),
        (Money(15001, "KWD"), "15.001 KWD", "15,001\xa0KWD"),
        (Money(MAX_MINOR - 1, "EUR"), "99,999,999,999.99 EUR", "99.999.999.999,99\xa0€"),
        (Money(-250, "EUR"), "-2.50 EUR", "-2,50\xa0€"),
        # CLDR shows forints whole; ISO's hundredths are never rounded away in a message
        (Money(1000050, "HUF"), "10,000.50 HUF", "10.000,50\xa0HUF"),
    ],
)
def test_money_is_written_exactly_per_language(money: Money, english: str, german: str) -> None:
    assert i18n.format_money(money, "en") == english
    assert i18n.format_money(money, "de") == german


def test_a_value_that_is_an_error_is_translated_too() -> None:
    inner = DomainError("the gift card has no balance left")
    outer = DomainError(
        "gift card ****{last4} could not be reserved: {reason}", last4="1234", reason=inner
    )
    assert (
        outer.detail
        == "gift card ****1234 could not be reserved: the gift card has no balance left"
    )
    assert i18n.localize(outer.template, outer.params, "de") == (
        "die Geschenkkarte ****1234 konnte nicht reserviert werden: "
        "die Geschenkkarte hat kein Guthaben mehr"
    )
