"""Edges of the HTTP contract the main suites leave out: size limits on every kind of endpoint,
methods, PIN lockout through the API, currencies with 0 and 3 fraction digits, pagination over
every page, and introspection of tokens whose client went away."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tender.api.app import create_app
from tender.api.logs import JsonFormatter
from tender.db.client_store import SqlClientStore
from tender.db.migrate import head_revision
from tender.domain.money import MAX_MINOR
from tender.runtime import Runtime
from tests.api.conftest import Api, assert_error, issue, state

MIB = 1024 * 1024
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_oversized_bodies_are_413_on_token_issue_and_status_routes(api: Api) -> None:
    headers = await api.headers()
    card = await issue(api, headers)
    before = await state(api, headers, card["id"])
    form = ("grant_type=client_credentials&pad=" + "x" * MIB).encode()
    targets: list[tuple[str, dict[str, str]]] = [
        ("/oauth/token", FORM),
        ("/oauth/introspect", FORM),
        ("/giftcards", {**headers, **JSON}),
        ("/giftcards/balance", {**headers, **JSON}),
        (f"/giftcards/{card['id']}/disable", {**headers, **JSON}),
        (f"/giftcards/{card['id']}/adjust", {**headers, **JSON}),
    ]
    for path, extra in targets:
        declared = await api.client.post(
            path, content=form, headers={**extra, "X-Correlation-ID": "big-1"}
        )
        assert_error(declared, 413, "PayloadTooLarge")
        assert declared.headers["x-correlation-id"] == "big-1"
        streamed = await api.client.post(path, content=chunks(MIB + 1), headers=extra)
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "PayloadTooLarge")
    assert await state(api, headers, card["id"]) == before
    listing = (await api.client.get("/giftcards", headers=headers)).json()
    assert [c["id"] for c in listing["results"]] == [card["id"]]


async def test_a_body_of_exactly_the_limit_is_read(api: Api) -> None:
    """The limit refuses more than 1 MiB, not 1 MiB itself: a padded valid body goes through."""
    headers = await api.headers()
    body = json.dumps({"amount": {"centAmount": 100, "currency": "EUR"}})
    padded = body + " " * (MIB - len(body))
    assert len(padded) == MIB
    response = await api.client.post("/giftcards", content=padded, headers={**headers, **JSON})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/oauth/token"),
        ("GET", "/oauth/introspect"),
        ("DELETE", "/health"),
        ("PUT", "/giftcards/{id}"),
        ("DELETE", "/giftcards/{id}"),
        ("GET", "/giftcards/{id}/load"),
        ("GET", "/giftcards/{id}/adjust"),
        ("GET", "/giftcards/{id}/disable"),
        ("POST", "/giftcards/{id}/activities"),
        ("PATCH", "/giftcards"),
    ],
)
async def test_wrong_methods_are_405_with_allow(api: Api, method: str, path: str) -> None:
    headers = await api.headers()
    card = await issue(api, headers)
    before = await state(api, headers, card["id"])
    response = await api.client.request(method, path.replace("{id}", card["id"]), headers=headers)
    assert_error(response, 405, "MethodNotAllowed")
    assert response.headers["allow"]
    assert await state(api, headers, card["id"]) == before


@pytest.mark.parametrize(
    "path", ["/giftcards/{id}/explode", "/giftcards/{id}/load/more", "/oauth", "/giftcards/"]
)
async def test_unknown_routes_are_404(api: Api, path: str) -> None:
    headers = await api.headers()
    card = await issue(api, headers)
    response = await api.client.post(path.replace("{id}", card["id"]), headers=headers)
    assert_error(response, 404)  # a trailing slash too: no redirect a POST cannot follow


async def test_token_endpoint_wants_a_form(api: Api) -> None:
    client_id, secret = await api.new_client("view_giftcards")
    as_json = await api.client.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    body = assert_error(as_json, 400, "invalid_request")
    assert body["error"] == "invalid_request"
    wrong_secret = await api.client.post(
        "/oauth/introspect", data={"token": "x"}, auth=(client_id, "nope")
    )
    assert_error(wrong_secret, 401, "invalid_client")
    assert wrong_secret.headers["www-authenticate"].startswith("Basic")


async def test_introspection_of_tokens_whose_client_was_disabled(api: Api) -> None:
    client_id, secret = await api.new_client("view_giftcards")
    token = (
        await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {api.admin_jwt('introspect_oauth_tokens')}"}
    active = await api.client.post("/oauth/introspect", data={"token": token}, headers=admin)
    assert active.json()["active"] is True
    assert active.json()["client_id"] == client_id
    await api.runtime.db.transaction(
        lambda c: SqlClientStore(c).set_client_active(client_id, False)
    )
    gone = await api.client.post("/oauth/introspect", data={"token": token}, headers=admin)
    assert gone.json() == {"active": False}
    jwt_itself = await api.client.post(
        "/oauth/introspect", data={"token": api.admin_jwt()}, headers=admin
    )
    assert jwt_itself.json() == {"active": False}
    disabled_caller = await api.client.post(
        "/oauth/introspect", data={"token": token}, auth=(client_id, secret)
    )
    assert_error(disabled_caller, 401, "invalid_client")


async def test_wrong_pins_lock_the_card_and_the_lock_ends(api: Api) -> None:
    headers = await api.headers()
    card = await issue(api, headers, pin="4321")
    check = {"code": card["code"], "pin": "4321"}
    for _ in range(api.runtime.settings.max_pin_attempts):
        wrong = await api.client.post(
            "/giftcards/balance", json={**check, "pin": "0000"}, headers=headers
        )
        assert wrong.json()["status"]["state"] == "NotFound"
    locked = await api.client.post("/giftcards/balance", json=check, headers=headers)
    unknown = await api.client.post(
        "/giftcards/balance", json={"code": "0000 0000 0000 0000", "pin": "4321"}, headers=headers
    )
    assert locked.json() == unknown.json()
    assert locked.json()["status"]["state"] == "NotFound"
    api.clock.advance(seconds=api.runtime.settings.pin_lockout_seconds + 1)
    open_again = await api.client.post("/giftcards/balance", json=check, headers=headers)
    assert open_again.json()["status"]["state"] == "Valid"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ({"centAmount": 1500, "currency": "JPY", "fractionDigits": 0}, 0),
        ({"centAmount": 1500, "currencyCode": "KWD", "fractionDigits": 3}, 3),
        ({"centAmount": 1500, "currency": "EUR", "type": "centPrecision"}, 2),
        ({"centAmount": 1500, "currency": "EUR", "currencyCode": "EUR"}, 2),
    ],
)
async def test_currencies_keep_their_fraction_digits(
    api: Api, amount: dict[str, Any], expected: int
) -> None:
    headers = await api.headers()
    card = await issue(api, headers, amount=amount)
    currency = amount.get("currency") or amount["currencyCode"]
    assert card["balance"]["posted"] == {
        "centAmount": 1500,
        "currency": currency,
        "currencyCode": currency,
        "fractionDigits": expected,
    }
    loaded = await api.client.post(
        f"/giftcards/{card['id']}/load", json={"amount": amount}, headers=headers
    )
    assert loaded.json()["balance"]["available"]["centAmount"] == 3000


async def test_loads_stop_at_the_card_limit(api: Api) -> None:
    headers = await api.headers()
    card = await issue(api, headers, amount={"centAmount": MAX_MINOR, "currency": "EUR"})
    before = await state(api, headers, card["id"])
    over = await api.client.post(
        f"/giftcards/{card['id']}/load",
        json={"amount": {"centAmount": 1, "currency": "EUR"}},
        headers=headers,
    )
    assert_error(over, 422, "BalanceLimitExceeded")
    assert await state(api, headers, card["id"]) == before


async def test_issued_pins_and_status_bodies(api: Api) -> None:
    headers = await api.headers()
    plain = await issue(api, headers)
    assert plain["pin"] is None
    assert plain["pinRequired"] is False
    batch = await api.client.post(
        "/giftcards",
        json={"amount": {"centAmount": 100, "currency": "EUR"}, "count": 3, "pinRequired": True},
        headers=headers,
    )
    pins = [c["pin"] for c in batch.json()["results"]]
    assert all(p and p.isdigit() for p in pins)
    path = f"/giftcards/{plain['id']}"
    nothing = await api.client.post(f"{path}/disable", content=b"null", headers={**headers, **JSON})
    assert nothing.json()["status"] == "disabled"
    before = await state(api, headers, plain["id"])
    for content in (b"[]", b'"x"', b'{"reason": 1}', b'{"why": "x"}'):
        response = await api.client.post(
            f"{path}/enable", content=content, headers={**headers, **JSON}
        )
        assert_error(response, 400)
    assert await state(api, headers, plain["id"]) == before


async def test_every_page_of_cards_and_activities(api: Api) -> None:
    headers = await api.headers()
    issued = [(await issue(api, headers))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "/giftcards?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(query, headers=headers)).json()
        seen += [c["id"] for c in page["results"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert seen == issued
    card_id = issued[0]
    for n in range(1, 6):
        await api.client.post(
            f"/giftcards/{card_id}/load",
            json={"amount": {"centAmount": n, "currency": "EUR"}},
            headers=headers,
        )
    amounts: list[int] = []
    cursor = None
    while True:
        query = f"/giftcards/{card_id}/activities?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = (await api.client.get(query, headers=headers)).json()
        amounts += [a["amount"]["centAmount"] for a in page["results"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert amounts == [1000, 1, 2, 3, 4, 5]


async def test_admin_jwt_actions_are_recorded_as_the_admin(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.admin_jwt('manage_giftcards')}"}
    card = await issue(api, headers)
    history = (await api.client.get(f"/giftcards/{card['id']}/activities", headers=headers)).json()
    assert history["results"][0]["actor"] == "admin:ops@example.com"


async def test_an_unexpected_error_is_a_500_in_the_shape_with_the_correlation_id(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await api.headers()
    card = await issue(api, headers)

    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(api.runtime.ledger, "get", broken)
    app = create_app(runtime=api.runtime)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get(
                f"/giftcards/{card['id']}", headers={**headers, "X-Correlation-ID": "oops-1"}
            )
    finally:
        logging.getLogger().removeHandler(handler)
    assert_error(response, 500, "GeneralError")
    assert response.headers["x-correlation-id"] == "oops-1"
    assert "a bug" not in response.text
    # The operator finds the error's traceback by the id the caller quotes: it was logged
    # outside the middleware that knows the id (and once more by the server, also without it).
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    errors = [entry for entry in logged if entry["level"] == "error"]
    assert [entry.get("correlationId") for entry in errors] == ["oops-1"], errors
    assert "RuntimeError: a bug" in errors[0]["error"]


async def _ready(runtime: Runtime) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(runtime=runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/ready")


async def test_ready_gives_up_on_a_database_that_never_answers(api: Api) -> None:
    """A server that accepts connections and says nothing (a hung host, a black-holed
    failover) kept ``/ready`` for asyncpg's 60 s connect timeout: an orchestrator's probe
    learnt nothing, and each probe held a task. It answers 503 within
    ``TENDER_OPERATIONS_STATUS_TIMEOUT_SECONDS``, as the operations status does."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = api.runtime.settings.model_copy(
        update={
            "database_url": f"postgresql+asyncpg://tender:pw@127.0.0.1:{port}/tender",
            "operations_status_timeout_seconds": 0.5,
        }
    )
    runtime = Runtime(settings)
    try:
        started = time.monotonic()
        body = assert_error(await _ready(runtime), 503, "DatabaseUnavailable")
        assert time.monotonic() - started < 5
        assert body["message"] == "database unreachable: no answer within 0.5 s"
    finally:
        await runtime.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_ready_is_503_without_a_database_or_with_pending_migrations(
    api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def runtime(url: str) -> Runtime:
        settings = api.runtime.settings.model_copy(update={"database_url": url})
        return Runtime(settings)

    missing = runtime(f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        assert_error(await _ready(missing), 503, "DatabaseUnavailable")
        (logged,) = [r for r in caplog.records if r.name == "tender.api.routes.health"]
        assert logged.exc_info is not None  # why, for the operator: the answer names a type
    finally:
        await missing.close()
    empty = runtime(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        body = assert_error(await _ready(empty), 503, "MigrationsPending")
        assert body["message"].endswith("run tender db upgrade")
        # A database a newer release migrated: upgrading with this one cannot help.
        await empty.db.engine.dispose()
        async with empty.db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            await conn.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
        body = assert_error(await _ready(empty), 503, "MigrationsPending")
        assert "newer than this release" in body["message"], body
    finally:
        await empty.close()
    current = await _ready(api.runtime)
    assert current.status_code == 200, current.text
    assert current.json() == {
        "status": "ready",
        "database": "ok",
        "schemaRevision": head_revision(),
    }
