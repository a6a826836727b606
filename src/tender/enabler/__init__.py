"""The browser enabler as files tender serves: the ES module is the one source, the UMD build
is derived from it here (so the two cannot drift and Python users need no Node), and the
``.d.ts`` describes both. Both builds go out minified (comments and spaces removed, names
kept, so a browser's pretty-printer makes them readable again): the source stays the commented
file a reviewer reads. Pure Python: this package knows nothing of tender's layers."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import rjsmin  # type: ignore[import-untyped]

URL_PREFIX = "/enabler/"
"""Where tender serves these files."""
ES_MODULE = "connector-enabler.es.js"
UMD = "connector-enabler.umd.js"
TYPES = "connector-enabler.d.ts"
GLOBAL_NAME = "TenderEnabler"
"""The UMD build's global for pages that load it with a classic ``<script>``."""

JAVASCRIPT = "text/javascript; charset=utf-8"
TYPESCRIPT = "application/typescript; charset=utf-8"

_EXPORTS = re.compile(
    r"\nexport \{ (?P<names>[\w, ]+) \};\nexport default (?P<default>\w+);\n\Z", re.ASCII
)
_OTHER_EXPORT = re.compile(r"^\s*(export|import)\b", re.MULTILINE)


class NotConvertible(ValueError):
    """The module's shape is one the UMD conversion does not understand."""


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str
    """A strong validator: the content's hash, so every worker and every release agree."""
    gzipped: bytes
    """Compressed once at start: a third of the bytes on the wire for every browser."""

    @property
    def gzip_etag(self) -> str:
        """Another representation, another strong validator (RFC 9110 §8.8.3)."""
        return self.etag[:-1] + '-gzip"'


def umd_from_module(source: str, global_name: str = GLOBAL_NAME) -> str:
    """Wraps the module in a UMD factory. The module must end with its single export block
    (``export { A, B };`` then ``export default A;``) and import nothing: anything else is
    refused rather than converted half-way."""
    match = _EXPORTS.search(source)
    if match is None:
        raise NotConvertible("the module must end with `export { … };` and `export default …;`")
    body = source[: match.start()]
    if _OTHER_EXPORT.search(body) or "import.meta" in body:
        raise NotConvertible("only the final export block may export, and nothing may import")
    names = [name.strip() for name in match["names"].split(",")]
    members = ", ".join(f"{name}: {name}" for name in names)
    return (
        f"/* Generated from {ES_MODULE} by tender when served: edit that file, not this one. */\n"
        "(function (root, factory) {\n"
        '  if (typeof define === "function" && define.amd) define([], factory);\n'
        '  else if (typeof module === "object" && module.exports) module.exports = factory();\n'
        f"  else root.{global_name} = factory();\n"
        '})(typeof self !== "undefined" ? self : this, function () {\n'
        '"use strict";\n'
        f"{body}\n"
        f"return {{ {members}, default: {match['default']} }};\n"
        "});\n"
    )


def minified(script: str) -> str:
    """``script`` without comments and needless spaces (rjsmin: a tokeniser, so strings,
    template literals and regular expressions are kept as they are), after a one-line note
    that names the source."""
    body: str = rjsmin.jsmin(script)
    return f"/*! tender gift card enabler, minified from {ES_MODULE} */\n" + body


def _asset(body: bytes, media_type: str) -> Asset:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, media_type, etag, gzip.compress(body, compresslevel=9, mtime=0))


def source() -> str:
    """The ES module as written."""
    return files("tender.enabler").joinpath(ES_MODULE).read_text(encoding="utf-8")


@cache
def assets() -> dict[str, Asset]:
    """Built once per process: the files are part of the installed package."""
    module = source()
    return {
        ES_MODULE: _asset(minified(module).encode(), JAVASCRIPT),
        UMD: _asset(minified(umd_from_module(module)).encode(), JAVASCRIPT),
        TYPES: _asset(files("tender.enabler").joinpath(TYPES).read_bytes(), TYPESCRIPT),
    }
