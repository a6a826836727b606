"""The enabler's files over HTTP: public code for any origin, with validators and types, and a
UMD build that is the ES module wrapped, nothing more."""

from __future__ import annotations

import re

import pytest

from tender.enabler import (
    ES_MODULE,
    GLOBAL_NAME,
    TYPES,
    UMD,
    URL_PREFIX,
    NotConvertible,
    assets,
    minified,
    source,
    umd_from_module,
)
from tests.api.conftest import Api, assert_error
from tests.api.test_http_sessions import SHOP, setup

FILES = {
    ES_MODULE: "text/javascript; charset=utf-8",
    UMD: "text/javascript; charset=utf-8",
    TYPES: "application/typescript; charset=utf-8",
}


@pytest.mark.parametrize(("name", "media_type"), sorted(FILES.items()))
@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("identity", False),
        ("gzip, deflate", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
    ],
)
async def test_files_are_public_cacheable_code(
    api: Api, name: str, media_type: str, accept: str, gzipped: bool
) -> None:
    asked = {"Origin": "https://any.example", "Accept-Encoding": accept}
    response = await api.client.get(URL_PREFIX + name, headers=asked)
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers.get("content-encoding") == ("gzip" if gzipped else None)
    etag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}-gzip"' if gzipped else r'"[0-9a-f]{32}"', etag)
    assert response.content == assets()[name].body  # httpx decompresses

    revalidate = {"Accept-Encoding": accept, "If-None-Match": f'"stale", {etag}'}
    again = await api.client.get(URL_PREFIX + name, headers=revalidate)
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    stale = {"Accept-Encoding": accept, "If-None-Match": '"stale"'}
    assert (await api.client.get(URL_PREFIX + name, headers=stale)).status_code == 200


async def test_a_sessions_own_origin_still_gets_one_allow_origin_header(api: Api) -> None:
    """The processor's CORS layer names allowed origins; on the enabler's files a second
    header would make the browser refuse the module."""
    _, _, session = await setup(api)  # SHOP is now an allowed origin
    response = await api.client.get(URL_PREFIX + ES_MODULE, headers={"Origin": SHOP})
    assert response.headers.get_list("access-control-allow-origin") == ["*"]
    session_route = await api.client.get(
        "/session/cart", headers={"Origin": SHOP, "X-Session-Id": session}
    )
    assert session_route.headers.get_list("access-control-allow-origin") == [SHOP]


async def test_unknown_files_are_404_in_the_error_shape(api: Api) -> None:
    for path in ("connector-enabler.js", "../app.py", "connector-enabler.es.js.map", ""):
        assert_error(await api.client.get(URL_PREFIX + path), 404)


def test_umd_wraps_the_module_and_exports_what_it_exports() -> None:
    umd = umd_from_module(source())
    body = source()[: source().rindex("\nexport {")]
    assert body in umd
    assert f"root.{GLOBAL_NAME} = factory();" in umd
    assert "return { Enabler: Enabler, EnablerError: EnablerError, default: Enabler };" in umd
    assert not re.search(r"^\s*(export|import)\b", umd, re.MULTILINE)


def test_the_types_declare_what_the_module_exports() -> None:
    module = source()
    types = assets()[TYPES].body.decode()
    exported = re.search(r"^export \{ ([\w, ]+) \};$", module, re.MULTILINE)
    assert exported is not None
    for name in exported[1].split(", "):
        assert re.search(rf"^export declare (class|const) {name}\b", types, re.MULTILINE), name
    assert "export default Enabler;" in module
    assert "export default Enabler;" in types
    assert f"export as namespace {GLOBAL_NAME};" in types


def test_both_builds_are_the_source_minified() -> None:
    """Served minified: comments and spaces go, every string and template literal stays (the
    styles, the texts in both languages), and the module still ends with its exports."""
    module, umd = assets()[ES_MODULE].body.decode(), assets()[UMD].body.decode()
    assert module == minified(source())
    assert umd == minified(umd_from_module(source()))
    assert module.endswith("export{Enabler,EnablerError};export default Enabler;")
    assert "return{Enabler:Enabler,EnablerError:EnablerError,default:Enabler};" in umd
    texts = re.findall(r'^\s*\w+:\s*("[^"\n]*"),?$', source(), re.MULTILINE)  # en and de
    templates = re.findall(r"`[^`]*`", re.sub(r"/\*.*?\*/|//[^\n]*", "", source(), flags=re.S))
    literals = texts + templates
    assert len(literals) > 40
    for literal in literals:
        assert literal in module, literal
        assert literal in umd, literal
    for build in (module, umd):
        assert len(build) < 0.8 * len(source())
        assert "/**" not in build


@pytest.mark.parametrize(
    "source",
    [
        "const a = 1;\n",
        "const a = 1;\nexport { a };\n",
        "export const b = 2;\nconst a = 1;\nexport { a };\nexport default a;\n",
        'import x from "y";\nconst a = 1;\nexport { a };\nexport default a;\n',
        "const a = import.meta.url;\nexport { a };\nexport default a;\n",
    ],
)
def test_umd_refuses_modules_it_cannot_convert_faithfully(source: str) -> None:
    with pytest.raises(NotConvertible):
        umd_from_module(source)
