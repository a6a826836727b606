"""Finding a card by what its holder knows: the code, and the PIN if the card has one."""

from __future__ import annotations

from tender.domain.codes import normalise_code
from tender.domain.errors import CardNotFound, InvalidCardCode, InvalidCredentials
from tender.domain.ledger import NOT_FOUND_RESULT, BalanceResult, Card, balance_result
from tender.domain.money import check_currency
from tender.domain.ports import LedgerStore, PinAttempt, PinAttempts
from tender.services.ledger.base import LedgerBase


class Credentials(LedgerBase):
    async def find_by_code(self, store: LedgerStore, *, code: str) -> Card:
        """For trusted operators (the CLI): look a card up by code without its PIN."""
        found = await store.credentials_by_code_hash(self.hasher.code(normalise_code(code)))
        if found is None:
            raise CardNotFound()
        return found.card

    async def authenticate(
        self, store: LedgerStore, *, pins: PinAttempts, code: str, pin: str | None
    ) -> Card:
        """The card behind a code and PIN, or ``InvalidCredentials`` whatever went wrong:
        unknown code, wrong PIN, missing PIN and locked card answer alike.

        PIN attempts are budgeted per card in windows of ``pin_lockout``, so that no more than
        ``max_pin_attempts`` PINs are ever compared in one window, however many calls race:

        - A PIN is compared only after one conditional update has counted it. The update
          succeeds while the card's window holds fewer than ``max_pin_attempts`` attempts, or
          opens a new window (count 1) once the last one has closed. It is one atomic statement
          on both databases, and the row stays locked until the attempt is settled.
        - A wrong PIN stays counted although this call fails: ``pins`` counts it in a short
          transaction of its own, never by committing the caller's work (see ``PinAttempts``).
        - A right PIN gives back its own attempt and nothing more. It never clears the wrong
          ones, so an attacker who interleaves guesses with the card's owner gains no guess
          from the owner's success, and no guess still being compared is forgotten.
        - A full window locks the card: every PIN, the right one too, is refused uncompared
          until the window closes; then counting starts again.
        - No PIN for a card that has one is refused without counting: nothing was compared.
        - A PIN that is compared with nothing (the code is no card, or the card is locked)
          writes and waits for what counting one does (``count_nothing``), so that how long the
          answer takes does not tell a guesser which codes are cards with a PIN.
        """
        try:
            normalised = normalise_code(code)
        except InvalidCardCode:
            raise InvalidCredentials() from None
        found = await store.credentials_by_code_hash(self.hasher.code(normalised))
        candidate = pin.strip() if pin else ""
        if found is None:
            if candidate:  # about as long as a wrong PIN takes
                await pins.count_nothing()
            raise InvalidCredentials()
        card, pin_hash = found.card, found.pin_hash
        if pin_hash is None:
            return card
        if not candidate:
            raise InvalidCredentials()
        now = self.clock.now()
        limit = self.policy.max_pin_attempts
        if card.pin_locked(now, limit):  # no count for a card known to be locked, but its time
            await pins.count_nothing()
            raise InvalidCredentials()
        attempt = PinAttempt(card.id, limit, now, now + self.policy.pin_lockout)
        right = await pins.compare(
            attempt, lambda: self.hasher.pin_matches(card.id, candidate, pin_hash)
        )
        if not right:  # a wrong PIN, or a racing attempt filled the window first
            raise InvalidCredentials()
        return card

    async def balance(
        self,
        store: LedgerStore,
        *,
        pins: PinAttempts,
        code: str,
        pin: str | None,
        currency: str | None = None,
    ) -> BalanceResult:
        """The seed's ``BalanceType`` states; never raises for a bad code or PIN."""
        if currency is not None:
            check_currency(currency)
        try:
            card = await self.authenticate(store, pins=pins, code=code, pin=pin)
        except InvalidCredentials:
            return NOT_FOUND_RESULT
        return balance_result(card, self.clock.now(), currency)
