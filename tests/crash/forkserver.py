"""``tender serve`` started in a fraction of a second: this program imports tender once, then
forks one service process per line it reads.

The per-route crash tests start a service for every case, and each of those starts dies at its
crash point. Importing tender takes about a second, which over a hundred cases would be most of
the tests' time; a forked child has it imported already and goes straight to building the app.
Each child is a process of its own (its own session, log and settings, read from the line), runs
exactly what ``tender serve`` runs, and dies exactly as a ``tender serve`` would: the crash point
ends it with ``os._exit``, so the database sees its connections drop, and SQLite's locks go with
it. The template never opens a database, a loop or a thread, so nothing half-made is forked.

Each line is JSON ``{"env": {...}, "port": N, "log": "path"}``; the answer is the child's pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _serve(order: dict[str, object]) -> None:
    """In the child: become the service, never return to the template's loop."""
    from tender.cli.main import serve

    os.setsid()
    log = os.open(str(order["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    env = order["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    code = 0
    try:
        serve(host="127.0.0.1", port=int(str(order["port"])), workers=1)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def main() -> None:
    # What ``serve`` and the app factory import, imported once for every child.
    import uvicorn  # noqa: F401

    import tender.api.app
    import tender.cli.main
    import tender.http_protocol  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        if not line.strip():
            continue
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _serve(order)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
