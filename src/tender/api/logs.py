"""Structured JSON logs: one object per line, with the request's correlation id.

The access log names the route template (``/sessions/{session_id}``), never the raw path, and
no request or response body or header is logged, so no code, PIN, token or session id can
reach a log line.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tender.api.middleware import HttpMiddleware, correlation_id

access_log = logging.getLogger("tender.access")
RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's copy of its message with terminal colour codes, for consoles
}
_encode = json.JSONEncoder(default=str).encode
"""One encoder for every line (``json.dumps`` with ``default`` builds one per call)."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        corr = correlation_id.get()
        if corr:
            entry["correlationId"] = corr
        entry.update({k: v for k, v in record.__dict__.items() if k not in RESERVED})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return _encode(entry)


def configure_logging(level: str = "INFO") -> None:
    # What a record would otherwise collect and no line shows (the caller's file and line, the
    # thread, the process): logging's documented switches, a fifth of an access line's cost.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # uvicorn's access log prints raw paths, and a path can hold a session id: ours logs the
    # route template instead.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers[:] = []
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True


CLIENT_CLOSED_REQUEST = 499
"""What the access log says of a request that ended with no answer and no error: its client
left before it could be answered (the status nginx logs for it; never sent)."""


class AccessLog(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status: int | None = None

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
            if status is None:  # nothing to answer: the client left first
                status = CLIENT_CLOSED_REQUEST
        finally:
            if status is None:  # an error nobody answered: the server drops the connection
                status = 500
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": path,
                    "status": status,
                    "durationMs": round((time.perf_counter() - started) * 1000, 2),
                },
            )
