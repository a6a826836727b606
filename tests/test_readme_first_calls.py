"""The README's "A backend's first calls" runs as printed, against ``tender serve``.

It is the first thing a merchant's engineer copies: the ``tender clients create`` command and
the script are taken from the README itself, so a route, a field or a scope renamed without
the README breaks this test instead of someone's first hour with tender.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.crash.service import Service, a_database, run_cli, service_env
from tests.ports import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "### A backend's first calls"


def fenced_blocks(section: str) -> dict[str, str]:
    """The first code block of each language in ``section`` of the README."""
    text = README.read_text()
    start = text.index(section)
    end = text.find("\n## ", start)
    blocks: dict[str, str] = {}
    for language, body in re.findall(r"^```(\w+)\n(.*?)^```$", text[start:end], re.M | re.S):
        blocks.setdefault(language, body)
    return blocks


def cli_arguments(shell: str) -> list[str]:
    """The arguments of the block's ``.venv/bin/tender`` command (lines joined by ``\\``)."""
    joined = shell.replace("\\\n", " ")
    line = next(line for line in joined.splitlines() if line.startswith(".venv/bin/tender "))
    return shlex.split(line)[1:]


def test_the_readme_names_its_command_and_script() -> None:
    blocks = fenced_blocks(SECTION)
    assert cli_arguments(blocks["sh"])[:2] == ["clients", "create"]
    assert 'os.environ["CLIENT_ID"]' in blocks["python"]


async def test_the_first_calls_run_as_printed(tmp_path: Path) -> None:
    """On SQLite, as ``make run`` serves it: the routes themselves are tested on both
    databases elsewhere."""
    blocks = fenced_blocks(SECTION)
    script = tmp_path / "first_calls.py"
    script.write_text(blocks["python"])
    async with a_database("sqlite", tmp_path) as url:
        env = service_env(url, pool_size=4)
        migrated = run_cli(env, "db", "upgrade")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        created = run_cli(env, *cli_arguments(blocks["sh"]))
        assert created.returncode == 0, created.stdout + created.stderr
        printed = dict(re.findall(r"^(client_id|client_secret):\s+(\S+)$", created.stdout, re.M))
        service = Service(env, free_port(), tmp_path / "service.log", workers=1)
        service.start()
        try:
            await asyncio.to_thread(service.wait_ready)
            ran = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, str(script)],
                env={
                    **env,
                    "CLIENT_ID": printed["client_id"],
                    "CLIENT_SECRET": printed["client_secret"],
                    "TENDER_URL": service.url,
                },
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            service.stop()
        assert ran.returncode == 0, ran.stdout + ran.stderr + service.log_tail()
        statuses = re.findall(r"^(\d{3}) (/\S*)$", ran.stdout, re.M)
        assert {"/giftcards", "/redeem", "/orders"} <= {path for _, path in statuses}, ran.stdout
        assert all(status.startswith("2") for status, _ in statuses), ran.stdout
        assert ran.stdout.rstrip().endswith("{'outcome': 'approved'}"), ran.stdout
