"""Prebuilt statements worked out once for ``tender.db.direct``: a statement's SQL for the
dialect, the order of its parameters, their bind conversions and its rows' result conversions,
per statement and set of parameter names; and the rows and results as the hot stores read
them, without SQLAlchemy's result machinery."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import TextualSelect

Params = Mapping[str, Any]
Convert = Callable[[Any], Any]


class DirectRow:
    """A row as the stores read it: by position, or by column name through ``_mapping``."""

    __slots__ = ("_mapping", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self._values = values
        self._mapping = dict(zip(keys, values, strict=True))

    def __getitem__(self, index: int) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class DirectResult:
    """The part of SQLAlchemy's ``Result`` the hot stores use."""

    def __init__(self, rows: list[DirectRow], touched: int | str | None) -> None:
        self._rows = rows
        self._touched = touched
        """SQLite's row count, or PostgreSQL's command tag (``UPDATE 1``)."""

    @property
    def rowcount(self) -> int:
        """The rows the statement touched."""
        touched = self._touched
        if isinstance(touched, int):
            return touched
        last = touched.rsplit(" ", 1)[-1] if touched else ""
        return int(last) if last.isdigit() else -1

    def first(self) -> DirectRow | None:
        return self._rows[0] if self._rows else None

    def all(self) -> list[DirectRow]:
        return self._rows

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0][0]

    def __iter__(self) -> Iterator[DirectRow]:
        return iter(self._rows)


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement compiled for PostgreSQL with one set of parameter names."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    binders: tuple[Convert | None, ...]
    keys: tuple[str, ...]
    readers: tuple[Convert | None, ...]
    writes: bool
    """An ``INSERT``, ``UPDATE`` or ``DELETE`` (or a text, which may be any of them)."""

    def arguments(self, params: Params) -> list[Any]:
        values = []
        for name, bind in zip(self.names, self.binders, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values.append(value if bind is None or value is None else bind(value))
        return values

    def row(self, record: Any) -> DirectRow:
        values = tuple(
            [
                value if read is None or value is None else read(value)
                for value, read in zip(record, self.readers, strict=True)
            ]
        )
        return DirectRow(self.keys, values)


UNSUPPORTED: None = None
MAX_PLANS = 512
"""Plans are kept per prebuilt statement; a statement built per call would fill this up, and
past it runs through SQLAlchemy (it is a mistake, not a leak)."""
_plans: dict[tuple[Executable, frozenset[str], type[Dialect]], Plan | None] = {}


def plan(statement: Executable, keys: frozenset[str], dialect: Dialect) -> Plan | None:
    """The statement's plan for these parameter names, or ``None`` if it needs what only
    SQLAlchemy's execution does (Python-side defaults, expanding lists)."""
    cache_key = (statement, keys, type(dialect))
    if cache_key in _plans:
        return _plans[cache_key]
    made = _compile(statement, keys, dialect)
    if len(_plans) < MAX_PLANS:
        _plans[cache_key] = made
    return made


def _compile(statement: Executable, keys: frozenset[str], dialect: Dialect) -> Plan | None:
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))  # type: ignore[attr-defined]
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:
        return UNSUPPORTED
    if compiled.literal_execute_params or compiled.post_compile_params:
        return UNSUPPORTED  # rendered into the text at execution (expanding lists, literals)
    names = tuple(compiled.positiontup or ())
    processors: Mapping[str, Any] = compiled._bind_processors
    defaults = {name: compiled.binds[name].effective_value for name in names if name not in keys}
    if any(value is None and compiled.binds[name].required for name, value in defaults.items()):
        return UNSUPPORTED
    columns = compiled._result_columns or []
    readers = tuple(c[3]._cached_result_processor(dialect, None) for c in columns)
    return Plan(
        sql=compiled.string,
        names=names,
        defaults=defaults,
        binders=tuple(processors.get(name) for name in names),
        keys=tuple(c[0] for c in columns),
        readers=readers,
        writes=bool(
            compiled.isinsert
            or compiled.isupdate
            or compiled.isdelete
            or compiled.isplaintext
            or isinstance(statement, TextualSelect)  # a text with its columns: may write too
        ),
    )
