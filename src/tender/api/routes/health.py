"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from pydantic import BaseModel

from tender.api.errors import Unavailable, responses
from tender.api.security import runtime_of

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class Liveness(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = "ready"
    database: str = "ok"
    schemaRevision: str | None


@router.get("/health", response_model=Liveness, summary="Liveness: the process answers")
async def health() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    responses=responses(503),
    summary="Readiness: the database answers and its schema is current",
)
async def ready(request: Request) -> Readiness:
    runtime = runtime_of(request)
    # A database that accepts connections but never answers would keep the probe for the
    # connect timeout, beyond any orchestrator's probe: give up as the operations status does.
    seconds = runtime.settings.operations_status_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            current = await runtime.schema.current()
    except TimeoutError:
        raise Unavailable(
            "DatabaseUnavailable", f"database unreachable: no answer within {seconds:g} s"
        ) from None
    except Exception as error:
        # The answer names the error's type only (its text may name hosts); the operator
        # finds why in the log, whatever it was, a fault of tender's own included.
        log.warning("readiness: the database did not answer", exc_info=error)
        raise Unavailable(
            "DatabaseUnavailable", f"database unreachable: {type(error).__name__}"
        ) from None
    problem = runtime.schema.problem(current)
    if problem is not None:
        raise Unavailable("MigrationsPending", problem)
    return Readiness(schemaRevision=current)
