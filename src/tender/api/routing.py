"""Routes that check who is calling before they read what is sent, and the lean form of the
busiest of them.

FastAPI parses a JSON body before it runs a route's dependencies, so a caller with a bad token
and a malformed body used to learn about the body (400) before being told it may not call (401).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel, ValidationError

from tender.api.inputs import check_request, is_json
from tender.api.security import GATES, Gate

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def gates_of(dependant: Dependant) -> Iterator[Gate]:
    """The gates among a route's dependencies, theirs included (a gate may repeat)."""
    for dependency in dependant.dependencies:
        if dependency.call in GATES:
            yield dependency.call
        yield from gates_of(dependency)


class AuthFirstRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        gates = list(dict.fromkeys(gates_of(self.dependant)))
        if not gates:
            return handler

        async def gated(request: Request) -> Response:
            for check in gates:
                await check(request)
            return await handler(request)

        return gated


APP_DEPENDENCIES = (check_request,)
"""The application's own dependencies (``create_app``), which the lean path runs itself."""


class LeanJsonRoute(AuthFirstRoute):
    """A route of the form ``endpoint(request, body: Model, caller: Depends(gate)) ->
    Response`` whose well-formed requests skip FastAPI's request handler.

    The processor's balance and redeem calls are the busiest a shop has, and FastAPI's handler
    (dependency solving, its body and response machinery) cost about a quarter of a balance
    check's own work. For a JSON body that validates, this path runs what FastAPI would, in
    FastAPI's order: the gate (401 first), the application's ``check_request``, the body's
    model, the endpoint. Anything else (no JSON, a body that does not parse or validate)
    goes to FastAPI's handler, so every refusal is FastAPI's, word for word. A route whose
    dependencies differ from this form gets FastAPI's handler alone."""

    def get_route_handler(self) -> Handler:
        full = super().get_route_handler()
        form = _lean_form(self.dependant, self.dependencies)
        if form is None:
            return full
        endpoint, model, gate = form

        async def lean(request: Request) -> Response:
            caller = await gate(request)
            if not is_json(request.headers.get("content-type", "")):
                return await full(request)
            await check_request(request)
            try:
                body = model.model_validate(await request.json())
            except (ValidationError, ValueError, RecursionError):
                return await full(request)  # FastAPI words the refusal
            return await endpoint(request, body, caller)

        return lean


def _lean_form(
    dependant: Dependant, route_dependencies: list[Any]
) -> tuple[Callable[..., Awaitable[Response]], type[BaseModel], Gate] | None:
    """The endpoint, its body model and its one gate, if the route has exactly that form and
    sits on the application itself (``include_flat``), carrying the application's dependencies
    and nothing else: a route of an included router does not see them when it is built."""
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        return None
    if tuple(d.dependency for d in route_dependencies) != APP_DEPENDENCIES:
        return None
    others = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    )
    subs = [d for d in dependant.dependencies if d.call not in APP_DEPENDENCIES]
    if any(others) or len(dependant.body_params) != 1 or len(subs) != 1:
        return None
    (sub,) = subs
    if sub.call not in GATES or sub.dependencies or sub.body_params:
        return None
    model = dependant.body_params[0].field_info.annotation
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return None
    names = list(inspect.signature(call).parameters)
    expected = [dependant.request_param_name, dependant.body_params[0].name, sub.name]
    if names != expected or inspect.signature(call).return_annotation not in (Response, "Response"):
        return None
    return call, model, sub.call


_COPIED = [
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in ("self", "path", "endpoint", "route_class_override")
]


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app`` itself, as FastAPI's ``include_router`` did before it
    kept included routers as routers of their own: finding a route there costs each request
    about a hundred Python calls more. For the few busiest routes only; ``router`` must have
    no prefix or dependencies of its own (its routes carry everything)."""
    if router.prefix or router.dependencies:
        raise ValueError("a router included flat has no prefix or dependencies of its own")
    for route in router.routes:
        if not isinstance(route, APIRoute):
            raise TypeError(f"only API routes are included flat, not {route!r}")
        copied = {name: getattr(route, name) for name in _COPIED}
        app.router.add_api_route(
            route.path, route.endpoint, route_class_override=type(route), **copied
        )
