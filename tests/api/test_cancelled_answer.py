"""``CancelledAnswer`` on its own: which cancellations it answers, and which it lets go on.

The whole case, a request cancelled by ``tender serve`` at the end of its grace period, is
``tests/crash/test_shutdown.py``'s; these are the edges a running server cannot show on cue."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.types import Message, Receive, Scope, Send

from tender.api.middleware import CancelledAnswer

SCOPE: Scope = {
    "type": "http",
    "method": "POST",
    "path": "/redeem",
    "headers": [],
    "query_string": b"",
}


async def receive() -> Message:
    return {"type": "http.request", "body": b"{}", "more_body": False}


async def run_cancelled(app: CancelledAnswer, started: asyncio.Event) -> list[Message]:
    """Start ``app`` on a task of its own, cancel that task once ``started`` is set, and give
    back what it sent (the task ends either way)."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    task = asyncio.create_task(app(dict(SCOPE), receive, send))
    await started.wait()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        sent.append({"type": "cancelled"})
    return sent


async def test_a_request_cancelled_before_its_answer_is_answered_503_and_its_task_ends() -> None:
    started = asyncio.Event()

    async def waiting(scope: Scope, receive: Receive, send: Send) -> None:
        started.set()
        await asyncio.Event().wait()

    sent = await run_cancelled(CancelledAnswer(waiting), started)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"], sent
    assert sent[0]["status"] == 503
    headers = dict(sent[0]["headers"])
    assert headers[b"retry-after"] == b"2"
    assert headers[b"connection"] == b"close"
    body = json.loads(sent[1]["body"])
    assert body["statusCode"] == 503
    assert body["errors"][0]["code"] == "ServiceUnavailable"


async def test_an_answer_already_begun_is_not_answered_again() -> None:
    started = asyncio.Event()

    async def half_sent(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        started.set()
        await asyncio.Event().wait()

    sent = await run_cancelled(CancelledAnswer(half_sent), started)
    assert [m["type"] for m in sent] == ["http.response.start", "cancelled"], sent


async def test_a_cancellation_that_is_not_the_request_tasks_goes_on_up() -> None:
    """A ``CancelledError`` raised inside the app without its task being cancelled (a
    cancelled inner task whose error the app let through) is not a stopping service."""

    async def inner_cancelled(scope: Scope, receive: Receive, send: Send) -> None:
        inner = asyncio.create_task(asyncio.Event().wait())
        await asyncio.sleep(0)
        inner.cancel()
        await inner

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(asyncio.CancelledError):
        await CancelledAnswer(inner_cancelled)(dict(SCOPE), receive, send)
    assert sent == []
