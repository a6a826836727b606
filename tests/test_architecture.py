"""The layering rule, checked by reading imports: the domain knows no framework, services know
no web framework or database, and nothing below the API imports the API."""

from __future__ import annotations

import ast
import re
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
        "tender.settings_checks",
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
    "demo": (
        "tender.domain",
        "tender.services",
        "tender.db",
        "tender.api",
        "tender.auth",
        "tender.cli",
        "tender.providers",
        "tender.runtime",
        "tender.config",
        "tender.settings_checks",
    ),
    "cli": ("tender.db", "tender.api"),
    "enabler": (
        *FRAMEWORKS,
        "tender.domain",
        "tender.services",
        "tender.providers",
        "tender.db",
        "tender.auth",
        "tender.api",
        "tender.cli",
        "tender.config",
        "tender.settings_checks",
        "tender.runtime",
    ),
    "migrations": (
        "fastapi",
        "starlette",
        "tender.services",
        "tender.api",
        "tender.auth",
        "tender.cli",
        "tender.providers",
        "tender.runtime",
        "tender.config",
        "tender.settings_checks",
    ),
}
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
    "secret_key": ("tender",),
    "http_protocol": ("tender",),
}
"""Single modules beside the layers: settings and their start-up checks know no services or
storage, the runtime wires everything but the API and the CLI, fault injection, the secrets'
strength and file and the HTTP server's protocol depend on nothing of tender."""
MODULES["settings_checks"] = MODULES["config"]


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
        if any(_within(name, banned) for banned in RULES[layer])
    ]
    assert offences == []


def _within(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


def test_every_package_and_module_has_a_rule() -> None:
    """A package or top-level module added later is held to a rule from its first commit."""
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py")} - {"__init__"}
    assert packages - set(RULES) == set()
    assert modules - set(MODULES) == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_nothing_it_must_not(module: str) -> None:
    path = SRC / f"{module}.py"
    offences = [
        f"{module}.py imports {name}"
        for name in imports(path)
        if any(_within(name, banned) for banned in MODULES[module])
    ]
    assert offences == []


SEED_NAMES = frozenset(
    {
        # Spryker Glue
        "address1",
        "address2",
        "address3",
        "zipCode",
        "iso2Code",
        "idCart",
        "idShipmentMethod",
        "paymentMethodName",
        "paymentProviderName",
        # Norce / Awardit
        "cardId",
        # commercetools connector: payment intents
        "capturePayment",
        "refundPayment",
        "cancelPayment",
        "reversePayment",
        "merchantReference",
        # the commercetools gift card connector's processor
        "redeemAmount",
        "redemptionId",
        "paymentReference",
    }
)
"""Names only the seeds use: tender's own code spells these concepts its own way."""


def spellings(path: Path) -> set[str]:
    """Every name and string in the code (docstrings aside, which may cite a seed)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                found.update(re.findall(r"\w+", node.value))
        elif isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.arg | ast.keyword) and node.arg:
            found.add(node.arg)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
    return found


def test_the_seeds_names_stay_in_api_compat() -> None:
    """Translating the seeds' wire formats is ``api/compat``'s job and nobody else's (but a
    migration's, which converts what an older revision stored, and the demo shop's, which is a
    client of the seeds' APIs like any merchant's page)."""
    allowed = (SRC / "api" / "compat", SRC / "migrations", SRC / "demo")
    offences = [
        f"{path.relative_to(SRC)} spells {', '.join(sorted(spellings(path) & SEED_NAMES))}"
        for path in sorted(SRC.rglob("*.py"))
        if not any(folder in path.parents for folder in allowed) and spellings(path) & SEED_NAMES
    ]
    assert offences == []
