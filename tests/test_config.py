from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tender.config import Environment, InsecureSettings, Settings, write_secrets_file

STRONG = "vK3u9-Qz_7pLw2Xc8RbN4mYt6HsJ1aFgE5dUoZqWi0"


def test_production_refuses_missing_secrets() -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key=None, jwt_secret=STRONG)
    with pytest.raises(InsecureSettings, match="TENDER_SECRET_KEY"):
        settings.validate_secrets()


@pytest.mark.parametrize("weak", ["changeme", "short", "a" * 40, "secret"])
def test_production_refuses_weak_secrets(weak: str) -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key=STRONG, jwt_secret=weak)
    with pytest.raises(InsecureSettings, match="TENDER_JWT_SECRET is weak"):
        settings.validate_secrets()


def test_development_allows_weak_but_not_missing_secrets() -> None:
    Settings(env=Environment.DEVELOPMENT, secret_key="dev", jwt_secret="dev").validate_secrets()
    with pytest.raises(InsecureSettings):
        Settings(env=Environment.DEVELOPMENT, secret_key="dev", jwt_secret=None).validate_secrets()


def test_strong_secrets_pass_in_production() -> None:
    Settings(env=Environment.PRODUCTION, secret_key=STRONG, jwt_secret=STRONG).validate_secrets()


def test_secrets_file_is_private_and_written_once(tmp_path: Path) -> None:
    path = tmp_path / "var" / "tender.env"
    assert write_secrets_file(path) is True
    first = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert write_secrets_file(path) is False
    assert path.read_text() == first
    assert "TENDER_ENV" not in first
    settings = Settings(_env_file=path)  # type: ignore[call-arg]
    settings.validate_secrets()
    # A copy of the file on a server runs in production: strong secrets, no simulator.
    assert settings.env is Environment.PRODUCTION


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_switches_development_on_for_its_process_only(tmp_path: Path) -> None:
    """``make run`` runs ``tender`` with TENDER_ENV=development unless the caller set one."""
    root = Path(__file__).resolve().parents[1]
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(root / name, tmp_path / name)
    checksum = subprocess.run(
        ["cksum"], input=(root / "pyproject.toml").read_bytes(), capture_output=True, check=True
    ).stdout.split()[0]
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (tmp_path / ".venv" / f".installed-{checksum.decode()}").touch()
    log = tmp_path / "calls.log"
    fake = bin_dir / "tender"
    fake.write_text(f'#!/bin/sh\necho "$TENDER_ENV $*" >> {log}\n')
    fake.chmod(0o755)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "tender.env").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENDER_", "MAKE"))}
    for given, expected in ((None, "development"), ("production", "production")):
        log.unlink(missing_ok=True)
        run_env = env if given is None else {**env, "TENDER_ENV": given}
        subprocess.run(["make", "-s", "run"], cwd=tmp_path, env=run_env, check=True)
        assert log.read_text().splitlines() == [f"{expected} db upgrade", f"{expected} serve"]
