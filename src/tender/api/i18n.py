"""The shopper's language: ``Accept-Language`` negotiated against the languages tender's
message catalogue has, messages translated from it, and amounts written as that language
writes money.

The catalogue is gettext's ``.po`` format (``locale/<lang>/LC_MESSAGES/tender.po`` beside this
module, shipped as package data), read with Babel once per process: its keys are tender's
English messages, with ``{name}`` placeholders for the values a message carries. English needs
no catalogue; a message the catalogue lacks stays English.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.pofile import read_po
from babel.numbers import format_currency

from tender.domain.countries import Territory
from tender.domain.errors import DomainError
from tender.domain.money import Money, exponent

DEFAULT = "en"
LANGUAGES = ("en", "de")
"""What tender speaks: English, and every language with a catalogue below."""
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "tender"
MONEY_PATTERNS = {"en": "#,##0.00 ¤¤"}
"""How a language writes an amount in a message, where CLDR's standard pattern is not what
tender wants: English keeps the ISO code after the number (``15.00 EUR``), as tender's own
messages do; German takes CLDR's ``15,00 €``. The fraction digits are always the currency's."""
_RANGE = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_WEIGHT = re.compile(r"0(?:\.\d{0,3})?|1(?:\.0{0,3})?")
MAX_HEADER = 500
"""Longer ``Accept-Language`` headers are not parsed: no real browser sends one."""


def preferred(header: str | None) -> list[str]:
    """The language ranges of an ``Accept-Language`` header, most wanted first (RFC 9110
    §12.5.4: quality values, ties kept in the order given, ``q=0`` meaning "not this one")."""
    if not header or len(header) > MAX_HEADER:
        return []
    ranked: list[tuple[int, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *options = (piece.strip() for piece in part.split(";"))
        if not _RANGE.match(tag):
            continue
        quality = 1000
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value.strip())
        if quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def _quality(value: str) -> int:
    """A weight of at most three decimals between 0 and 1, in thousandths (a malformed one
    counts as 0: not wanted)."""
    if not _WEIGHT.fullmatch(value):
        return 0
    whole, _, fraction = value.partition(".")
    return int(whole) * 1000 + int((fraction + "000")[:3])


def negotiate(header: str | None) -> str:
    """The language to answer in: the first wanted one tender has (``de-CH`` is answered in
    ``de``), English when none fits."""
    wanted = [DEFAULT if tag == "*" else tag for tag in preferred(header)]
    found = negotiate_locale(wanted, list(LANGUAGES), sep="-")
    return str(found).split("_")[0].lower() if found else DEFAULT


@cache
def catalogue(language: str) -> Mapping[str, str]:
    """English message → its translation, read from the ``.po`` file once."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT or not path.is_file():
        return {}
    with path.open("rb") as file:
        read = read_po(file, locale=language)
    return {
        str(m.id): str(m.string)
        for m in read
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def format_money(money: Money, language: str) -> str:
    """The amount in major units, exactly (a ``Decimal`` scaled from the integer minor units,
    with the currency's own fraction digits), as ``language`` writes money."""
    digits = exponent(money.currency)
    value = Decimal(money.minor).scaleb(-digits)
    return format_currency(
        value,
        money.currency,
        format=_money_pattern(language, digits),
        locale=language,
        currency_digits=False,  # CLDR's would round HUF 100.50 to "101 Ft"
    )


@cache
def _money_pattern(language: str, digits: int) -> str:
    """The language's pattern for money, with exactly the currency's ISO fraction digits."""
    pattern = MONEY_PATTERNS.get(language)
    if pattern is None:
        pattern = str(Locale.parse(language).currency_formats["standard"].pattern)
    return re.sub(r"\.0+", "." + "0" * digits if digits else "", pattern)


@cache
def territory_name(territory: Territory, language: str) -> str:
    """The country as ``language`` names it (CLDR's names, through Babel); English keeps
    the ISO 3166 name the rest of tender uses."""
    if language == DEFAULT:
        return territory.name
    return str(Locale.parse(language).territories.get(territory.alpha2, territory.name))


def _value(value: object, language: str) -> str:
    if isinstance(value, Money):
        return format_money(value, language)
    if isinstance(value, Territory):
        return territory_name(value, language)
    if isinstance(value, DomainError):
        return localize(value.template, value.params, language)
    if isinstance(value, tuple | list):
        return ", ".join(_value(v, language) for v in value)
    return str(value)


def localize(template: str, params: Mapping[str, object], language: str) -> str:
    """``template`` in ``language`` (its translation, or itself), with each value written the
    way that language writes it."""
    text = catalogue(language).get(template, template)
    if not params:
        return text
    values = {name: _value(v, language) for name, v in params.items()}
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        # A translation that names a value the message does not carry (the catalogue's
        # test keeps them alike) must not turn an error into a 500: fall back to English.
        return template.format(**values)


def translate(text: str, language: str) -> str:
    """A name or a message without values (a payment method's name)."""
    return catalogue(language).get(text, text)
