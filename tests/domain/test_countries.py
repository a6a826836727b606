"""Countries and postal code rules come from the data packages, read offline."""

from __future__ import annotations

import pycountry
import pytest

from tender.domain.countries import check_postal_code, country
from tender.domain.errors import InvalidInput


def test_every_iso_country_is_known_with_a_stable_numeric_id() -> None:
    found = [country(c.alpha_2) for c in pycountry.countries]
    assert all(c is not None for c in found)
    ids = [c.numeric for c in found if c is not None]
    assert len(set(ids)) == len(ids)
    germany = country("de")
    assert germany is not None
    assert (germany.numeric, germany.alpha3, germany.name) == (276, "DEU", "Germany")


@pytest.mark.parametrize("code", ["", "D", "DEU", "XX", "1A", "ÄÖ", "de\x00"])
def test_codes_that_name_no_country(code: str) -> None:
    assert country(code) is None
    check_postal_code(code, "anything", "postalCode")  # no rule to break


def test_a_country_without_a_postal_code_pattern_takes_any() -> None:
    without_pattern = [
        c for c in ("AE", "HK", "QA") if (k := country(c)) and not k.postal_code_pattern
    ]
    assert without_pattern
    check_postal_code(without_pattern[0], "whatever", "postalCode")


def test_a_wrong_postal_code_names_the_field_and_an_example() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_postal_code("DE", "1011", "shippingAddress.postalCode")
    assert raised.value.field == "shippingAddress.postalCode"
    assert raised.value.detail.startswith("postalCode is not a postal code of Germany, such as ")
