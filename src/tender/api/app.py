"""The ASGI application: ``create_app()`` wires middleware, error handlers and routes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.telemetry import TelemetryConfig

from tender import __version__
from tender.api import errors, openapi, security
from tender.api.compat import commercetools, norce, spryker
from tender.api.compat.commercetools import operations
from tender.api.compat.spryker.errors import GlueErrors
from tender.api.compat.spryker.shoppers import GLUE_MAX_BODY, GLUE_PATHS
from tender.api.cors import BrowserCors
from tender.api.idempotency import IdempotencyKeys, replay_handler
from tender.api.logs import AccessLog, configure_logging
from tender.api.middleware import (
    BodySizeLimit,
    CancelledAnswer,
    CorrelationId,
    HeadAsGet,
    RequestConnection,
)
from tender.api.routes import (
    carts,
    enabler,
    giftcards,
    health,
    jwks,
    oauth,
    orders,
    redirect_callback,
    redirect_page,
    sessions,
)
from tender.api.routing import APP_DEPENDENCIES, include_flat
from tender.config import Settings
from tender.domain.idempotency import Replay
from tender.runtime import Runtime

log = logging.getLogger(__name__)

DESCRIPTION = """
tender is a headless checkout service where gift cards are a first-class payment method.

**Money** is always `{"centAmount": <integer minor units>, "currency": "<ISO 4217>"}`;
no amount is ever a float. **Errors** always have the shape
`{"statusCode", "message", "errors": [{"code", "message", "field"?}]}`.
Server calls authenticate with an OAuth2 bearer token (`POST /oauth/token`, client credentials)
or a merchant-admin JWT (EdDSA, keys at `/.well-known/jwks.json`).
"""


async def background_maintenance(runtime: Runtime) -> None:
    """Expire overdue holds and forget expired tokens, idempotency keys, rate-limit counters,
    sessions and origins, on every worker; SKIP LOCKED shares the holds. Each step fails on
    its own: one that keeps failing (logged each round) stops none of the others."""
    interval = runtime.settings.sweep_interval_seconds
    grace = timedelta(seconds=runtime.settings.order_payment_window_seconds)
    db, now = runtime.db, runtime.clock.now

    async def holds() -> None:
        work = runtime.work
        while await db.transaction(
            lambda c: runtime.ledger.sweep_expired_holds(work(c, actor=None).ledger)
        ):
            pass

    async def tokens() -> None:
        await db.transaction(lambda c: runtime.clients(c).delete_expired_tokens(now()))

    async def keys() -> None:
        await db.transaction(lambda c: runtime.idempotency(c).forget_expired(now()))

    async def rows() -> None:
        purge = runtime.purge
        while await db.transaction(lambda c: purge(c).forget_expired(now(), session_grace=grace)):
            pass

    steps = {"holds": holds, "tokens": tokens, "idempotency keys": keys, "expired rows": rows}
    while True:
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))
        for name, step in steps.items():
            try:
                await step()
            except Exception:
                log.exception("background maintenance of %s failed; will retry", name)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None
        if runtime.settings.sweep_interval_seconds > 0:
            task = asyncio.create_task(background_maintenance(runtime))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.close()

    app = FastAPI(
        title="tender",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,  # an API client gets a 404 in the error shape, not a 307
        docs_url="/docs" if runtime.settings.api_docs_on else None,
        redoc_url="/redoc" if runtime.settings.api_docs_on else None,
        # FastAPI's own OpenTelemetry spans record raw paths and queries (a session id is in
        # the path of ``GET /sessions/{id}``): nothing goes to a trace backend unless redacted.
        telemetry=NO_TELEMETRY,
        # ids and text checked before any route runs
        dependencies=[Depends(dependency) for dependency in APP_DEPENDENCIES],
    )
    app.state.runtime = runtime
    errors.install(app, flavours=[GlueErrors()])
    app.add_exception_handler(Replay, replay_handler)
    security.install(app)
    openapi.install(app, _include_routers(app, runtime.settings))
    # Outermost last. CORS wraps the body limit and the connection, so that a page of an
    # allowed origin can read every refusal, a 413 or a 503 included.
    app.add_middleware(IdempotencyKeys)
    app.add_middleware(RequestConnection, lease=runtime.db.request_lease, let_go=runtime.db.let_go)
    limit = runtime.settings.max_body_bytes
    glue = dict.fromkeys(GLUE_PATHS, min(limit, GLUE_MAX_BODY))
    app.add_middleware(BodySizeLimit, limit=limit, smaller=glue)
    app.add_middleware(CancelledAnswer)
    app.add_middleware(BrowserCors)
    app.add_middleware(HeadAsGet)
    app.add_middleware(AccessLog)
    app.add_middleware(CorrelationId)
    return app


NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def _include_routers(app: FastAPI, settings: Settings) -> list[APIRouter]:
    """Every route there is; the development conveniences only where they are switched on.
    Answers the routers included."""
    # The shopper's page calls first, on the application itself: FastAPI tries routes in order.
    include_flat(app, commercetools.router)
    routers = [
        health.router,
        enabler.router,
        jwks.router,
        oauth.router,
        giftcards.router,
        carts.router,
        orders.router,
        norce.router,
        sessions.router,
        spryker.router,
        operations.router,
    ]
    if settings.redirect_simulator_on:
        routers.append(redirect_page.router)  # development only: anyone can "pay" there
    if settings.redirect_provider_secret is not None:
        routers.append(redirect_callback.router)
    if settings.demo_on:
        # development only: the demo's backend makes carts and sessions for anyone. Imported
        # here, so a production worker never loads it (nor httpx, its client, whose import
        # brings its own CLI's rich and pygments: a tenth of a second of every worker's start)
        from tender.demo.backend import demo_router

        routers.append(demo_router(Path(settings.demo_file)))
    for router in routers:
        app.include_router(router)
    return [commercetools.router, *routers]


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: each worker process builds its own runtime."""
    configure_logging()
    app = create_app()
    # What start-up built (modules, routes, compiled statements) lives as long as the worker:
    # out of the collector's sight, a full collection no longer walks it, which took tens of
    # milliseconds and set the p99 of every call (a balance check's from ~20 ms to ~90 ms).
    gc.freeze()
    return app
