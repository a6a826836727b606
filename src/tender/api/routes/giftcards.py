"""Admin API for gift cards (scopes ``manage_giftcards`` / ``view_giftcards``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from tender.api.card_lookups import BalanceCardLookup
from tender.api.checkout_deps import run
from tender.api.errors import responses
from tender.api.giftcard_schemas import (
    ActivityPublic,
    BalanceCheck,
    CardBalanceType,
    GiftCardBatch,
    GiftCardCreate,
    GiftCardIssued,
    GiftCardPublic,
    MoneyMovement,
    StatusChange,
)
from tender.api.routing import AuthFirstRoute
from tender.api.schemas import MoneyIn, PageOut, check_metadata
from tender.api.security import require, runtime_of
from tender.domain.checkout_ports import Work
from tender.domain.errors import CardNotFound, InvalidInput
from tender.domain.ids import is_uuid
from tender.domain.ledger import BalanceState, CardStatus
from tender.domain.money import Money
from tender.domain.principals import Principal, Scope
from tender.services.ledger import ADJUST, LOAD, Movement

router = APIRouter(prefix="/giftcards", tags=["gift cards"], route_class=AuthFirstRoute)
Manage = Annotated[Principal, Depends(require(Scope.MANAGE_GIFTCARDS))]
View = Annotated[Principal, Depends(require(Scope.VIEW_GIFTCARDS))]
T = TypeVar("T")


async def _read(request: Request, use: Callable[[Work], Awaitable[T]]) -> T:
    """Run ``use`` on a read-only unit of work (writes go through ``checkout_deps.run``)."""
    runtime = runtime_of(request)
    return await runtime.db.read(lambda conn: use(runtime.work(conn, actor=None)))


def _cursor_int(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    # ASCII only: "²".isdigit() is true and int("²") raises.
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return int(cursor)


def _cursor_id(cursor: str | None) -> str | None:
    if cursor is not None and not is_uuid(cursor):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return cursor


def _card_id(card_id: str) -> str:
    """Ids are UUIDs; anything else is not found without asking the database (PostgreSQL
    refuses some text, a NUL character for one, with an error rather than no row)."""
    if not is_uuid(card_id):
        raise CardNotFound()
    return card_id


@router.post(
    "",
    status_code=201,
    response_model=GiftCardIssued | GiftCardBatch,
    responses=responses(400, 401, 403, 413),
    summary="Issue one gift card, or a batch with `count`",
)
async def issue(
    request: Request, body: GiftCardCreate, principal: Manage
) -> GiftCardIssued | GiftCardBatch:
    ledger = runtime_of(request).ledger
    amount = _initial(body.amount)
    metadata = check_metadata(body.metadata)
    issued = await run(
        request,
        principal,
        lambda work: ledger.issue(
            work.ledger,
            amount=amount,
            count=body.count or 1,
            with_pin=body.pinRequired,
            pin=body.pin,
            expires_at=body.expiresAt,
            metadata=metadata,
            actor=principal.actor,
        ),
    )
    if body.count is None:
        return GiftCardIssued.issued(issued[0])
    return GiftCardBatch(results=[GiftCardIssued.issued(i) for i in issued])


def _initial(amount: MoneyIn) -> Money:
    """Initial balances may be zero (a card to be loaded later), never negative."""
    if amount.centAmount == 0:
        probe = amount.model_copy(update={"centAmount": 1})
        return Money(0, probe.money().currency)
    return amount.money()


@router.get(
    "",
    response_model=PageOut[GiftCardPublic],
    responses=responses(400, 401, 403),
    summary="List gift cards, oldest first, with cursor pagination",
)
async def list_cards(
    request: Request,
    _: View,
    status: CardStatus | None = None,
    currency: str | None = None,
    cursor: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PageOut[GiftCardPublic]:
    ledger = runtime_of(request).ledger
    after = _cursor_id(cursor)
    page = await _read(
        request,
        lambda work: ledger.list_cards(
            work.ledger, status=status, currency=currency, after=after, limit=limit
        ),
    )
    return PageOut[GiftCardPublic](
        results=[GiftCardPublic.of(c) for c in page.items], limit=limit, nextCursor=page.next_cursor
    )


@router.post(
    "/balance",
    response_model=CardBalanceType,
    response_model_exclude_none=True,
    responses=responses(400, 401, 403, 429),
    summary="Check a balance by code and PIN (answers the seed's CardBalanceType)",
)
async def balance(
    request: Request, body: BalanceCheck, principal: View, lookup: BalanceCardLookup
) -> CardBalanceType:
    ledger = runtime_of(request).ledger
    result = await run(
        request,
        principal,
        lambda work: ledger.balance(
            work.ledger, pins=work.pins, code=body.code, pin=body.pin, currency=body.currency
        ),
    )
    if result.state is BalanceState.NOT_FOUND:
        lookup.failed()
    return CardBalanceType.of(result, with_id=True)


@router.get(
    "/{card_id}",
    response_model=GiftCardPublic,
    responses=responses(401, 403, 404),
    summary="One gift card (code masked)",
)
async def get_card(request: Request, card_id: str, _: View) -> GiftCardPublic:
    ledger = runtime_of(request).ledger
    card_id = _card_id(card_id)
    card = await _read(request, lambda work: ledger.get(work.ledger, card_id=card_id))
    return GiftCardPublic.of(card)


@router.get(
    "/{card_id}/activities",
    response_model=PageOut[ActivityPublic],
    responses=responses(400, 401, 403, 404),
    summary="Every movement and status change of a card, oldest first",
)
async def activities(
    request: Request,
    card_id: str,
    _: View,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PageOut[ActivityPublic]:
    ledger = runtime_of(request).ledger
    card_id = _card_id(card_id)
    after = _cursor_int(cursor)
    page = await _read(
        request,
        lambda work: ledger.history(work.ledger, card_id=card_id, after=after, limit=limit),
    )
    return PageOut[ActivityPublic](
        results=[ActivityPublic.of(a) for a in page.items], limit=limit, nextCursor=page.next_cursor
    )


async def _post(
    request: Request, card_id: str, body: MoneyMovement, principal: Principal, movement: Movement
) -> GiftCardPublic:
    """Load or adjust: only the movement differs (an adjustment may be negative)."""
    ledger = runtime_of(request).ledger
    card_id = _card_id(card_id)
    amount = body.amount.money(signed=movement.signed)
    card = await run(
        request,
        principal,
        lambda work: ledger.post(
            work.ledger,
            movement,
            card_id=card_id,
            amount=amount,
            reference=body.reference,
            actor=principal.actor,
        ),
    )
    return GiftCardPublic.of(card)


@router.post(
    "/{card_id}/load",
    response_model=GiftCardPublic,
    responses=responses(400, 401, 403, 404, 422),
    summary="Add money to an active card",
)
async def load(
    request: Request, card_id: str, body: MoneyMovement, principal: Manage
) -> GiftCardPublic:
    return await _post(request, card_id, body, principal, LOAD)


@router.post(
    "/{card_id}/adjust",
    response_model=GiftCardPublic,
    responses=responses(400, 401, 403, 404, 422),
    summary="Correct the posted balance by a signed amount",
)
async def adjust(
    request: Request, card_id: str, body: MoneyMovement, principal: Manage
) -> GiftCardPublic:
    return await _post(request, card_id, body, principal, ADJUST)


async def _change_status(
    request: Request,
    card_id: str,
    principal: Principal,
    body: StatusChange | None,
    *,
    disable: bool,
) -> GiftCardPublic:
    ledger = runtime_of(request).ledger
    card_id = _card_id(card_id)
    status = CardStatus.DISABLED if disable else CardStatus.ACTIVE
    reason = body.reason if body else None
    card = await run(
        request,
        principal,
        lambda work: ledger.set_status(
            work.ledger, card_id=card_id, status=status, reason=reason, actor=principal.actor
        ),
    )
    return GiftCardPublic.of(card)


@router.post(
    "/{card_id}/disable",
    response_model=GiftCardPublic,
    responses=responses(400, 401, 403, 404, 409),
    summary="Disable a card: no reservations or loads until enabled again",
)
async def disable(
    request: Request, card_id: str, principal: Manage, body: StatusChange | None = None
) -> GiftCardPublic:
    return await _change_status(request, card_id, principal, body, disable=True)


@router.post(
    "/{card_id}/enable",
    response_model=GiftCardPublic,
    responses=responses(400, 401, 403, 404, 409),
    summary="Enable a disabled card",
)
async def enable(
    request: Request, card_id: str, principal: Manage, body: StatusChange | None = None
) -> GiftCardPublic:
    return await _change_status(request, card_id, principal, body, disable=False)
