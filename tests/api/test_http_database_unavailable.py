"""A database that cannot be reached is answered 503 with ``Retry-After`` in the one error
shape, never 500: nothing was wrong with the request, and sending it again later works."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tender.api.app import create_app
from tender.config import Environment, Settings
from tender.db import engine
from tender.db.retries import retrying, unreachable
from tender.domain.errors import StoreUnavailable
from tests.api.conftest import SECRET, assert_error
from tests.api.glue_shoppers import GUEST_HEADER, guest_id
from tests.api.test_http_glue_errors import glue_error
from tests.conftest import PG_ADMIN_URL

NOWHERE = "postgresql+asyncpg://postgres@127.0.0.1:1/tender"
"""Nothing listens on port 1: every connection is refused at once."""
CART = "01890a5d-ac96-774b-bcce-b302099a8057"


async def test_a_database_that_never_answers_is_given_up_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host that accepts connections and says nothing (hung, or a black-holed failover
    address) kept a request for asyncpg's own 60 s connect limit; tender's is
    ``CONNECT_TIMEOUT_SECONDS`` (shortened here), and the request is told to try again."""
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT_SECONDS", 0.5)
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = Settings(
        env=Environment.TEST,
        database_url=f"postgresql+asyncpg://tender:pw@127.0.0.1:{port}/tender",
        secret_key=SECRET,
        sweep_interval_seconds=0,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                bearer = {"Authorization": "Bearer " + "t" * 43}
                asked = client.get(f"/carts/{CART}", headers=bearer)
                assert_unavailable(await asyncio.wait_for(asked, timeout=20))
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        env=Environment.TEST, database_url=NOWHERE, secret_key=SECRET, sweep_interval_seconds=0
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def assert_unavailable(response: httpx.Response) -> None:
    assert_error(response, 503, "ServiceUnavailable")
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-correlation-id"]


async def test_a_shoppers_page_is_told_to_try_again(client: httpx.AsyncClient) -> None:
    headers = {"X-Session-Id": "ses_" + "a" * 40, "Origin": "https://shop.example"}
    assert_unavailable(await client.post("/balance", json={"code": "X"}, headers=headers))
    redeem = {"code": "X", "redeemAmount": {"centAmount": 500, "currencyCode": "EUR"}}
    assert_unavailable(await client.post("/redeem", json=redeem, headers=headers))


async def test_the_merchants_backend_is_told_to_try_again(client: httpx.AsyncClient) -> None:
    bearer = {"Authorization": "Bearer " + "t" * 43}
    assert_unavailable(await client.get(f"/carts/{CART}", headers=bearer))
    key = {**bearer, "Idempotency-Key": "k-1"}
    assert_unavailable(await client.post(f"/carts/{CART}/order", json={}, headers=key))
    token = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("id", "secret")
    )
    assert_unavailable(token)


async def test_a_glue_shopper_reads_it_in_glues_shape_and_language(
    client: httpx.AsyncClient,
) -> None:
    headers = {GUEST_HEADER: guest_id(), "Accept-Language": "de"}
    document = {"data": {"type": "checkout-data", "attributes": {"idCart": CART}}}
    response = await client.post("/checkout-data", json=document, headers=headers)
    (error,) = glue_error(response, 503, "ServiceUnavailable")
    assert error["detail"].startswith("Die Datenbank des Dienstes kann die Anfrage gerade")
    assert response.headers["retry-after"] == "2"


async def test_a_preflight_from_an_origin_to_look_up_is_told_to_try_again(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    response = await client.options("/balance", headers=headers)
    assert_unavailable(response)
    assert "access-control-allow-origin" not in response.headers


SERVER = make_url(PG_ADMIN_URL).set(drivername="postgresql+asyncpg")
"""The test PostgreSQL server, to name a database or role it does not have."""


@pytest.mark.parametrize(
    "url",
    [
        SERVER.set(database="tender_no_such_database"),
        SERVER.set(username="tender_no_such_role", password="pw"),
    ],
    ids=["missing-database", "refused-role"],
)
async def test_a_database_that_refuses_the_service_is_unavailable_not_an_error(url: URL) -> None:
    """A server that answers but will not let the service in (its database dropped or
    misnamed, its role or password refused) is the operator's to fix: every caller is told
    503 and to try again, as for a server that is down, never 500 as for a defect."""
    settings = Settings(
        env=Environment.TEST,
        database_url=url.render_as_string(hide_password=False),
        secret_key=SECRET,
        sweep_interval_seconds=0,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            token = await client.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=("id", "secret")
            )
            assert_unavailable(token)
            bearer = {"Authorization": "Bearer " + "t" * 43}
            assert_unavailable(await client.get(f"/carts/{CART}", headers=bearer))
            ready = await client.get("/ready")
            assert ready.status_code == 503, ready.text


async def test_liveness_does_not_need_the_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).status_code == 200


def _lost(sqlstate: str | None, *, invalidated: bool = False) -> DBAPIError:
    orig = asyncpg.PostgresError("the server says no")
    orig.sqlstate = sqlstate  # type: ignore[attr-defined]
    return DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


def _sqlite(message: str) -> DBAPIError:
    return DBAPIError("SELECT 1", None, sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (PoolTimeout(), True),
        (_lost("57P01"), True),  # the server is shutting down
        (_lost("57P03"), True),  # starting up, not yet accepting connections
        (_lost("53300"), True),  # too many connections
        (_lost("08006"), True),  # connection failure
        (_lost("3D000"), True),  # the database does not exist (dropped, renamed)
        (_lost("28P01"), True),  # the password was refused (rotated on one side only)
        (_lost("28000"), True),  # the role may not connect
        (_lost(None, invalidated=True), True),  # the driver lost the connection
        (_lost("40001"), False),  # a serialization failure is retried, not unavailability
        (_sqlite("database or disk is full"), True),
        (_sqlite("unable to open database file"), True),
        (_sqlite("database is locked"), False),  # retried
        (_sqlite("no such table: carts"), False),
        (_lost("23505"), False),
        (ValueError(), False),
    ],
)
def test_which_errors_say_the_database_cannot_be_reached(
    error: BaseException, expected: bool
) -> None:
    assert unreachable(error) is expected


async def test_retries_that_all_fail_end_as_unavailable() -> None:
    """Each attempt was rolled back (a deadlock, a serialization failure, SQLite busy): the
    database stayed too busy, and sending the request again later is safe."""
    attempts = 0

    async def deadlocked() -> None:
        nonlocal attempts
        attempts += 1
        raise _lost("40P01")

    with pytest.raises(StoreUnavailable):
        await retrying(deadlocked, 3)
    assert attempts == 3
