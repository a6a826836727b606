"""What ``tender serve`` sets in uvicorn. A request's head (request line and headers) is
limited as the app limits its body: uvicorn's fast parser has no limit of its own, and a single
header of 300 MB sent on one connection grew a worker by half a gigabyte, and was answered 200.
A WebSocket upgrade is answered as plain HTTP: uvicorn's WebSocket handler logged its raw path
and query, where a session id or a code may be."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tender.http_protocol import MAX_HEAD_BYTES


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def served(home: Path) -> Iterator[int]:
    port = _free_port()
    env = {
        **os.environ,
        "TENDER_ENV": "test",
        "TENDER_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'tender.db'}",
        "TENDER_SECRET_KEY": "serve-test-secret-key-0123456789abcdefghij",
        "TENDER_ENV_FILE": str(home / "absent.env"),
        "TENDER_PORT": str(port),
        "TENDER_HOST": "127.0.0.1",
    }
    log = (home / "serve.log").open("wb")
    cli = [sys.executable, "-c", "from tender.cli import main; main()"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=home, check=True, capture_output=True)
    server = subprocess.Popen(
        [sys.executable, "-c", "from tender.cli import main; main()", "serve"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _exchange(port, [_request()]).startswith(b"HTTP/1.1 200"):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("tender serve did not answer /health within 60 s")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _request(header_bytes: int = 0) -> bytes:
    padding = b"X-Padding: " + b"a" * header_bytes + b"\r\n" if header_bytes else b""
    return b"GET /health HTTP/1.1\r\nHost: tender\r\n" + padding + b"\r\n"


def _exchange(port: int, pieces: list[bytes]) -> bytes:
    """Send ``pieces`` one after another and read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        try:
            for piece in pieces:
                conn.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while we were still sending
        received = b""
        conn.settimeout(1)
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return received


def test_a_head_within_the_limit_is_answered(served: int) -> None:
    answer = _exchange(served, [_request(MAX_HEAD_BYTES // 2)])
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]


@pytest.mark.parametrize("size", [MAX_HEAD_BYTES + 1, 4 * 1024 * 1024])
def test_a_head_over_the_limit_is_refused_in_the_error_shape(served: int, size: int) -> None:
    request = _request(size)
    pieces = [request[i : i + 16_384] for i in range(0, len(request), 16_384)]
    answer = _exchange(served, pieces)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    error = json.loads(body)
    assert error["statusCode"] == 431
    assert error["errors"][0]["code"] == "HeadersTooLarge"


def test_each_request_of_a_connection_has_the_limit(served: int) -> None:
    """The count starts again after each request: many small ones on one connection pass,
    and a large head after them is refused."""
    small = [_request(1024)] * 100
    answers = _exchange(served, [b"".join(small)])
    assert answers.count(b"HTTP/1.1 200") == 100
    with socket.create_connection(("127.0.0.1", served), timeout=5) as conn:
        conn.sendall(_request())
        assert _response(conn).startswith(b"HTTP/1.1 200")
        conn.sendall(_request(MAX_HEAD_BYTES + 1))
        assert _response(conn).startswith(b"HTTP/1.1 431")


def _response(conn: socket.socket) -> bytes:
    """One whole response (its head, then ``Content-Length`` bytes of body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_websocket_upgrade_is_plain_http_and_logs_no_raw_path(served: int, home: Path) -> None:
    upgrade = (
        b"GET /health?code=6012SECRET0001 HTTP/1.1\r\nHost: tender\r\n"
        b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    answer = _exchange(served, [upgrade])
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    time.sleep(0.5)  # the log line is written after the answer
    log = (home / "serve.log").read_text()
    assert '"route": "/health"' in log
    assert "SECRET" not in log
    assert "upgrade" not in log.lower()  # no advice to install a WebSocket library


def test_a_chunked_bodys_trailers_have_the_limit(served: int) -> None:
    """Trailers are headers sent after a chunked body, kept whole by the parser as a head is:
    the body's end does not end the count."""
    trailer = (
        b"POST /oauth/token HTTP/1.1\r\nHost: tender\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\nX-Trailer: " + b"a" * (4 * 1024 * 1024)
    )
    pieces = [trailer[i : i + 65_536] for i in range(0, len(trailer), 65_536)]
    assert _exchange(served, pieces).startswith(b"HTTP/1.1 431")


def test_a_large_chunked_body_is_the_apps_to_limit(served: int) -> None:
    body = b'{"amount": {"centAmount": 100, "currency": "EUR"}, "pad": "' + b"x" * (900 * 1024)
    body += b'"}'
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 8192]), body[i : i + 8192])
        for i in range(0, len(body), 8192)
    )
    request = (
        b"POST /giftcards HTTP/1.1\r\nHost: tender\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/json\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    answer = _exchange(served, [request[i : i + 65_536] for i in range(0, len(request), 65_536)])
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]  # no client: not a 431


def test_requests_before_a_refused_one_are_answered_first(served: int) -> None:
    """HTTP/1.1 answers in order: a 431 sent in place of an earlier request's answer would be
    read as that request's (a client could then send a POST that ran once again)."""
    answers = _exchange(served, [_request() + _request(MAX_HEAD_BYTES + 1)])
    first, _, rest = answers.partition(b"HTTP/1.1 431")
    assert first.startswith(b"HTTP/1.1 200"), answers[:300]
    assert b'"status":"ok"' in first.replace(b" ", b"")
    assert b"HeadersTooLarge" in rest
