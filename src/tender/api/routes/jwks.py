"""tender's public signing keys, for anyone who verifies the JWTs it mints."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict

from tender.api.security import runtime_of

router = APIRouter(tags=["auth"])
CACHE_SECONDS = 300


class PublicJwk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kty: str
    crv: str
    x: str
    kid: str
    """RFC 7638 thumbprint of the key."""
    use: str
    alg: str


class JwkSet(BaseModel):
    keys: list[PublicJwk]


@router.get(
    "/.well-known/jwks.json",
    response_model=JwkSet,
    summary="The public keys of tender's JWTs (RFC 7517), by kid",
)
async def jwks(request: Request, response: Response) -> JwkSet:
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return JwkSet.model_validate(runtime_of(request).signing_keys.jwks())
