"""``tender clients``: OAuth2 API clients for merchants' backends."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tender.cli.common import cli_errors, console, fail, print_whole, run
from tender.domain.clients import ApiClient
from tender.domain.principals import Scope, format_scopes
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
    console.print(f"scopes:        {format_scopes(client.scopes)}")
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
    console.print(f"disabled {client_id}")
