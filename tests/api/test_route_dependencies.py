"""Every dependency of every route runs in the event loop.

FastAPI runs a plain ``def`` dependency in its thread pool: a hop to a thread and back on every
request, invisible in the code that declares it. One such one-line dependency (the card code of
the body) once cost adding a gift card about a sixth of its CPU time. A dependency is declared
``async def`` (or as an async generator when it must act after the route).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from tests.api.conftest import Api


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def _runs_in_loop(call: object) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


async def test_no_route_dependency_needs_the_thread_pool(api: Api) -> None:
    app = api.client._transport.app  # type: ignore[attr-defined]
    checked = 0
    offenders = []
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute):
            continue
        for dependency in _dependencies(context.dependant):
            if dependency.call is None:
                continue
            checked += 1
            if not _runs_in_loop(dependency.call):
                offenders.append(f"{context.path_format}: {dependency.call!r}")
    assert checked > 40, "the walk found the routes' dependencies"
    assert offenders == []
