from __future__ import annotations

import stat
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
    settings = Settings(_env_file=path)  # type: ignore[call-arg]
    settings.validate_secrets()
    assert settings.env is Environment.DEVELOPMENT
