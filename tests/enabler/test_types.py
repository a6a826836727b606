"""The enabler's ``.d.ts`` type-checks against a checkout written by its documented API, with
the pinned TypeScript from ``.tools`` (``scripts/ensure-node-tools.sh``). Without Node the
check is skipped, since tender's Python users need none; under CI=true that is a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / ".tools" / "node_modules" / ".bin" / "tsc"
TSCONFIG = Path(__file__).parent / "types" / "tsconfig.json"
IN_CI = os.environ.get("CI") == "true"

pytestmark = pytest.mark.xdist_group("typescript")  # one worker installs it, if anyone must


def _typescript() -> Path:
    if not TSC.exists():
        if shutil.which("npm") is None:
            reason = "Node is not installed: the enabler's types cannot be checked"
            if IN_CI:
                pytest.fail(reason + " (CI=true: this check may not skip)")
            pytest.skip(reason)
        subprocess.run([ROOT / "scripts" / "ensure-node-tools.sh"], check=True, timeout=600)
    return TSC


def test_the_declarations_accept_the_documented_usage() -> None:
    done = subprocess.run(
        [_typescript(), "-p", TSCONFIG],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_misuse_is_refused(tmp_path: Path) -> None:
    """The check can fail: a checkout passing a float amount does not compile."""
    declarations = ROOT / "src" / "tender" / "enabler" / "connector-enabler"
    wrong = tmp_path / "wrong.ts"
    wrong.write_text(
        f'import {{ Enabler }} from "{declarations}";\n'
        'const e = new Enabler({ processorUrl: "u", sessionId: "s" });\n'
        "e.createGiftCardBuilder().then((b) => b.build({}).submit({ amount: 10.5 }));\n"
    )
    done = subprocess.run(
        [
            _typescript(),
            "--noEmit",
            "--strict",
            "--target",
            "ES2022",
            "--module",
            "ESNext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "ES2022,DOM",
            wrong,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "error TS" in done.stdout, done.stdout
