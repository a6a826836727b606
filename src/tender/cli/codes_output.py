"""Where a batch's codes and PINs go, the only copy there is: a new file (``--out``) or the
terminal. Either way a chunk's codes are out before its transaction commits, and a chunk that
then fails is marked void (or unconfirmed) right after them: a card without its code is money
nobody can spend, a code without its card opens nothing."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import BinaryIO, Protocol

from rich.table import Table

from tender.cli.common import console, err_console, fail, print_whole

CSV_FIELDS = ["code", "pin", "id", "amount", "currency", "expires_at"]


class Codes(Protocol):
    where: str
    """Where the codes are, as a message names it."""
    pending: int
    """Rows given out since the last commit."""

    def write_chunk(self, rows: list[list[str]]) -> None:
        """Give out a chunk's rows, inside its transaction; again if it is retried."""

    def committed(self) -> None: ...

    def mark(self, verdict: str, reason: str) -> None:
        """Say after the pending rows that they are ``verdict`` (void, unconfirmed)."""

    def close(self) -> None: ...


class CodesFile:
    """The CSV that holds the only copy of a batch's codes and PINs.

    The invariant: every committed card's code is on disk. So a chunk's rows are written,
    flushed and fsynced *inside* its transaction, before the commit. If the transaction then
    fails, the rows stay (a commit whose answer was lost may still have landed, and a card
    without its code is money nobody can spend) and a marker row after them says they are void
    (the database has none of those cards) or unconfirmed (it could not be asked). A code on
    disk for a card that does not exist opens nothing. Only after SIGKILL between the fsync and
    the commit can unmarked rows of unissued cards end the file; ``tender cards show`` on the
    last row tells.

    The file must not exist: truncating one could destroy the codes of an earlier batch, and
    ``O_EXCL`` also refuses a symlink planted at the path. Its mode is 0600 whatever the umask.
    """

    def __init__(self, path: Path) -> None:
        self.where = str(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise fail(
                f"{path} exists: codes are written to a new file only (it may hold the codes "
                "of an earlier batch); choose another --out"
            ) from None
        except OSError as error:
            raise fail(f"cannot create {path}: {error.strerror}") from None
        os.fchmod(fd, 0o600)
        self.path = path
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        self._append([CSV_FIELDS])
        _fsync_directory(path)
        self.committed_at = self.handle.tell()
        self.pending = 0
        """Rows written since the last commit."""

    def _append(self, rows: list[list[str]]) -> None:
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        self.handle.write(text.getvalue().encode())
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def write_chunk(self, rows: list[list[str]]) -> None:
        """Called inside the chunk's transaction, again if the transaction is retried: a
        retried transaction was refused by the database (a serialization failure or deadlock),
        so the rows of its earlier attempt belong to no card and are replaced."""
        self.pending = len(rows)  # before writing: rows a failed write left half are marked too
        try:
            self.handle.seek(self.committed_at)
            self.handle.truncate()
            self._append(rows)
        except OSError as error:  # not the database's: an ``OSError`` would be taken for it
            raise fail(f"cannot write {self.path}: {error.strerror or error}") from error

    def committed(self) -> None:
        self.committed_at = self.handle.tell()
        self.pending = 0

    def mark(self, verdict: str, reason: str) -> None:
        note = f"# {verdict}: the {self.pending} rows above ({reason})"
        try:
            self._append([[note, "", "", "", "", ""]])
        except OSError as error:  # the disk that refused the rows refuses this too
            err_console.print(
                f"[bold red]{verdict}[/]: the last {self.pending} rows of {self.path} {reason}; "
                f"this could not be written there ({error.strerror or error}): mark them by hand",
                highlight=False,
            )
        self.committed()

    def close(self) -> None:
        self.handle.close()


def _fsync_directory(path: Path) -> None:
    """Make the new file's directory entry durable too, not only its contents."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class TerminalCodes:
    """A small batch's codes, printed as each chunk is issued, before it commits (a batch
    printed after the commit was lost whole if the process died in between, or the terminal
    did)."""

    where = "the table above"

    def __init__(self) -> None:
        self.pending = 0

    def write_chunk(self, rows: list[list[str]]) -> None:
        if self.pending:  # a retried transaction: the rows printed before belong to no card
            self.mark("VOID", "were not issued: their transaction is tried again")
        table = Table()
        for name in CSV_FIELDS:
            table.add_column(name, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        print_whole(console, table)
        self.pending = len(rows)

    def committed(self) -> None:
        self.pending = 0

    def mark(self, verdict: str, reason: str) -> None:
        console.print(f"[bold red]{verdict}[/]: the {self.pending} cards above {reason}")
        self.committed()

    def close(self) -> None:
        pass
