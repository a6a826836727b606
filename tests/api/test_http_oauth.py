"""OAuth2 client credentials (RFC 6749), introspection (RFC 7662) and bearer errors (RFC 6750)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tender.auth.keys import SigningKey
from tender.db.client_store import SqlClientStore
from tests.api.conftest import Api, assert_error
from tests.rows import snapshot


async def test_token_with_basic_auth_and_with_form_credentials(api: Api) -> None:
    client_id, secret = await api.new_client("manage_giftcards view_giftcards")
    basic = await api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert basic.status_code == 200
    body = basic.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "manage_giftcards view_giftcards"
    assert basic.headers["cache-control"] == "no-store"
    form = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert form.status_code == 200
    assert form.json()["access_token"] != body["access_token"]
    query = await api.client.post(
        "/oauth/token?grant_type=client_credentials&scope=view_giftcards", auth=(client_id, secret)
    )
    assert query.status_code == 200
    assert query.json()["scope"] == "view_giftcards"
    # Basic, and the form repeating its client_id alone (as some clients do): one client.
    repeated = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": client_id},
        auth=(client_id, secret),
    )
    assert repeated.status_code == 200, repeated.text
    shouting = await api.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials",
        auth=(client_id, secret),
        headers={"Content-Type": "Application/X-WWW-Form-URLEncoded; charset=UTF-8"},
    )
    assert shouting.status_code == 200, shouting.text


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({}, "good", 400, "invalid_request"),
        ({"grant_type": "password"}, "good", 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "bad", 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "scope": "manage_orders"},
            "good",
            400,
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials", "scope": "root"}, "good", 400, "invalid_scope"),
        # RFC 6749 2.3: one authentication method a request. Basic used to win silently, so
        # a client_secret in the form (perhaps someone else's, or a wrong one) went unchecked.
        (
            {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
            "good",
            400,
            "invalid_request",
        ),
        (
            {"grant_type": "client_credentials", "client_secret": "y"},
            "good",
            400,
            "invalid_request",
        ),
    ],
)
async def test_token_errors_follow_rfc_6749(
    api: Api, data: dict[str, str], auth: str | None, status: int, error: str
) -> None:
    client_id, secret = await api.new_client("view_giftcards")
    credentials = {"good": (client_id, secret), "bad": (client_id, "wrong"), None: None}[auth]
    response = await api.client.post("/oauth/token", data=data, auth=credentials)
    body = assert_error(response, status, error)
    assert body["error"] == error
    assert body["error_description"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_a_client_may_ask_for_the_view_scope_its_manage_scope_implies(api: Api) -> None:
    """A client holding ``manage_giftcards`` (and so reading cards) may ask for a token that
    only reads them, for a reporting job, say: the narrower token is what least privilege is
    for. Asking for more than the client holds stays refused."""
    client_id, secret = await api.new_client("manage_giftcards manage_payments")
    for asked in ("view_giftcards", "view_sessions", "view_giftcards view_sessions"):
        response = await api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": asked},
            auth=(client_id, secret),
        )
        assert response.status_code == 200, (asked, response.text)
        assert response.json()["scope"] == asked
    token = response.json()["access_token"]
    reader = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/giftcards", headers=reader)).status_code == 200
    issued = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 100, "currency": "EUR"}}, headers=reader
    )
    assert_error(issued, 403, "insufficient_scope")
    for beyond in ("view_giftcards manage_orders", "introspect_oauth_tokens", "view_api_clients"):
        refused = await api.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": beyond},
            auth=(client_id, secret),
        )
        assert_error(refused, 400, "invalid_scope")
    viewer_id, viewer_secret = await api.new_client("view_giftcards")
    escalated = await api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "manage_giftcards"},
        auth=(viewer_id, viewer_secret),
    )
    assert_error(escalated, 400, "invalid_scope")


async def test_tokens_expire_and_die_with_their_client(api: Api) -> None:
    client_id, secret = await api.new_client("view_giftcards")
    token = (
        await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/giftcards", headers=headers)).status_code == 200
    api.clock.advance(seconds=3601)
    expired = await api.client.get("/giftcards", headers=headers)
    assert_error(expired, 401, "invalid_token")
    api.clock.advance(seconds=-3601)
    await api.runtime.db.transaction(
        lambda c: SqlClientStore(c).set_client_active(client_id, False)
    )
    assert_error(await api.client.get("/giftcards", headers=headers), 401, "invalid_token")
    refused = await api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert_error(refused, 401, "invalid_client")


async def test_bearer_errors_follow_rfc_6750(api: Api) -> None:
    missing = await api.client.get("/giftcards")
    assert_error(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="tender"'
    bad = await api.client.get("/giftcards", headers={"Authorization": "Bearer nonsense"})
    assert_error(bad, 401, "invalid_token")
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    scheme = await api.client.get("/giftcards", headers={"Authorization": "Token abc"})
    assert_error(scheme, 401)
    assert scheme.headers["www-authenticate"] == 'Bearer realm="tender"'  # no error code
    empty = await api.client.get("/giftcards", headers={"Authorization": "Bearer  "})
    assert_error(empty, 401, "invalid_request")
    assert 'error="invalid_request"' in empty.headers["www-authenticate"]
    narrow = await api.headers("view_giftcards")
    forbidden = await api.client.post(
        "/giftcards", json={"amount": {"centAmount": 100, "currency": "EUR"}}, headers=narrow
    )
    assert_error(forbidden, 403, "insufficient_scope")
    assert 'scope="manage_giftcards"' in forbidden.headers["www-authenticate"]


async def test_admin_jwts(api: Api) -> None:
    good = {"Authorization": f"Bearer {api.admin_jwt('view_giftcards')}"}
    assert (await api.client.get("/giftcards", headers=good)).status_code == 200
    for token in (
        api.admin_jwt(
            "view_giftcards", key=SigningKey.derive(b"some-other-key-0123456789abcdefghijklmnop")
        ),
        api.admin_jwt("view_giftcards", ttl=timedelta(minutes=-5)),
    ):
        response = await api.client.get("/giftcards", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "invalid_token")
    unscoped = {"Authorization": f"Bearer {api.admin_jwt('manage_orders')}"}
    assert_error(await api.client.get("/giftcards", headers=unscoped), 403, "insufficient_scope")


async def test_introspection(api: Api) -> None:
    introspector_id, introspector_secret = await api.new_client("introspect_oauth_tokens")
    token = await api.token("view_giftcards")
    active = await api.client.post(
        "/oauth/introspect", data={"token": token}, auth=(introspector_id, introspector_secret)
    )
    assert active.status_code == 200
    body = active.json()
    assert body["active"] is True
    assert body["scope"] == "view_giftcards"
    assert body["token_type"] == "Bearer"
    assert body["exp"] - body["iat"] == 3600
    assert body["client_id"].startswith("tnd_")
    bearer = {"Authorization": f"Bearer {await api.token('introspect_oauth_tokens')}"}
    unknown = await api.client.post("/oauth/introspect", data={"token": "tnd_at_x"}, headers=bearer)
    assert unknown.json() == {"active": False}
    api.clock.advance(hours=2)
    expired = await api.client.post(
        "/oauth/introspect", data={"token": token}, auth=(introspector_id, introspector_secret)
    )
    assert expired.json() == {"active": False}


async def test_introspection_needs_the_scope(api: Api) -> None:
    client_id, secret = await api.new_client("view_giftcards")
    by_basic = await api.client.post(
        "/oauth/introspect", data={"token": "x"}, auth=(client_id, secret)
    )
    assert_error(by_basic, 403, "insufficient_scope")
    assert_error(await api.client.post("/oauth/introspect", data={"token": "x"}), 401)
    allowed_id, allowed_secret = await api.new_client("introspect_oauth_tokens")
    two_methods = await api.client.post(
        "/oauth/introspect",
        data={"token": "x", "client_secret": "wrong"},
        auth=(allowed_id, allowed_secret),
    )
    assert_error(two_methods, 400, "invalid_request")
    headers = await api.headers("introspect_oauth_tokens")
    assert_error(
        await api.client.post("/oauth/introspect", data={}, headers=headers),
        400,
        "invalid_request",
    )


async def test_credentials_in_the_query_string_are_refused(api: Api) -> None:
    """A secret in a URL ends up in proxy and browser histories: 400, nothing issued."""
    client_id, secret = await api.new_client("view_giftcards")
    token = await api.token("introspect_oauth_tokens")
    before = await snapshot(api.runtime.db)
    for query, kwargs in (
        (f"client_id={client_id}&client_secret={secret}", {}),
        (f"client_secret={secret}", {"auth": (client_id, secret)}),
        (f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}", {}),
        ("access_token=x", {"auth": (client_id, secret)}),
    ):
        response = await api.client.post(
            f"/oauth/token?{query}", data={"grant_type": "client_credentials"}, **kwargs
        )
        body = assert_error(response, 400, "invalid_request")
        assert body["error"] == "invalid_request"
        assert secret not in response.text
    assert await snapshot(api.runtime.db) == before
    introspect = await api.client.post(
        f"/oauth/introspect?token={token}", headers={"Authorization": f"Bearer {token}"}
    )
    assert_error(introspect, 400, "invalid_request")
    fine = await api.client.post(
        "/oauth/token?grant_type=client_credentials&scope=view_giftcards", auth=(client_id, secret)
    )
    assert fine.status_code == 200, fine.text
