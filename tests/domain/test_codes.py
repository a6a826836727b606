from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tender.domain.codes import (
    ALPHANUMERIC,
    CodeFormat,
    Hasher,
    check_pin_format,
    luhn_check_digit,
    luhn_valid,
    mask,
    normalise_code,
)
from tender.domain.errors import InvalidCardCode, InvalidInput


def test_luhn_known_values() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def _luhn_digit_by_digit(digits: str) -> str:
    """The textbook check digit: double every other digit from the right, subtract 9 over 9."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


@given(st.text(alphabet="0123456789", max_size=40))
def test_luhn_agrees_with_the_textbook(digits: str) -> None:
    check = luhn_check_digit(digits)
    assert check == _luhn_digit_by_digit(digits)
    if digits:
        assert luhn_valid(digits + check)
        wrong = str((int(check) + 1) % 10)
        assert not luhn_valid(digits + wrong)


@pytest.mark.parametrize("digits", ["12a4", "١٢٣", "12 34", "-1"])
def test_luhn_refuses_what_is_not_ascii_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="not ASCII digits"):
        luhn_check_digit(digits)
    assert not luhn_valid(digits + "0")


def test_a_small_draw_keeps_its_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    """The random part is written with ``str``: a draw of 42 is ``000000000000042``."""
    monkeypatch.setattr("tender.domain.codes.secrets.randbelow", lambda _: 42)
    code = CodeFormat().generate()
    assert code[:15] == "000000000000042"
    assert luhn_valid(code)
    prefixed = CodeFormat(length=18, prefix="60").generate()
    assert prefixed[:17] == "60000000000000042"
    assert luhn_valid(prefixed)


def test_default_codes_are_16_luhn_digits_grouped_by_four() -> None:
    fmt = CodeFormat()
    codes = {fmt.generate() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 16
        assert code.isdigit()
        assert luhn_valid(code)
    shown = fmt.display("1234567812345670")
    assert shown == "1234 5678 1234 5670"
    assert normalise_code(shown) == "1234567812345670"


def test_alphanumeric_format_avoids_lookalikes() -> None:
    fmt = CodeFormat(length=14, alphabet=ALPHANUMERIC, luhn=False, prefix="GC")
    code = fmt.generate()
    assert code.startswith("GC")
    assert len(code) == 14
    assert not set(code[2:]) & set("01OI")


def test_formats_that_are_too_guessable_are_refused() -> None:
    with pytest.raises(InvalidInput):
        CodeFormat(length=8)
    with pytest.raises(InvalidInput):
        CodeFormat(alphabet=ALPHANUMERIC, luhn=True)
    # A prefix and a check digit are no secret: 14 characters of which 2 are fixed and one
    # computed leave 11 random ones, one too few.
    with pytest.raises(InvalidInput, match="at least 12 random characters"):
        CodeFormat(length=14, prefix="60")
    assert len(CodeFormat(length=15, prefix="60").generate()) == 15
    with pytest.raises(InvalidInput, match="digits-only prefix"):
        CodeFormat(length=16, prefix="GC")
    assert len(CodeFormat(length=12, alphabet=ALPHANUMERIC, luhn=False).generate()) == 12


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("1234 5678 9012 3456", "1234567890123456"),
        ("abcd-efgh", "ABCDEFGH"),
        (" ab.cd_ef ", "ABCDEF"),
    ],
)
def test_normalise_accepts_how_people_type(raw: str, normal: str) -> None:
    assert normalise_code(raw) == normal


@pytest.mark.parametrize("raw", ["", "abc", "12€4567", "x" * 65, "<script>"])
def test_normalise_refuses_garbage(raw: str) -> None:
    with pytest.raises(InvalidCardCode):
        normalise_code(raw)


def test_hashes_are_keyed_and_bound_to_the_card() -> None:
    a, b = Hasher(b"k" * 32), Hasher(b"j" * 32)
    assert a.code("1234") != b.code("1234")
    assert a.code("1234") == a.code("1234")
    assert a.pin("card-1", "1234") != a.pin("card-2", "1234")
    assert a.pin_matches("card-1", "1234", a.pin("card-1", "1234"))
    assert not a.pin_matches("card-1", "1235", a.pin("card-1", "1234"))
    assert a.secret("x") != a.code("x")


def test_mask_and_pin_format() -> None:
    assert mask("3456") == "****3456"
    assert check_pin_format(" 123456 ") == "123456"
    for bad in ["12", "abcd", "1234567890123"]:
        with pytest.raises(InvalidInput):
            check_pin_format(bad)
