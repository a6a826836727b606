"""A token asked for with a secret that is rotated meanwhile: verified before the rotation
commits, it is not written after it (else it would outlive the secret it was issued for)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tender.cli.clients import _new_secret
from tender.db.client_store import tokens as token_rows
from tests.api.conftest import Api


async def test_a_token_verified_before_a_rotation_is_not_issued_after_it(api: Api) -> None:
    client_id, old_secret = await api.new_client()
    db = api.runtime.db
    read = db.read
    rotated: list[str | None] = []

    async def read_then_rotate(work: Any) -> Any:
        result = await read(work)  # the old secret is verified here
        if not rotated:  # and the operator's ``clients rotate-secret`` commits now
            rotated.append((await _new_secret(api.runtime, client_id, False, None))[0])
        return result

    db.read = read_then_rotate  # type: ignore[method-assign]
    try:
        granted = await api.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, old_secret)
        )
    finally:
        db.read = read  # type: ignore[method-assign]
    assert rotated
    assert rotated[0] is not None
    assert granted.status_code == 401, granted.text
    assert granted.json()["error"] == "invalid_client"

    async def tokens(conn: Any) -> int:
        return int((await conn.execute(select(func.count()).select_from(token_rows))).scalar())

    assert await db.read(tokens) == 0
    fresh = await api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, rotated[0])
    )
    assert fresh.status_code == 200, fresh.text
