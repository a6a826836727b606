"""What every command shares: settings, the runtime, and one-line errors with exit code 1."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from tender.auth.oauth import OAuthError
from tender.config import InsecureSettings, Settings, setting_problem
from tender.domain.errors import DomainError, StoreUnavailable
from tender.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


UNBOUNDED = 100_000
"""A width no table of the command line reaches."""


def print_whole(on: Console, table: Table) -> None:
    """Print ``table`` no narrower than its widest row, wider than the terminal if need be.
    Fitted to the width (80 columns whenever the output is piped), rich cut cells short with
    "…": a card's code and PIN printed once (a card nobody could spend), a client id or a
    payment id the operator must copy into the next command."""
    widest = on.measure(table, options=on.options.update_width(UNBOUNDED)).maximum
    width = on.width
    on.width = max(width, widest)  # ``print(width=…)`` only ever narrows
    try:
        on.print(table)
    finally:
        on.width = width


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def cli_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn every expected failure into one clear line on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except DomainError as error:
            where = f" ({error.field})" if error.field else ""
            raise fail(f"{error.code}{where}: {error.detail}") from None
        except OAuthError as error:
            raise fail(f"{error.error}: {error.description}") from None
        except InsecureSettings as error:
            raise fail(str(error)) from None
        except ValidationError as error:
            raise fail(f"invalid setting {setting_problem(error)}") from None
        except StoreUnavailable as error:
            raise fail(unreachable_database(error.__cause__)) from None
        except DBAPIError as error:
            raise fail(f"database error: {_first_line(error.orig or error)}") from None
        except SQLAlchemyError as error:
            raise fail(
                f"database error: {type(error).__name__}: {str(error).splitlines()[0]}"
            ) from None

    return wrapper


def unreachable_database(cause: BaseException | None) -> str:
    """What the operator needs: that the database was not reached, the driver's own reason
    (a database or role that does not exist, a refused connection), and where to look."""
    if isinstance(cause, DBAPIError):
        cause = cause.orig
    reason = f" ({_first_line(cause)})" if cause is not None else ""
    return (
        f"the database cannot be reached{reason}: "
        "check TENDER_DATABASE_URL and that the server is up"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run(work: Callable[[Runtime], Awaitable[T]], *, any_schema: bool = False) -> T:
    """Build the runtime, run ``work`` on it, and dispose of the engine afterwards.

    Unless ``any_schema`` (the ``db`` commands), ``work`` runs on this release's schema only:
    on a database never migrated it failed with a bare "no such table", and on one a newer
    release migrated it would write rows under rules that release has changed."""

    async def main() -> T:
        runtime = Runtime(Settings())
        try:
            if not any_schema:
                problem = runtime.schema.problem(await runtime.schema.current())
                if problem is not None:
                    raise fail(problem)
            return await work(runtime)
        finally:
            await runtime.close()

    return asyncio.run(main())
