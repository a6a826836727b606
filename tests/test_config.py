from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tender.auth.jwt import OWN_ISSUER
from tender.cli import app
from tender.config import Environment, InsecureSettings, Settings
from tender.providers import PROVIDERS
from tender.runtime import Runtime
from tender.secret_key import write_secrets_file
from tender.settings_checks import OWN_JWT_ISSUER
from tests.ports import free_port

STRONG = "vK3u9-Qz_7pLw2Xc8RbN4mYt6HsJ1aFgE5dUoZqWi0"


def test_production_refuses_missing_secrets() -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key=None)
    with pytest.raises(InsecureSettings, match="TENDER_SECRET_KEY"):
        settings.validate_secrets()


@pytest.mark.parametrize("weak", ["changeme", "short", "a" * 40, "secret"])
def test_production_refuses_weak_secrets(weak: str) -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key=weak)
    with pytest.raises(InsecureSettings, match="TENDER_SECRET_KEY is weak"):
        settings.validate_secrets()


def test_development_allows_weak_but_not_missing_secrets() -> None:
    Settings(env=Environment.DEVELOPMENT, secret_key="dev").validate_secrets()
    with pytest.raises(InsecureSettings):
        Settings(env=Environment.DEVELOPMENT, secret_key=None).validate_secrets()


def test_strong_secrets_pass_in_production() -> None:
    Settings(env=Environment.PRODUCTION, secret_key=STRONG).validate_secrets()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"jwt_issuer": "https://idp.example"}, "TENDER_JWT_JWKS_URL"),
        ({"jwt_jwks_url": "https://idp.example/jwks"}, "TENDER_JWT_ISSUER"),
        ({"jwt_issuer": "tender", "jwt_jwks_url": "https://idp.example/jwks"}, "own tokens"),
        (
            {"jwt_issuer": "https://idp.example", "jwt_jwks_url": "http://idp.example/jwks"},
            "https://",
        ),
    ],
)
def test_an_external_jwt_issuer_needs_its_name_and_keys_over_tls(
    settings: dict[str, object], message: str
) -> None:
    configured = Settings(env=Environment.PRODUCTION, secret_key=STRONG, **settings)  # type: ignore[arg-type]
    with pytest.raises(InsecureSettings, match=message):
        configured.validate_secrets()


def test_an_external_jwt_issuer_passes_with_both() -> None:
    assert OWN_JWT_ISSUER == OWN_ISSUER  # settings cannot import auth, so they spell it again
    Settings(
        env=Environment.PRODUCTION,
        secret_key=STRONG,
        jwt_issuer="https://idp.example",
        jwt_jwks_url="https://idp.example/.well-known/jwks.json",
    ).validate_secrets()


CUSTOMERS = {
    "customer_jwt_issuer": "https://id.shop.example",
    "customer_jwks_url": "https://id.shop.example/jwks",
    "customer_jwt_audience": "storefront",
}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({**CUSTOMERS, "customer_jwt_audience": None}, "TENDER_CUSTOMER_JWT_AUDIENCE"),
        ({**CUSTOMERS, "customer_jwks_url": None}, "together"),
        ({"customer_jwt_issuer": "https://id.shop.example"}, "together"),
        ({**CUSTOMERS, "customer_jwks_url": "http://id.shop.example/jwks"}, "https://"),
        ({**CUSTOMERS, "customer_jwt_issuer": "tender"}, "must differ"),
        (
            {
                **CUSTOMERS,
                "jwt_issuer": "https://id.shop.example",
                "jwt_jwks_url": "https://id.shop.example/jwks",
            },
            "must differ",
        ),
    ],
)
def test_customer_tokens_need_an_issuer_of_their_own(
    settings: dict[str, object], message: str
) -> None:
    configured = Settings(env=Environment.PRODUCTION, secret_key=STRONG, **settings)  # type: ignore[arg-type]
    with pytest.raises(InsecureSettings, match=message):
        configured.validate_secrets()


async def test_customer_tokens_pass_with_all_three(tmp_path: Path) -> None:
    settings = Settings(env=Environment.PRODUCTION, secret_key=STRONG, **CUSTOMERS)  # type: ignore[arg-type]
    settings.validate_secrets()
    assert settings.customer_tokens_on
    runtime = Runtime(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 't.db'}"})
    )
    try:
        assert runtime.customer_jwt is not None
    finally:
        await runtime.close()
    assert not Settings(secret_key=STRONG).customer_tokens_on


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


def test_secrets_init_keeps_what_stands_at_the_path(tmp_path: Path) -> None:
    """A link planted at the path (or a file another run made between the check and the
    create) is kept, never followed or overwritten, and says so instead of a traceback."""
    target = tmp_path / "elsewhere"
    path = tmp_path / "tender.env"
    path.symlink_to(target)  # dangling: ``exists()`` says no, the create must refuse
    assert write_secrets_file(path) is False
    assert not target.exists()


def make_sandbox(tmp_path: Path, echoed: str) -> Path:
    """The Makefile in ``tmp_path``, its virtualenv taken as installed and ``tender`` a script
    that appends ``echoed`` (shell words) to the log whose path is returned."""
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
    fake.write_text(f"#!/bin/sh\necho {echoed} >> {log}\n")
    fake.chmod(0o755)
    python = bin_dir / "python"  # compiles the bytecode first: nothing to compile here
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    return log


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_writes_the_secrets_where_tender_reads_them(tmp_path: Path) -> None:
    """With ``TENDER_ENV_FILE`` naming another file, ``make run`` wrote ``var/tender.env``,
    which tender then never read: the secrets go to the file named."""
    log = make_sandbox(tmp_path, '"$*"')
    named = tmp_path / "etc" / "tender.env"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENDER_", "MAKE"))}
    env["TENDER_ENV_FILE"] = str(named)
    subprocess.run(["make", "-s", "run"], cwd=tmp_path, env=env, check=True)
    assert log.read_text().splitlines()[0] == f"secrets init --out {named}"
    assert not (tmp_path / "var" / "tender.env").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_switches_development_on_for_its_process_only(tmp_path: Path) -> None:
    """``make run`` runs ``tender`` with TENDER_ENV=development unless the caller set one."""
    log = make_sandbox(tmp_path, '"$TENDER_ENV $*"')
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "tender.env").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TENDER_", "MAKE"))}
    for given, expected in ((None, "development"), ("production", "production")):
        log.unlink(missing_ok=True)
        run_env = env if given is None else {**env, "TENDER_ENV": given}
        subprocess.run(["make", "-s", "run"], cwd=tmp_path, env=run_env, check=True)
        demo = ["development demo init"] if expected == "development" else []
        assert log.read_text().splitlines() == [
            f"{expected} db upgrade",
            *demo,  # the demo shop's client and test cards, in development only
            f"{expected} serve",
        ]


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        ({"code_length": 12}, ["TENDER_CODE_LENGTH=12", "11 random", "Luhn", "to 13 or more"]),
        (
            {"code_length": 14, "code_prefix": "6012"},
            ["TENDER_CODE_LENGTH=14", "9 random", "4-character TENDER_CODE_PREFIX", "17"],
        ),
        (
            {"code_length": 11, "code_alphabet": "alphanumeric"},
            ["TENDER_CODE_LENGTH=11", "11 random", "to 12 or more"],
        ),
        ({"code_prefix": "GC"}, ["TENDER_CODE_PREFIX must be digits"]),
    ],
)
def test_guessable_code_formats_are_refused_at_start_up(
    settings: dict[str, object], names: list[str]
) -> None:
    configured = Settings(
        env=Environment.PRODUCTION,
        secret_key=STRONG,
        **settings,  # type: ignore[arg-type]
    )
    with pytest.raises(InsecureSettings) as refused:
        configured.validate_secrets()
    for name in names:
        assert name in str(refused.value)
    # The service refuses to start with it, whatever the environment.
    with pytest.raises(InsecureSettings, match=names[0]):
        Runtime(configured.model_copy(update={"env": Environment.DEVELOPMENT}))


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"code_length": 13},
        {"code_length": 14, "code_prefix": "GC", "code_alphabet": "alphanumeric"},
    ],
)
def test_code_formats_with_twelve_random_characters_pass(settings: dict[str, object]) -> None:
    Settings(
        env=Environment.PRODUCTION,
        secret_key=STRONG,
        **settings,  # type: ignore[arg-type]
    ).validate_secrets()


def upgrade_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``tender db upgrade`` as an operator runs it, with ``env``."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "tender"), "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_guessable_code_format_stops_the_cli_with_one_clear_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TENDER_ENV_FILE": os.devnull,
        "TENDER_SECRET_KEY": STRONG,
        "TENDER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "TENDER_CODE_LENGTH": "10",
    }
    done = upgrade_with(env)
    assert done.returncode == 1
    assert "TENDER_CODE_LENGTH=10 leaves 9 random characters" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("card_failures_per_code", "ten per hour"),
        ("card_failures_per_client", "10/fortnight"),
        ("card_failures_per_ip", ""),
        ("card_failures_per_client", "4/hour;4/hour"),
        ("card_failures_per_client", "4/hour;9/1 hour"),
        ("trusted_proxies", ["10.0.0.0/8", "proxy.internal"]),
        ("jwt_key_generation", 0),
        ("jwt_key_generation", "next"),
        ("order_payment_window_seconds", 366 * 86400 + 1),
        ("order_payment_window_seconds", 59),
    ],
)
def test_bad_budgets_and_proxies_are_refused_at_start_up(name: str, value: object) -> None:
    with pytest.raises(ValidationError, match=name):
        Settings(**{name: value})  # type: ignore[arg-type]


def test_budgets_and_proxies_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TENDER_TRUSTED_PROXIES", '["10.0.0.0/8", "2001:db8::1"]')
    monkeypatch.setenv("TENDER_CARD_FAILURES_PER_CODE", "5/hour;20/day")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.trusted_proxies == ["10.0.0.0/8", "2001:db8::1"]
    assert settings.card_failures_per_code == "5/hour;20/day"
    monkeypatch.delenv("TENDER_TRUSTED_PROXIES")
    assert Settings(_env_file=None).trusted_proxies is None  # type: ignore[call-arg]


async def test_the_gift_card_provider_is_chosen_by_name(tmp_path: Path) -> None:
    strong = STRONG
    chosen = Runtime(
        Settings(
            env=Environment.TEST,
            secret_key=strong,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
        )
    )
    try:
        assert chosen.settings.gift_card_provider == "ledger"
        assert chosen.provider is PROVIDERS["ledger"]
    finally:
        await chosen.close()
    with pytest.raises(InsecureSettings, match=r"TENDER_GIFT_CARD_PROVIDER=.nope.*ledger"):
        Runtime(
            Settings(
                env=Environment.TEST,
                secret_key=strong,
                database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
                gift_card_provider="nope",
            )
        )


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8011"),
        ("0.0.0.0", "http://127.0.0.1:8011"),
        ("::", "http://[::1]:8011"),
        ("::1", "http://[::1]:8011"),
        ("shop.internal", "http://shop.internal:8011"),
    ],
)
def test_the_local_url_is_where_a_browser_on_this_machine_reaches_tender(
    host: str, url: str
) -> None:
    settings = Settings(secret_key=STRONG, host=host, port=8011)
    assert settings.local_url == url


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("TENDER_ALLOWED_ORIGINS", "https://shop.example", 'not a JSON list such as ["a", "b"]'),
        ("TENDER_TRUSTED_PROXIES", "", 'not a JSON list such as ["a", "b"]'),
        ("TENDER_PAYMENT_METHODS", "invoice,redirect", 'not a JSON list such as ["a", "b"]'),
        ("TENDER_DB_POOL_SIZE", "ten", "valid integer"),
        ("TENDER_PORT", "99999", "less than or equal to 65535"),
        ("TENDER_PIN_LOCKOUT_SECONDS", "9" * 20, "less than or equal to"),
        ("TENDER_JWT_MAX_LIFETIME_SECONDS", "9" * 17, "less than or equal to"),
        ("TENDER_DATABASE_URL", "postgresql://tender:hunter2@db/tender", "postgresql+asyncpg://"),
        ("TENDER_DATABASE_URL", "sqlite:///var/tender.db", "sqlite+aiosqlite:///"),
        ("TENDER_SWEEP_INTERVAL_SECONDS", "inf", "finite number"),
        ("TENDER_SWEEP_INTERVAL_SECONDS", "nan", "finite number"),
        ("TENDER_OPERATIONS_STATUS_TIMEOUT_SECONDS", "nan", "finite number"),
        ("TENDER_SHUTDOWN_GRACE_SECONDS", "-1", "greater than or equal to 0"),
        ("TENDER_SHUTDOWN_GRACE_SECONDS", "inf", "valid integer"),
        ("TENDER_SHUTDOWN_GRACE_SECONDS", "nan", "valid integer"),
        ("TENDER_SHUTDOWN_GRACE_SECONDS", "86400", "less than or equal to 3600"),
    ],
)
def test_a_bad_setting_stops_the_cli_with_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    """Malformed JSON escaped as pydantic-settings' traceback naming no variable, a huge
    lockout or token lifetime as an OverflowError traceback, a port past 65535 was served on
    another port than printed, and a driver tender does not ship failed at its first statement
    (psycopg missing: a traceback)."""
    env = {
        **os.environ,
        "TENDER_ENV_FILE": os.devnull,
        "TENDER_SECRET_KEY": STRONG,
        "TENDER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        variable: value,
    }
    done = upgrade_with(env)
    assert done.returncode == 1, done.stdout
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert f"invalid setting {variable}: " in done.stderr
    assert said in done.stderr
    assert "hunter2" not in done.stderr


def test_serve_checks_what_its_workers_read_before_it_starts_them(tmp_path: Path) -> None:
    """A provider tender does not know was found by each worker as it built the app: one
    traceback per worker, for ever, as the supervisor restarted them. ``serve`` now stops
    before any worker, in one line."""
    env = {
        **os.environ,
        "TENDER_ENV_FILE": os.devnull,
        "TENDER_SECRET_KEY": STRONG,
        "TENDER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        "TENDER_GIFT_CARD_PROVIDER": "nope",
    }
    command = [str(Path(sys.executable).parent / "tender"), "serve", "--workers", "2"]
    server = subprocess.Popen(
        [*command, "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.communicate()
        pytest.fail("serve started its workers with a provider it does not know")
    assert server.returncode == 1
    assert stderr.strip().splitlines() == [stderr.strip()], stderr
    assert "TENDER_GIFT_CARD_PROVIDER='nope' is not a known provider" in stderr


def test_serve_refuses_a_database_not_at_this_releases_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every other command refused it; ``serve`` started, and its workers answered 500s
    wherever the schema differed (``no such column``), while ``/ready`` said 503."""
    monkeypatch.setenv("TENDER_SECRET_KEY", STRONG)
    monkeypatch.setenv("TENDER_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("TENDER_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'never.db'}")
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1, result.output
    assert "the database was never migrated" in result.output


@pytest.mark.parametrize("entry", ["*", "null", "shop.example", "https://shop.example/checkout"])
def test_allowed_origins_are_origins(entry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``*`` and ``null`` (any sandboxed page's origin) were accepted, and a null origin was
    then allowed everywhere; a bare host or one with a path matched nothing, silently."""
    monkeypatch.setenv("TENDER_ALLOWED_ORIGINS", json.dumps(["https://ok.example", entry]))
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("TENDER_ALLOWED_ORIGINS", '["HTTPS://Shop.Example/"]')
    assert Settings(_env_file=None).allowed_origins == ["https://shop.example"]  # type: ignore[call-arg]


def test_json_lists_are_still_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENDER_ALLOWED_ORIGINS", '["https://shop.example"]')
    monkeypatch.setenv("TENDER_PAYMENT_METHODS", '["invoice"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allowed_origins == ["https://shop.example"]
    assert settings.payment_methods == ["invoice"]
