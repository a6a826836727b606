"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from tender.api.errors import error_response
from tender.api.security import runtime_of

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: the database answers and its schema is current")
async def ready(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    try:
        current = await runtime.schema.current()
    except Exception as error:
        return error_response(
            503, "DatabaseUnavailable", f"database unreachable: {type(error).__name__}"
        )
    head = runtime.schema.head()
    if current != head:
        return error_response(
            503,
            "MigrationsPending",
            f"schema at {current}, code expects {head}: run tender db upgrade",
        )
    return JSONResponse({"status": "ready", "database": "ok", "schemaRevision": current})
