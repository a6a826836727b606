"""Crash points: they kill the process like SIGKILL when armed, cost nothing when not, and a
production deployment refuses to start with any of them armed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tender import faults
from tender.cli import app
from tender.config import Environment, InsecureSettings, Settings
from tender.runtime import Runtime

STRONG = "vK3u9-Qz_7pLw2Xc8RbN4mYt6HsJ1aFgE5dUoZqWi0"


def test_a_plan_names_known_points_with_probabilities() -> None:
    assert faults.parse_plan("") == {}
    assert faults.parse_plan(" after_commit = 0.05 ") == {"after_commit": 0.05}
    assert faults.parse_plan("after_commit=1,") == {"after_commit": 1.0}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("after-commit=0.5", "known point"),
        ("after_commit", "known point"),
        ("after_commit=0", "above 0 and at most 1"),
        ("after_commit=1.5", "above 0 and at most 1"),
        ("after_commit=often", "above 0 and at most 1"),
    ],
)
def test_a_plan_that_does_not_parse_is_refused(text: str, says: str) -> None:
    with pytest.raises(faults.InvalidFaultPlan, match=says):
        faults.parse_plan(text)
    with pytest.raises(ValidationError, match=says):
        Settings(env=Environment.TEST, fault_injection=text)


def test_production_refuses_armed_crash_points() -> None:
    settings = Settings(
        env=Environment.PRODUCTION,
        secret_key=STRONG,
        fault_injection="after_commit=0.01",
    )
    with pytest.raises(InsecureSettings, match=r"TENDER_FAULT_INJECTION .* crash tests only"):
        settings.validate_secrets()
    with pytest.raises(InsecureSettings, match="TENDER_FAULT_INJECTION"):
        Runtime(settings)
    Settings(env=Environment.PRODUCTION, secret_key=STRONG).validate_secrets()
    for env in (Environment.TEST, Environment.DEVELOPMENT):
        Settings(env=env, secret_key=STRONG, fault_injection="after_commit=0.01").validate_secrets()


def test_the_service_does_not_start_in_production_with_crash_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENDER_ENV", "production")
    monkeypatch.setenv("TENDER_SECRET_KEY", STRONG)
    monkeypatch.setenv("TENDER_FAULT_INJECTION", "after_commit=0.05")
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("TENDER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    for command in (["serve", "--port", "1"], ["db", "upgrade"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, result.output
        assert "TENDER_FAULT_INJECTION" in result.output
    assert not (tmp_path / "never.db").exists()


def _crash_in_child(plan: str) -> subprocess.CompletedProcess[str]:
    program = (
        "from tender import faults\n"
        f"faults.configure(faults.parse_plan({plan!r}))\n"
        "try:\n"
        "    faults.crash_point('after_commit')\n"
        "finally:\n"
        "    print('cleanup ran')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )


def test_an_armed_point_kills_the_process_without_cleanup() -> None:
    crashed = _crash_in_child("after_commit=1")
    assert crashed.returncode == faults.EXIT_CODE == 137
    assert "cleanup ran" not in crashed.stdout
    assert "fault injection: crash point after_commit" in crashed.stderr


def test_a_disarmed_point_does_nothing() -> None:
    survived = _crash_in_child("")
    assert survived.returncode == 0, survived.stderr
    assert survived.stdout == "cleanup ran\n"
    faults.configure({})
    faults.crash_point("after_commit")


def test_every_known_point_is_placed_in_the_code() -> None:
    """A point listed but called nowhere would arm a crash test that never crashes; one called
    but not listed would be refused by every plan."""
    source = Path(faults.__file__).parent
    called = {
        match
        for path in source.rglob("*.py")
        for match in re.findall(r"crash_point\(\"(\w+)\"\)", path.read_text())
    }
    assert called == set(faults.POINTS)
