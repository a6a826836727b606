"""What the Idempotency-Key must never do: keep a secret readable, replay to a narrower token,
write for a caller who is not authenticated, or leave a change without its answer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tender.api.routes import giftcards
from tender.db.models import Base, IdempotencyKeyRow, RateLimitRow
from tests.api.conftest import Api, assert_error

ISSUE = {"amount": {"centAmount": 1000, "currency": "EUR"}}
CHOSEN_PIN = "907315862204"


async def rows(api: Api, model: type[Any]) -> int:
    return int(
        await api.runtime.db.read(
            lambda c: c.scalar(select(func.count()).select_from(model.__table__))
        )
    )


async def dump_database(api: Api) -> str:
    """Every value of every table, as text a human (or grep) would search."""

    async def read(conn: Any) -> str:
        out: list[str] = []
        for table in Base.metadata.sorted_tables:
            for row in (await conn.execute(text(f"SELECT * FROM {table.name}"))).all():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        out += [raw.decode("latin-1"), raw.hex()]
                    elif isinstance(value, dict | list):
                        out.append(json.dumps(value))
                    else:
                        out.append(str(value))
        return "\n".join(out)

    return str(await api.runtime.db.read(read))


async def test_database_holds_no_code_pin_session_id_token_or_client_secret(api: Api) -> None:
    client_id, client_secret = await api.new_client()
    basic = (client_id, client_secret)
    minted = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=basic,
        headers={"Idempotency-Key": "token-1"},
    )
    assert minted.status_code == 200, minted.text
    token = minted.json()["access_token"]
    replayed = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=basic,
        headers={"Idempotency-Key": "token-1"},
    )
    assert replayed.headers["idempotent-replayed"] == "true"
    h = {"Authorization": f"Bearer {token}"}
    single = await api.client.post(
        "/giftcards",
        json={**ISSUE, "pin": CHOSEN_PIN},
        headers={**h, "Idempotency-Key": "issue-one"},
    )
    batch = await api.client.post(
        "/giftcards",
        json={**ISSUE, "count": 5, "pinRequired": True},
        headers={**h, "Idempotency-Key": "issue-batch"},
    )
    assert single.status_code == batch.status_code == 201, batch.text
    cards = [single.json(), *batch.json()["results"]]
    again = await api.client.post(
        "/giftcards",
        json={**ISSUE, "count": 5, "pinRequired": True},
        headers={**h, "Idempotency-Key": "issue-batch"},
    )
    assert again.content == batch.content  # the sealed answer opens for its key
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    session = await api.client.post(
        "/sessions",
        json={"cart": {"cartRef": {"id": cart["id"]}}, "metadata": {}},
        headers={**h, "Idempotency-Key": "session-1"},
    )
    assert session.status_code == 201, session.text

    dump = await dump_database(api)
    assert cards[0]["id"] in dump  # the dump does show what is stored in clear
    assert cards[0]["code"][-4:] in dump
    assert await rows(api, IdempotencyKeyRow) == 4
    secrets = [token, client_secret, session.json()["id"], CHOSEN_PIN]
    for card in cards:
        secrets += [card["code"], card["code"].replace(" ", "")]
    for secret in secrets:
        assert secret not in dump
    for card in cards[1:]:  # generated six-digit PINs: look for them as stored JSON would be
        assert f'"pin": "{card["pin"]}"' not in dump
        assert f'"pin":"{card["pin"]}"' not in dump
    for key in ("token-1", "issue-one", "issue-batch", "session-1"):
        assert key not in dump  # the raw key derives the answer's key: never stored


async def test_a_narrower_token_of_the_same_client_gets_403_not_the_kept_answer(
    api: Api,
) -> None:
    client_id, secret = await api.new_client("manage_giftcards view_giftcards")

    async def token(scope: str) -> dict[str, str]:
        response = await api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(client_id, secret),
        )
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    wide = await token("manage_giftcards view_giftcards")
    issued = await api.client.post(
        "/giftcards", json=ISSUE, headers={**wide, "Idempotency-Key": "issue-secret"}
    )
    assert issued.status_code == 201
    narrow = await token("view_giftcards")
    replay = await api.client.post(
        "/giftcards", json=ISSUE, headers={**narrow, "Idempotency-Key": "issue-secret"}
    )
    assert_error(replay, 403, "insufficient_scope")
    assert issued.json()["code"] not in replay.text
    same_scope = await api.client.post(
        "/giftcards", json=ISSUE, headers={**wide, "Idempotency-Key": "issue-secret"}
    )
    assert same_scope.content == issued.content


async def test_callers_who_are_not_authenticated_write_nothing(api: Api) -> None:
    h = await api.headers()
    before = (await rows(api, IdempotencyKeyRow), await rows(api, RateLimitRow))
    for n in range(50):
        junk = await api.client.post(
            "/giftcards",
            json=ISSUE,
            headers={"Authorization": "Bearer junk", "Idempotency-Key": f"junk-{n}"},
        )
        assert_error(junk, 401)
    for n in range(10):
        browser = await api.client.post(
            "/session/giftcards",
            json={"code": "6012345678901234"},
            headers={"X-Session-Id": f"no-such-session-{n}", "Idempotency-Key": f"s-{n}"},
        )
        assert_error(browser, 401)
        token = await api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("nobody", f"wrong-{n}"),
            headers={"Idempotency-Key": f"t-{n}"},
        )
        assert token.status_code == 401
        glue = await api.client.post(
            "/checkout-data",
            json={"data": {"type": "checkout-data", "attributes": {"idCart": "x"}}},
            headers={"Idempotency-Key": f"g-{n}"},
        )
        assert 400 <= glue.status_code < 500
    after = (await rows(api, IdempotencyKeyRow), await rows(api, RateLimitRow))
    assert after == before
    cards = (await api.client.get("/giftcards", headers=h)).json()["results"]
    assert cards == []


async def test_a_failure_after_the_work_leaves_neither_change_nor_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card is issued by the unit of work, then answering fails: nothing may remain, and
    the retry runs at once (no lease to wait out) and issues exactly one card."""
    h = await api.headers()
    real = giftcards.GiftCardIssued.issued
    calls = 0

    def fails_once(issued: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the process died here")
        return real(issued)

    monkeypatch.setattr(giftcards.GiftCardIssued, "issued", staticmethod(fails_once))
    keyed = {**h, "Idempotency-Key": "issue-after-crash"}
    failed = await api.client.post("/giftcards", json=ISSUE, headers=keyed)
    assert_error(failed, 500, "GeneralError")  # answered and logged once, not raised on
    assert (await api.client.get("/giftcards", headers=h)).json()["results"] == []
    assert await rows(api, IdempotencyKeyRow) == 0
    retry = await api.client.post("/giftcards", json=ISSUE, headers=keyed)
    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "false"
    replay = await api.client.post("/giftcards", json=ISSUE, headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    assert len((await api.client.get("/giftcards", headers=h)).json()["results"]) == 1


async def test_a_refused_step_keeps_what_earlier_steps_counted(api: Api) -> None:
    """A browser's add-card attempt with a wrong code is counted (rate limit) and answered
    404 in one transaction: the attempt stays counted, the answer is kept for the key."""
    h = await api.headers()
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    session = (
        await api.client.post(
            "/sessions", json={"cart": {"cartRef": {"id": cart["id"]}}, "metadata": {}}, headers=h
        )
    ).json()
    browser = {"X-Session-Id": session["id"], "Idempotency-Key": "guess-1"}
    before = await rows(api, RateLimitRow)
    first = await api.client.post(
        "/session/giftcards", json={"code": "6012345678901234"}, headers=browser
    )
    assert 400 <= first.status_code < 500
    assert await rows(api, RateLimitRow) > before
    again = await api.client.post(
        "/session/giftcards", json={"code": "6012345678901234"}, headers=browser
    )
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"


async def stored_bytes(api: Api) -> set[bytes]:
    """Every binary value of every table."""

    async def read(conn: Any) -> set[bytes]:
        found: set[bytes] = set()
        for table in Base.metadata.sorted_tables:
            for row in (await conn.execute(text(f"SELECT * FROM {table.name}"))).all():
                found.update(bytes(v) for v in row if isinstance(v, bytes | memoryview))
        return found

    return set(await api.runtime.db.read(read))


async def test_a_kept_request_does_not_give_its_pin_to_a_copy_of_the_database(api: Api) -> None:
    """Whoever holds the database knows the amount of an issued card: a fingerprint of the
    request that an unkeyed hash would make (SHA-256 and the like) would give its PIN away in
    at most 10,000 guesses. Every binary value is tried against every guess."""
    h = await api.headers()
    body = '{"amount":{"centAmount":1000,"currency":"EUR"},"pin":"%s"}'
    issued = await api.client.post(
        "/giftcards",
        content=(body % "4821").encode(),
        headers={**h, "Idempotency-Key": "issue-with-pin", "Content-Type": "application/json"},
    )
    assert issued.status_code == 201, issued.text
    stored = await stored_bytes(api)
    assert stored  # the kept answer and its fingerprints are binary
    for guess in (f"{n:04d}" for n in range(10_000)):
        candidate = (body % guess).encode()
        for name in ("sha256", "sha1", "md5", "sha512", "blake2b"):
            assert hashlib.new(name, candidate).digest() not in stored, (name, guess)


async def test_a_request_kept_under_a_plain_hash_still_answers_its_retry(api: Api) -> None:
    """Rows kept before request fingerprints were keyed hold a plain SHA-256 of the body:
    the retry of such a request, after an upgrade, gets its answer, and another body still
    gets 422."""
    h = {
        **await api.headers(),
        "Idempotency-Key": "before-upgrade",
        "Content-Type": "application/json",
    }
    first = await api.client.post("/giftcards", content=json.dumps(ISSUE).encode(), headers=h)
    assert first.status_code == 201, first.text
    plain = hashlib.sha256(json.dumps(ISSUE).encode()).digest()
    await api.runtime.db.transaction(
        lambda c: c.execute(IdempotencyKeyRow.__table__.update().values(request_hash=plain))
    )
    retry = await api.client.post("/giftcards", content=json.dumps(ISSUE).encode(), headers=h)
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    other = await api.client.post("/giftcards", json={**ISSUE, "pin": "1234"}, headers=h)
    assert_error(other, 422, "IdempotencyKeyReused")


async def test_a_session_id_beside_a_token_does_not_share_kept_answers_between_clients(
    api: Api,
) -> None:
    """A backend that sends its shopper's session id on its own calls too (as Centra's do,
    ``API-token``) keys them by its client, not by that id: another client naming the same id
    and key gets no replay of the first one's answer, on a bearer route or the token
    endpoint."""
    first_id, first_secret = await api.new_client()
    second_id, second_secret = await api.new_client()
    shared = {"X-Session-Id": "tnd_ss_shared-by-accident", "Idempotency-Key": "same-key"}

    def token_call(client: tuple[str, str]) -> Any:
        return api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=client,
            headers=shared,
        )

    first_token = (await token_call((first_id, first_secret))).json()["access_token"]
    second = await token_call((second_id, second_secret))
    assert second.status_code == 200, second.text
    assert second.json()["access_token"] != first_token
    assert "idempotent-replayed" not in second.headers or (
        second.headers["idempotent-replayed"] == "false"
    )

    first = {"Authorization": f"Bearer {first_token}"}
    other = {"Authorization": f"Bearer {second.json()['access_token']}"}
    issued = await api.client.post("/giftcards", json=ISSUE, headers={**first, **shared})
    assert issued.status_code == 201, issued.text
    again = await api.client.post("/giftcards", json=ISSUE, headers={**other, **shared})
    assert again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "false"
    assert again.json()["code"] != issued.json()["code"]
    # The first client's retry, with the id beside its token, is still its own replay.
    retried = await api.client.post("/giftcards", json=ISSUE, headers={**first, **shared})
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.content == issued.content


async def _disconnecting(api: Api, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """A keyed POST whose client leaves before any of its body arrives: what the app sent."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = {**headers, "content-type": "application/json", "content-length": "40"}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": {},
        "app": app,
    }
    await app(scope, receive, send)
    return sent


async def test_a_body_the_client_never_finished_sending_runs_nothing(api: Api) -> None:
    """A keyed capture whose client disconnected before its body arrived used to run with an
    empty body, which captures the whole authorization, and kept that answer: the client's
    retry with the amount it meant was refused for a day. Now nothing runs and nothing is
    kept, and the retry captures what it asks."""
    from tests.api.journeys import held
    from tests.api.operations_setup import placed_order

    h = await api.headers()
    world = await placed_order(api, h)
    payment, card_id = world["payment"], world["card"]["id"]
    keyed = {**h, "Idempotency-Key": "capture-1"}
    before = await held(api, h, card_id)
    assert await _disconnecting(api, f"/payments/{payment}/capture", keyed) == []
    assert await held(api, h, card_id) == before
    assert await rows(api, IdempotencyKeyRow) == 0
    amount = {"amount": {"centAmount": 1000, "currency": "EUR"}}
    retried = await api.client.post(f"/payments/{payment}/capture", json=amount, headers=keyed)
    assert retried.status_code == 200, retried.text
    assert retried.headers["idempotent-replayed"] == "false"
    assert await held(api, h, card_id) == (before[0] - 1000, 0)


@pytest.mark.parametrize(
    "headers",
    [
        [("Idempotency-Key", "caf\u00e9")],
        [("Idempotency-Key", "a\u0001b")],
        [("Idempotency-Key", "a\u007fb")],
        [("Idempotency-Key", "x" * 256)],
        [("Idempotency-Key", "one"), ("Idempotency-Key", "two")],
    ],
    ids=["non-ascii", "control", "delete", "too-long", "twice"],
)
async def test_a_key_that_is_not_one_printable_ascii_string_is_refused(
    api: Api, headers: list[tuple[str, str]]
) -> None:
    """The IETF draft's key is one structured-field string: printable ASCII. Anything else is
    400 in the error shape, and nothing is written."""
    h = await api.headers()
    sent = [(k.encode(), v.encode("utf-8")) for k, v in [*h.items(), *headers]]
    response = await api.client.post("/giftcards", json=ISSUE, headers=sent)
    assert_error(response, 400, "InvalidIdempotencyKey")
    assert await rows(api, IdempotencyKeyRow) == 0
    listing = await api.client.get("/giftcards", headers=h)
    assert listing.json()["results"] == []
