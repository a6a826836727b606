"""Logs are JSON with the correlation id, and no secret reaches them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tender.api.logs import JsonFormatter
from tests.api.conftest import Api


async def test_access_log_names_routes_not_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    h = await api.headers()
    cart = (
        await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    ).json()
    session = (
        await api.client.post(
            "/sessions", json={"cart": {"cartRef": {"id": cart["id"]}}}, headers=h
        )
    ).json()
    card = (
        await api.client.post(
            "/giftcards",
            json={"amount": {"centAmount": 100, "currency": "EUR"}, "pin": "2468"},
            headers=h,
        )
    ).json()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tender"):
        await api.client.get(
            f"/sessions/{session['id']}", headers={**h, "X-Correlation-ID": "corr-123"}
        )
        await api.client.post(
            "/giftcards/balance", json={"code": card["code"], "pin": "2468"}, headers=h
        )
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "tender.access"]
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["route"] == "/sessions/{session_id}"
    assert first["status"] == 200
    assert first["method"] == "GET"
    everything = "\n".join(formatter.format(r) for r in caplog.records)
    for secret in (
        session["id"],
        card["code"],
        card["code"].replace(" ", ""),
        "2468",
        h["Authorization"].split()[1],
    ):
        assert secret not in everything


def test_json_formatter_carries_correlation_id() -> None:
    from tender.api.middleware import correlation_id

    token = correlation_id.set("abc-1")
    try:
        record = logging.LogRecord(
            "tender.x", logging.WARNING, __file__, 1, "hello %s", ("world",), None
        )
        record.orderId = "o-1"
        line = json.loads(JsonFormatter().format(record))
    finally:
        correlation_id.reset(token)
    assert line["message"] == "hello world"
    assert line["correlationId"] == "abc-1"
    assert line["orderId"] == "o-1"
    assert line["level"] == "warning"


def test_uvicorns_colour_codes_stay_out_of_json_lines() -> None:
    """uvicorn logs its start-up lines with a ``color_message`` extra full of ANSI escapes."""
    record = logging.getLogger("uvicorn.error").makeRecord(
        "uvicorn.error", logging.INFO, "(unknown file)", 0, "Started server process [%d]", (7,),
        None, extra={"color_message": "Started server process [\x1b[36m%d\x1b[0m]"},
    )  # fmt: skip
    text = JsonFormatter().format(record)
    line = json.loads(text)
    assert line["message"] == "Started server process [7]"
    assert "color_message" not in line
    assert "\\u001b" not in text  # JSON's spelling of the escape character


def test_uvicorns_raw_path_access_log_is_off() -> None:
    from tender.api.logs import configure_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    access = logging.getLogger("uvicorn.access")
    saved_access = (access.handlers[:], access.propagate, access.disabled)
    switches = ("logThreads", "logProcesses", "logMultiprocessing", "_srcfile")
    saved_switches = {name: getattr(logging, name) for name in switches}
    try:
        configure_logging()
        assert access.disabled
        formatter = root.handlers[0].formatter
        assert isinstance(formatter, JsonFormatter)
        # a record made with the switches off still gives every field a line shows
        record = logging.getLogger("tender.access").makeRecord(
            "tender.access", logging.INFO, "(unknown file)", 0, "request", (), None,
            extra={"route": "/redeem", "status": 200},
        )  # fmt: skip
        line = json.loads(formatter.format(record))
        assert line["message"] == "request"
        assert (line["route"], line["status"], line["level"]) == ("/redeem", 200, "info")
        assert line["time"].endswith("+00:00")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        access.handlers[:], access.propagate, access.disabled = saved_access
        for name, value in saved_switches.items():
            setattr(logging, name, value)


async def test_no_trace_backend_is_given_a_raw_path(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI traces every request once an OpenTelemetry provider is configured, with the raw
    path and query as attributes: ``GET /sessions/{id}`` would send the session id on. tender
    switches FastAPI's telemetry off, so a configured provider is never even asked."""
    from opentelemetry import metrics, trace

    asked: list[str] = []

    class Provider(trace.TracerProvider):
        def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
            asked.append("tracer")
            return trace.NoOpTracer()

    class Meters(metrics.NoOpMeterProvider):
        def get_meter(self, *args: object, **kwargs: object) -> metrics.Meter:
            asked.append("meter")
            return super().get_meter(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(trace, "get_tracer_provider", Provider)
    monkeypatch.setattr(metrics, "get_meter_provider", Meters)
    h = await api.headers()
    cart = await api.client.post("/carts", json={"currency": "EUR", "country": "DE"}, headers=h)
    body = {"cart": {"cartRef": {"id": cart.json()["id"]}}}
    session = (await api.client.post("/sessions", json=body, headers=h)).json()
    looked_up = await api.client.get(f"/sessions/{session['id']}?x=1", headers=h)
    assert looked_up.status_code == 200
    assert asked == []


@pytest.mark.parametrize("path", ["/oauth/token", "/balance", "/giftcards"])
async def test_a_client_that_leaves_mid_body_is_no_error(
    api: Api, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    """A body cut short by its client leaving (anyone can do it, no credentials needed)
    runs nothing and is logged as the client's doing (499), not as tender's 500 with a
    traceback at error level."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": b'{"code": "12', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = {"content-type": "application/json", "content-length": "100"}
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("test", 80), "state": {}, "app": app,
    }  # fmt: skip
    with caplog.at_level(logging.INFO, logger="tender"):
        await app(scope, receive, send)
    assert sent == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    (line,) = [r for r in caplog.records if r.name == "tender.access"]
    assert line.status == 499  # type: ignore[attr-defined]
