"""Gift card codes and PINs: generation, normalisation and keyed hashing.

Codes are bearer secrets, so they are drawn from ``secrets``, never stored in clear (a keyed
HMAC-SHA256 finds the card, the last four characters are kept for display) and compared only
through their hashes or ``hmac.compare_digest``, which take the same time whatever matches.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from tender.domain.errors import InvalidCardCode, InvalidInput

DIGITS = "0123456789"
ALPHANUMERIC = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
"""Upper-case letters and digits without the look-alikes 0/O and 1/I, for codes read aloud."""

MIN_RANDOM_CHARACTERS = 12
"""Fewer random characters make a code guessable: 12 digits are ~40 bits, and a script that
gets past every budget still needs ~10^11 tries per card it finds."""

_SEPARATORS = re.compile(r"[\s\-_.]+")
_VALID = re.compile(r"^[A-Z0-9]{4,64}$")


_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes([0, 2, 4, 6, 8, 1, 3, 5, 7, 9]))
"""Each digit's value, and its value doubled less 9 where that passes 9 (every other digit)."""


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits + check`` pass the Luhn test (catches one typo in ten).

    The digits' values are summed as bytes (``bytes.translate``, then ``sum``) rather than one
    by one in Python: issuing a batch computes one per card, and this is four times faster."""
    if not digits.isascii() or (digits and not digits.isdigit()):
        raise ValueError(f"not ASCII digits: {digits!r}")
    backwards = digits.encode()[::-1]  # the digit next to the check digit is doubled
    total = sum(backwards[0::2].translate(_DOUBLED)) + sum(backwards[1::2].translate(_VALUE))
    return str((10 - total % 10) % 10)


def luhn_valid(digits: str) -> bool:
    return (
        digits.isascii()
        and digits.isdigit()
        and len(digits) > 1
        and luhn_check_digit(digits[:-1]) == digits[-1]
    )


@dataclass(frozen=True, slots=True)
class CodeFormat:
    """How issued codes look: ``length`` characters (check digit included), shown in groups."""

    length: int = 16
    alphabet: str = DIGITS
    luhn: bool = True
    group: int = 4
    prefix: str = ""

    def __post_init__(self) -> None:
        body = self.length - len(self.prefix) - (1 if self.luhn else 0)
        if body < MIN_RANDOM_CHARACTERS:
            # The prefix and the check digit are known to anyone who has seen one card.
            raise InvalidInput(
                f"a code needs at least {MIN_RANDOM_CHARACTERS} random characters besides its "
                f"prefix and check digit; this format has {body}"
            )
        if self.luhn and self.alphabet != DIGITS:
            raise InvalidInput("a Luhn check digit needs a digits-only alphabet")
        if not re.fullmatch(r"[A-Z0-9]*", self.prefix):
            raise InvalidInput("the code prefix must be upper-case letters and digits")
        if self.luhn and not self.prefix.isdigit() and self.prefix:
            raise InvalidInput("a Luhn check digit needs a digits-only prefix")

    def generate(self) -> str:
        """A new normalised code (no separators)."""
        alphabet = self.alphabet
        base = len(alphabet)
        random_len = self.length - len(self.prefix) - (1 if self.luhn else 0)
        # One draw of the whole random part, then its digits in the alphabet's base: as
        # uniform as one draw per character, and an order of magnitude faster for batches.
        value = secrets.randbelow(base**random_len)
        if alphabet == DIGITS:  # the same digits, written by ``str`` instead of one by one
            random_part = str(value).zfill(random_len)
        else:
            chars = []
            for _ in range(random_len):
                value, index = divmod(value, base)
                chars.append(alphabet[index])
            random_part = "".join(chars)
        body = self.prefix + random_part
        return body + luhn_check_digit(body) if self.luhn else body

    def display(self, code: str) -> str:
        """Group a normalised code for print, e.g. ``6012 3456 7890 1234``."""
        if self.group <= 0:
            return code
        return " ".join(code[i : i + self.group] for i in range(0, len(code), self.group))


def normalise_code(raw: str) -> str:
    """Accept codes as people type them: any case, with spaces, dashes, dots or underscores."""
    code = _SEPARATORS.sub("", raw).upper()
    if not _VALID.match(code):
        raise InvalidCardCode("a gift card code is 4 to 64 letters or digits", field="code")
    return code


def mask(last4: str) -> str:
    """What a code looks like everywhere but the issuing call."""
    return f"****{last4}"


def generate_pin(length: int = 6) -> str:
    return "".join(secrets.choice(DIGITS) for _ in range(length))


def check_pin_format(pin: str) -> str:
    pin = pin.strip()
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise InvalidInput("a PIN is 4 to 12 digits", field="pin")
    return pin


class Hasher:
    """Keyed hashes of codes, PINs and secrets, so a copy of the database alone reveals none."""

    def __init__(self, key: bytes) -> None:
        self._code_key = hmac.new(key, b"tender/card-code", hashlib.sha256).digest()
        self._pin_key = hmac.new(key, b"tender/card-pin", hashlib.sha256).digest()
        self._secret_key = hmac.new(key, b"tender/secret", hashlib.sha256).digest()
        self._budget_key = hmac.new(key, b"tender/code-budget", hashlib.sha256).digest()

    def code(self, normalised_code: str) -> bytes:
        return hmac.new(self._code_key, normalised_code.encode(), hashlib.sha256).digest()

    def pin(self, card_id: str, pin: str) -> bytes:
        """Bound to the card's id so equal PINs on two cards hash differently."""
        return hmac.new(self._pin_key, f"{card_id}:{pin}".encode(), hashlib.sha256).digest()

    def pin_matches(self, card_id: str, pin: str, stored: bytes) -> bool:
        return hmac.compare_digest(self.pin(card_id, pin), stored)

    def budget_key(self, normalised_code: str) -> str:
        """Names a code in the rate-limit table. Its own key, so a budget row cannot be joined
        to the card it counts against, and 128 bits are plenty to keep codes apart."""
        digest = hmac.new(self._budget_key, normalised_code.encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def secret(self, value: str) -> bytes:
        """For high-entropy secrets (client secrets, tokens, session ids): one HMAC is enough."""
        return hmac.new(self._secret_key, value.encode(), hashlib.sha256).digest()
