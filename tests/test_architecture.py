"""The layering rule, checked by reading imports: the domain knows no framework, services know
no web framework or database, and nothing below the API imports the API."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tender"
FRAMEWORKS = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "httpx",
    "pydantic",
    "pydantic_settings",
    "alembic",
    "asyncpg",
    "aiosqlite",
    "typer",
    "rich",
    "uvicorn",
)

RULES = {
    "domain": (
        *FRAMEWORKS,
        "tender.services",
        "tender.db",
        "tender.api",
        "tender.auth",
        "tender.cli",
        "tender.config",
        "tender.runtime",
    ),
    "services": (
        "fastapi",
        "starlette",
        "sqlalchemy",
        "httpx",
        "typer",
        "tender.db",
        "tender.api",
        "tender.cli",
    ),
    "auth": ("fastapi", "starlette", "sqlalchemy", "tender.db", "tender.api", "tender.cli"),
    "db": ("fastapi", "starlette", "tender.api", "tender.auth", "tender.cli", "tender.services"),
    "providers": ("fastapi", "starlette", "tender.db", "tender.api", "tender.cli"),
    "api": ("tender.db", "tender.cli"),
    "cli": ("tender.db", "tender.api"),
}
EXEMPT = {
    # Still build checkout's store from a connection; they move to the runtime's unit of work
    # with the split of checkout's store, and this exemption goes with them.
    "api/browser.py": ("tender.db",),
    "api/routes/orders.py": ("tender.db",),
}
"""Files allowed, for now, one of their layer's banned imports."""
MODULES = {
    "config": (
        "fastapi",
        "starlette",
        "sqlalchemy",
        "tender.services",
        "tender.db",
        "tender.api",
        "tender.auth",
        "tender.cli",
        "tender.providers",
        "tender.runtime",
    ),
    "runtime": ("fastapi", "starlette", "tender.api", "tender.cli"),
    "faults": ("tender",),
}
"""Single modules beside the layers: settings know no services or storage, the runtime wires
everything but the API and the CLI, fault injection depends on nothing of tender."""


def imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_nothing_it_must_not(layer: str) -> None:
    files = sorted((SRC / layer).rglob("*.py"))
    assert files, f"no files in {layer}"
    offences = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in imports(path)
        if any(
            _within(name, banned)
            for banned in RULES[layer]
            if banned not in EXEMPT.get(str(path.relative_to(SRC)), ())
        )
    ]
    assert offences == []


def _within(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_nothing_it_must_not(module: str) -> None:
    path = SRC / f"{module}.py"
    offences = [
        f"{module}.py imports {name}"
        for name in imports(path)
        if any(_within(name, banned) for banned in MODULES[module])
    ]
    assert offences == []
