"""Where a processor call's Python calls go: each call a request makes (Python functions and C
functions alike) is counted against the innermost of tender's own frames on the stack, so a
line reads "this tender function, and what it called outside tender, cost N calls a request".
Calls with no tender frame on the stack are the event loop's and the benchmark's own.

``bench/processor_cost.py`` gives the totals; this is the breakdown behind them, the figure to
look at before and after trimming a hot path. Counts, unlike CPU time, do not move with the
host. One request at a time straight into the ASGI app, as ``processor_cost`` does.

    python -m bench.processor_calls --call redeem --db postgresql --top 30
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import fresh_database, print_table
from bench.processor_cost import WARM_UP, post, unbudgeted
from bench.processor_http import prepare
from tender.api.app import create_app

SOURCE = str(Path(__file__).resolve().parent.parent / "src" / "tender") + "/"
OUTSIDE = "(no tender frame: the event loop, the benchmark)"


class Owners:
    """A ``sys.setprofile`` hook counting calls by their innermost tender frame."""

    def __init__(self) -> None:
        self.functions: Counter[str] = Counter()
        self.modules: Counter[str] = Counter()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event not in ("call", "c_call"):
            return
        here: FrameType | None = frame.f_back if event == "call" else frame
        while here is not None:
            filename = here.f_code.co_filename
            if filename.startswith(SOURCE):
                module = filename.removeprefix(SOURCE)
                self.functions[f"{module}: {here.f_code.co_qualname}"] += 1
                self.modules[module] += 1
                return
            here = here.f_back
        self.functions[OUTSIDE] += 1
        self.modules[OUTSIDE] += 1


async def main(call: str, kind: str, requests: int, top: int) -> None:
    async with fresh_database(kind) as db:
        count = WARM_UP + requests
        balance, redeem = await prepare(db, count, 0, cards=count)
        lines = balance if call == "balance" else redeem
        app = create_app(unbudgeted(db))
        owners = Owners()
        async with app.router.lifespan_context(app):
            for line in lines[:WARM_UP]:
                await post(app, line)
            sys.setprofile(owners)
            try:
                for line in lines[WARM_UP:count]:
                    await post(app, line)
            finally:
                sys.setprofile(None)
    total = sum(owners.modules.values()) / requests
    for title, counter in (("module", owners.modules), ("function", owners.functions)):
        rows = [[f"{n / requests:,.1f}", name] for name, n in counter.most_common(top)]
        print_table(
            f"POST /{call} on {kind}: Python calls a request by the innermost tender {title}, "
            f"{requests} requests, {total:,.0f} calls a request in all",
            ["calls", title],
            rows,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--call", choices=["balance", "redeem"], default="redeem")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.call, arguments.db, arguments.requests, arguments.top))
