"""The browser enabler's files, for any page on any origin.

They are public code, not data: ``Access-Control-Allow-Origin: *`` lets a merchant's page load
the ES module (module scripts are fetched with CORS) without tender knowing its origin, and no
credential is ever involved. The processor's own routes keep their per-session CORS rules
(``api/cors.py`` leaves these paths alone). A short cache lifetime plus a content-hash ETag
means a release reaches shoppers within minutes and a revalidation costs a 304; browsers get
the copy gzipped once at start.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tender.enabler import ES_MODULE, TYPES, UMD, URL_PREFIX, assets

CACHE_CONTROL = "public, max-age=300"

router = APIRouter(tags=["enabler"])


def _serve(request: Request, name: str) -> Response:
    asset = assets()[name]
    gzipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = asset.gzip_etag if gzipped else asset.etag
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        "Access-Control-Allow-Origin": "*",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "X-Content-Type-Options": "nosniff",
    }
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip().removeprefix("W/") for tag in wanted.split(",")}:
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def _accepts_gzip(header: str) -> bool:
    for item in header.lower().split(","):
        coding, _, params = item.partition(";")
        if coding.strip() == "gzip":
            weight = params.strip().removeprefix("q=")
            try:
                return not weight or float(weight) > 0  # a weight, not money
            except ValueError:
                return False
    return False


@router.get(
    URL_PREFIX + ES_MODULE,
    response_class=Response,
    responses={200: {"content": {"text/javascript": {}}}},
    summary="The enabler as an ES module",
)
async def es_module(request: Request) -> Response:
    return _serve(request, ES_MODULE)


@router.get(
    URL_PREFIX + UMD,
    response_class=Response,
    responses={200: {"content": {"text/javascript": {}}}},
    summary="The enabler as a UMD script (global TenderEnabler)",
)
async def umd(request: Request) -> Response:
    return _serve(request, UMD)


@router.get(
    URL_PREFIX + TYPES,
    response_class=Response,
    responses={200: {"content": {"application/typescript": {}}}},
    summary="The enabler's TypeScript declarations",
)
async def types(request: Request) -> Response:
    return _serve(request, TYPES)
