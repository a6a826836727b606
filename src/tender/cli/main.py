"""Top-level commands; cards and clients live in their own modules."""

from __future__ import annotations

import asyncio
import inspect
import signal
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from tender.auth.jwt import mint_admin_token
from tender.auth.keys import SigningKey
from tender.cli import cards, checkout, clients, demo
from tender.cli.clients import SCOPE_HELP
from tender.cli.common import cli_errors, console, fail, run, unreachable_database
from tender.config import DEFAULT_ENV_FILE, Environment, Settings
from tender.domain.errors import StoreUnavailable
from tender.domain.principals import InvalidScope, parse_scopes
from tender.domain.upkeep import UpgradeRefused
from tender.runtime import Runtime
from tender.secret_key import write_secrets_file

app = typer.Typer(help="tender: headless checkout with gift cards.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
secrets_app = typer.Typer(help="Server secrets.", no_args_is_help=True)
admin_app = typer.Typer(help="Merchant-admin credentials.", no_args_is_help=True)
holds_app = typer.Typer(help="Reservations on gift cards.", no_args_is_help=True)
ledger_app = typer.Typer(help="The ledger as a whole.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(secrets_app, name="secrets")
app.add_typer(admin_app, name="admin")
app.add_typer(clients.app, name="clients")
app.add_typer(cards.app, name="cards")
app.add_typer(holds_app, name="holds")
app.add_typer(ledger_app, name="ledger")
app.add_typer(checkout.shipping_app, name="shipping-methods")
app.add_typer(checkout.orders_app, name="orders")
app.add_typer(demo.app, name="demo")


@app.command()
@cli_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Defaults to TENDER_HOST.")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Defaults to TENDER_PORT.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the HTTP service."""
    import uvicorn

    from tender.http_protocol import LimitedHttpToolsProtocol

    settings = Settings()
    # Every setting each worker reads when it builds the app (the provider, crash points,
    # token issuers…), checked here once: a bad one is then one line, not a traceback from
    # every worker the supervisor keeps restarting. So is the schema, as every command does.
    asyncio.run(_ready_to_serve(settings))
    if settings.env is not Environment.PRODUCTION:
        console.print(
            f"[bold yellow]TENDER_ENV={settings.env.value}:[/] the production checks are off "
            "(weak secrets, the demo, the redirect simulator and the API docs are allowed); "
            "never run a shop's real traffic like this",
            highlight=False,
            soft_wrap=True,
        )
    host = host or settings.host
    port = port or settings.port
    url = settings.model_copy(update={"host": host, "port": port}).local_url
    docs = f"  API docs: {url}/docs" if settings.api_docs_on else ""
    console.print(
        f"tender on {url}{docs}  health: {url}/health  ready: {url}/ready",
        highlight=False,
        soft_wrap=True,
    )
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(
        "tender.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="info",
        # uvicorn replaces a worker that does not answer its supervisor's ping within this
        # time. A new worker answers only once it has imported tender (seconds on a busy
        # machine, which is when workers crash), and the default of 5 s had the supervisor
        # kill replacement workers before they started. A hung event loop is not what the
        # ping detects anyway: a thread of the worker answers it.
        timeout_worker_healthcheck=30,
        # On SIGTERM uvicorn stops accepting at once, then waits for the requests under way;
        # without a limit a hung one kept the process up until a deploy's SIGKILL, which no
        # sweep or pool survives in order. Past the limit each is cancelled and rolls back.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        # The client address is tender's to decide (TENDER_TRUSTED_PROXIES): uvicorn must not
        # rewrite it from X-Forwarded-For first, which it would for requests from 127.0.0.1.
        proxy_headers=False,
        http=LimitedHttpToolsProtocol,  # a request's headers are limited as its body is
        # No WebSocket routes: an upgrade is answered as plain HTTP, through the app and its
        # access log (uvicorn's WebSocket handler logged the raw path and query, secrets too).
        ws="none",
    )


async def _ready_to_serve(settings: Settings) -> None:
    """Refuse to start on a database whose schema is not this release's (never migrated,
    behind, or migrated by a newer release): the workers would answer 500s wherever the
    schema differs. A database out of reach is left to ``/ready``: it may come up later."""
    runtime = Runtime(settings)
    try:
        try:
            current = await runtime.schema.current()
        except StoreUnavailable as error:
            console.print(
                f"[bold yellow]warning:[/] {unreachable_database(error.__cause__)}; "
                "/ready answers 503 until it is",
                highlight=False,
                soft_wrap=True,
            )
            return
        problem = runtime.schema.problem(current)
        if problem is not None:
            raise fail(problem)
        if settings.env is Environment.PRODUCTION and (found := await demo.demo_clients(runtime)):
            raise fail(
                f"the development demo's API client {found[0]} is active on this database: "
                "run tender demo remove (it disables the client and its test cards), or give "
                "the demo a database of its own"
            )
    finally:
        await runtime.close()


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends ``serve`` with exit code 0. uvicorn, once shut down in order, raises the
    signal again under the handler it found: the default one killed the process, which its
    supervisor (systemd, Kubernetes) then saw die of SIGTERM, status 143, as if stopped in
    the middle. Before uvicorn takes the signal over, this stops ``serve`` just as well."""
    raise SystemExit(0)


@db_app.command("upgrade")
@cli_errors
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to --revision (default: the newest); never back. Stop the workers
    of the release before first: see the README's "Upgrading"."""
    settings = Settings()
    if settings.database_url.startswith("sqlite"):
        _ensure_sqlite_dir(settings.database_url)

    async def work(runtime: Runtime) -> str:
        try:
            return await runtime.schema.upgrade(revision)
        except UpgradeRefused as refused:
            raise fail(str(refused)) from None

    console.print(f"database at {run(work, any_schema=True)}")


@db_app.command("current")
@cli_errors
def db_current() -> None:
    """The revision the database is at, and whether this release has migrations to apply."""

    async def work(runtime: Runtime) -> tuple[str | None, str | None]:
        return await runtime.schema.current(), runtime.schema.head()

    current, head = run(work, any_schema=True)
    console.print(f"database at {current or 'nothing (never migrated)'}, this release at {head}")
    if current != head:
        raise typer.Exit(code=1)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@secrets_app.command("init")
@cli_errors
def secrets_init(
    out: Annotated[Path, typer.Option(help="Env file to create (mode 0600).")] = Path(
        DEFAULT_ENV_FILE
    ),
) -> None:
    """Generate TENDER_SECRET_KEY once (it also derives the JWT signing key); an existing file
    is kept."""
    if write_secrets_file(out):
        console.print(
            f"generated secrets in {out} (mode 0600); keep this file private", soft_wrap=True
        )
    else:
        console.print(f"{out} exists; keeping its secrets", soft_wrap=True)


@admin_app.command("token")
@cli_errors
def admin_token(
    subject: Annotated[str, typer.Option(help="Who the token speaks for, e.g. an email.")],
    scopes: Annotated[str, typer.Option(help=SCOPE_HELP)],
    ttl_minutes: Annotated[
        int, typer.Option(min=1, help="At most TENDER_JWT_MAX_LIFETIME_SECONDS allows.")
    ] = 60,
) -> None:
    """Mint a merchant-admin JWT (EdDSA, with the key of TENDER_JWT_KEY_GENERATION derived from
    TENDER_SECRET_KEY and published at /.well-known/jwks.json)."""
    from datetime import UTC, datetime

    settings = Settings()
    settings.validate_secrets()
    try:
        parsed = parse_scopes(scopes)
    except InvalidScope as error:
        raise fail(str(error)) from None
    if ttl_minutes * 60 > settings.jwt_max_lifetime_seconds:
        raise fail(  # the service would refuse the token: say so now, not with a 401 later
            f"--ttl-minutes {ttl_minutes} is longer than TENDER_JWT_MAX_LIFETIME_SECONDS "
            f"({settings.jwt_max_lifetime_seconds} s) allows"
        )
    try:
        token = mint_admin_token(
            key=SigningKey.derive(settings.secret_bytes(), settings.jwt_key_generation),
            subject=subject,
            scopes=parsed,
            ttl=timedelta(minutes=ttl_minutes),
            now=datetime.now(UTC),
            audience=settings.jwt_audience,
        )
    except ValueError as error:
        raise fail(f"--subject: {error}") from None
    print(token)


@holds_app.command("sweep")
@cli_errors
def holds_sweep() -> None:
    """Expire every overdue reservation now (workers also do this in the background)."""

    async def work(runtime: Runtime) -> int:
        total = 0
        while count := await runtime.db.transaction(
            lambda conn: runtime.ledger.sweep_expired_holds(runtime.work(conn, actor="cli").ledger)
        ):
            total += count
        return total

    console.print(f"expired {run(work)} reservations")


@ledger_app.command("verify")
@cli_errors
def ledger_verify() -> None:
    """Check the books: entries sum to zero, balances equal their entries and holds."""

    async def work(runtime: Runtime) -> list[str]:
        return await runtime.db.read(lambda conn: runtime.work(conn, actor="cli").ledger.audit())

    problems = run(work)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {problem}")
        raise typer.Exit(code=1)
    console.print("[green]✓[/] the ledger balances")


def _summaries(group: typer.Typer) -> None:
    """Give every command its docstring's first paragraph as the summary its group's help
    lists, on one line: in that list typer keeps the docstring's line breaks, so a summary
    longer than one source line broke off mid-sentence wherever the source did."""
    for command in group.registered_commands:
        if command.short_help is None and command.callback is not None:
            doc = command.help or inspect.getdoc(command.callback) or ""
            command.short_help = " ".join(doc.split("\n\n")[0].split()) or None
    for subgroup in group.registered_groups:
        if subgroup.typer_instance is not None:
            _summaries(subgroup.typer_instance)


_summaries(app)


def main() -> None:
    app()
