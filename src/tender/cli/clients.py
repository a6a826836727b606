"""``tender clients``: OAuth2 API clients for merchants' backends."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from tender.cli.common import cli_errors, console, fail, print_whole, run
from tender.domain.clients import ApiClient
from tender.domain.principals import CLIENT_ACTOR, Scope, format_scopes
from tender.runtime import Runtime

app = typer.Typer(help="OAuth2 API clients.", no_args_is_help=True)
SCOPE_HELP = "Space-separated: " + " ".join(s.value for s in Scope)


@app.command("create")
@cli_errors
def create(
    name: Annotated[str, typer.Option(help="What the client is for.")],
    scopes: Annotated[str, typer.Option(help=SCOPE_HELP)],
) -> None:
    """Create a client; its secret is printed once and cannot be shown again."""

    async def work(runtime: Runtime) -> tuple[ApiClient, str]:
        return await runtime.db.transaction(
            lambda conn: runtime.oauth.create_client(
                runtime.clients(conn), name=name, scopes=scopes
            )
        )

    client, secret = run(work)
    console.print(f"client_id:     {client.client_id}", soft_wrap=True)  # never cut in two
    console.print(f"client_secret: {secret}", soft_wrap=True)
    console.print(f"scopes:        {format_scopes(client.scopes)}", soft_wrap=True)
    console.print("[yellow]The secret is shown only now: store it safely.[/]")


@app.command("list")
@cli_errors
def list_clients() -> None:
    """List clients (secrets are never shown)."""

    async def work(runtime: Runtime) -> list[ApiClient]:
        return await runtime.db.read(lambda conn: runtime.clients(conn).list_clients())

    table = Table("client_id", "name", "scopes", "active", "created")
    for c in run(work):
        table.add_row(
            c.client_id,
            c.name,
            format_scopes(c.scopes),
            "yes" if c.active else "no",
            c.created_at.isoformat(timespec="seconds"),
        )
    print_whole(console, table)


@app.command("disable")
@cli_errors
def disable(client_id: str) -> None:
    """Disable a client: its tokens, the browser sessions it opened and the Glue shoppers of its
    carts stop working at once."""

    async def work(runtime: Runtime) -> bool:
        return await runtime.db.transaction(
            lambda conn: runtime.clients(conn).set_client_active(client_id, False)
        )

    if not run(work):
        raise fail(f"no client {client_id}")
    console.print(f"disabled {client_id}", soft_wrap=True)


@app.command("rotate-secret")
@cli_errors
def rotate_secret(
    client_id: str,
    end_sessions: Annotated[
        bool,
        typer.Option(
            "--end-sessions",
            help="Also end the browser sessions the client opened (pages in use stop working).",
        ),
    ] = False,
) -> None:
    """Give a client a new secret, printed once: the old one and every token issued with it
    stop working at once. Its carts, orders and events stay its own."""
    secret, ended = run(lambda runtime: _new_secret(runtime, client_id, end_sessions, None))
    _print_secret(client_id, secret, ended)


@app.command("enable")
@cli_errors
def enable(client_id: str) -> None:
    """Enable a disabled client again, with a new secret (printed once): it was disabled
    because its secret or tokens could not be trusted, so none of them, nor the browser
    sessions opened before, come back with it."""
    secret, ended = run(lambda runtime: _new_secret(runtime, client_id, True, True))
    _print_secret(client_id, secret, ended)


async def _new_secret(
    runtime: Runtime, client_id: str, end_sessions: bool, activate: bool | None
) -> tuple[str | None, int | None]:
    """In one transaction: the new secret (``None`` for an unknown client), the client
    activated if asked, and how many of its live sessions were ended (``None``: not asked)."""

    async def unit(conn: AsyncConnection) -> tuple[str | None, int | None]:
        store = runtime.clients(conn)
        stored = await store.client_by_client_id(client_id)
        if activate and stored is not None and stored.client.active:
            raise fail(f"{client_id} is enabled already: rotate-secret gives it a new secret")
        secret = await runtime.oauth.rotate_secret(store, client_id)
        if secret is None:
            return None, 0
        if activate is not None:
            await store.set_client_active(client_id, activate)
        if not end_sessions:
            return secret, None
        sessions = runtime.work(conn, actor=None).sessions
        return secret, await sessions.end_sessions(CLIENT_ACTOR + client_id, runtime.clock.now())

    return await runtime.db.transaction(unit)


def _print_secret(client_id: str, secret: str | None, ended: int | None) -> None:
    if secret is None:
        raise fail(f"no client {client_id}")
    console.print(f"client_id:     {client_id}", soft_wrap=True)
    console.print(f"client_secret: {secret}", soft_wrap=True)
    if ended is None:  # "ended 0" read as "none was open" during a leak's response
        console.print("its browser sessions stay open: pass --end-sessions to end them")
    else:
        console.print(f"ended {ended} browser session{'' if ended == 1 else 's'}")
    console.print("[yellow]The secret is shown only now: store it safely.[/]")
