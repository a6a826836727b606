"""What a production worker loads to start. Every worker imports the app when it starts, and
again each time the supervisor replaces one that died, while the others carry its requests:
Alembic (with Mako and Pygments) and httpx (which brings its own command line's rich and
pygments) cost a tenth of a second each there. Neither is needed to serve: Alembic only
upgrades, httpx only fetches an external issuer's keys or serves the development demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("alembic", "httpx", "mako", "pygments", "rich", "typer")

LOADED = f"""
import sys
from tender.api.app import create_app
from tender.config import Settings
from tender.db.migrate import head_revision

create_app(Settings())
head_revision()  # what /ready and /operations/status compare the database's revision to
print(" ".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def loaded(tmp_path: Path, **settings: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENDER_")}
    env.update(
        TENDER_ENV="production",
        TENDER_SECRET_KEY="worker-start-test-secret-0123456789abcdefghij",
        TENDER_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'tender.db'}",
        TENDER_ENV_FILE=os.devnull,
        **settings,
    )
    ran = subprocess.run(
        [sys.executable, "-c", LOADED], env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.split()


def test_a_production_worker_loads_neither_alembic_nor_httpx(tmp_path: Path) -> None:
    assert loaded(tmp_path) == []


def test_an_external_issuer_loads_httpx_to_fetch_its_keys(tmp_path: Path) -> None:
    """The control: the probe does see a module that is loaded."""
    found = loaded(
        tmp_path,
        TENDER_JWT_ISSUER="https://issuer.example",
        TENDER_JWT_JWKS_URL="https://issuer.example/.well-known/jwks.json",
    )
    assert "httpx" in found
    assert "alembic" not in found
