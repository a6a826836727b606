"""Routes that check who is calling before they read what is sent.

FastAPI parses a JSON body before it runs a route's dependencies, so a caller with a bad token
and a malformed body used to learn about the body (400) before being told it may not call (401).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from tender.api.security import GATES, Gate


def _gates(dependant: Dependant) -> Iterator[Gate]:
    for dependency in dependant.dependencies:
        if dependency.call in GATES:
            yield dependency.call
        yield from _gates(dependency)


class AuthFirstRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        gates = list(dict.fromkeys(_gates(self.dependant)))
        if not gates:
            return handler

        async def gated(request: Request) -> Response:
            for check in gates:
                await check(request)
            return await handler(request)

        return gated
