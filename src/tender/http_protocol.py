"""uvicorn's HTTP protocol with a limit on a request's head (its request line and headers).

uvicorn's fast parser (httptools) keeps every byte of a head until the head ends, with no limit
of its own: one connection sending a header of hundreds of megabytes grew a worker by as much,
and a few of them at once would end it. The body has its limit in the app
(``BodySizeLimit``); the head can only be limited where it is read, here. A head over
``MAX_HEAD_BYTES`` is answered 431 in the service's error shape and the connection closed.

A head is measured as the parser reads it (its URL and each header as it completes), and
refused before the app sees it. A single header too long to complete, or a chunked body's
trailers (headers after the body, kept whole by the parser too), are caught by the bytes read
while nothing reaches the app: at most ``READ_SIZE`` more than the limit is ever buffered. The
431 waits for the answers to any requests sent before the refused one."""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024
"""Far above any head a client of tender sends (a JWT of a few kilobytes in the largest), and
four times what uvicorn's other parser (h11) allows by default."""
TOO_LARGE = json.dumps(
    {
        "statusCode": 431,
        "message": f"The request's headers exceed {MAX_HEAD_BYTES} bytes.",
        "errors": [
            {
                "code": "HeadersTooLarge",
                "message": f"The request's headers exceed {MAX_HEAD_BYTES} bytes.",
            }
        ],
    }
).encode()


READ_SIZE = 256 * 1024
"""The most asyncio (or uvloop) reads from a socket at once: the chunk a head began in may
hold that much of the requests before it, so the count of bytes read errs by that much."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` refusing heads over ``MAX_HEAD_BYTES``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = 0
        """The bytes of the current head's URL and completed headers."""
        self._read: int | None = None
        """Bytes read since the current message last made progress the app sees (its start,
        its head's end, a piece of its body): a head, or a chunked body's trailers, kept
        whole by the parser until they end. ``None`` between messages."""
        self._over = False
        self._in_head = False
        self._started = False
        """Whether the message refused had a request started (it was its trailers)."""
        self._refused = False

    def _unsupported_upgrade_warning(self) -> None:
        """tender serves no WebSocket and answers an upgrade request as plain HTTP. uvicorn
        warned twice for each, the second time advising to install a WebSocket library:
        anyone could fill the log with advice that does not apply."""
        self.logger.debug("an upgrade request is answered as plain HTTP")

    def data_received(self, data: bytes) -> None:
        if self._over or self.transport.is_closing():
            return  # refused: nothing more is read
        super().data_received(data)
        if self._read is not None and not self._over:  # a message still open after this read
            self._read += len(data)
            if self._read > MAX_HEAD_BYTES + READ_SIZE:
                self._over = True
                self._started = not self._in_head
        if self._over and not self._answering():
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head = 0
        self._read = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._read = 0
        self._in_head = False
        self._over = self._over or self._head > MAX_HEAD_BYTES
        if not self._over:  # else no request is started: the connection is refused
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._read = 0  # a body's limit is the app's
        if not self._over:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._read = None
        if not self._over:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._over and not self._answering():
            self._refuse()  # after the answers to the requests before the refused one

    def _answering(self) -> bool:
        """Whether a request before the refused one is still to be answered: its answer goes
        first, as HTTP/1.1 answers in order (a 431 in its place would be read as its). A
        message refused for its trailers is itself the request running: it is refused now."""
        if self._started:
            return False
        running = self.cycle is not None and not self.cycle.response_complete
        return running or bool(self.pipeline)

    def _refuse(self) -> None:
        if self._refused:
            return
        self._refused = True
        self.logger.warning("Request headers over %d bytes refused.", MAX_HEAD_BYTES)
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(TOO_LARGE)).encode() + b"\r\n"
            b"cache-control: no-store\r\n"
            b"connection: close\r\n\r\n"
        )
        self.transport.write(head + TOO_LARGE)
        self.transport.close()
