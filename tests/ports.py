"""A port for a test's own server process."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port free on 127.0.0.1 now; the server that binds it later may in rare cases lose it
    to another process, which a test then sees as a server that does not start."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
