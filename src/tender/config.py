"""All settings, from ``TENDER_*`` environment variables (and optionally an env file).

Secrets have no defaults. Outside development a missing, short or placeholder secret stops the
service at start-up, because a guessable key would let anyone recompute code hashes offline.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tender.domain.codes import ALPHANUMERIC, DIGITS, CodeFormat
from tender.domain.network import parse_networks
from tender.domain.payments import GIFT_CARD
from tender.domain.policy import LedgerPolicy
from tender.domain.sessions import origin
from tender.faults import parse_plan
from tender.secret_key import MIN_SECRET_LENGTH, is_weak
from tender.settings_checks import Environment as Environment
from tender.settings_checks import InsecureSettings as InsecureSettings
from tender.settings_checks import (
    check_code_format,
    check_customer_issuer,
    check_jwt_issuer,
    check_payments,
)

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///var/tender.db"
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
"""The drivers tender ships with: any other URL would fail at its first statement."""
MAX_WINDOW_SECONDS = 366 * 86400
"""The longest lockout or token lifetime: a longer one is a typo, and past ~10^9 days Python's
``timedelta`` overflows with a traceback instead of a message."""
DEFAULT_ENV_FILE = "var/tender.env"
"""Read if present (``make run`` writes it); real environment variables take precedence."""
DEFAULT_AUDIENCE = "tender"
MAX_HOLD_SECONDS = int(LedgerPolicy().max_hold_ttl.total_seconds())


def setting_problem(error: ValidationError) -> str:
    """The first problem of ``error`` in the operator's words: the variable, not the field."""
    first = error.errors()[0]
    name = "_".join(str(part) for part in first["loc"][:1]).upper()
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"TENDER_{name}: {message}" if name else message


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TENDER_",
        env_file=os.environ.get("TENDER_ENV_FILE", DEFAULT_ENV_FILE),
        extra="ignore",
    )

    env: Environment = Environment.PRODUCTION
    database_url: str = DEFAULT_SQLITE_URL
    """``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``."""
    db_pool_size: int = Field(10, ge=1, le=200)
    db_apart_pool_size: int | None = Field(None, ge=1, le=200)
    """Connections for work done apart from requests' transactions (budget counts, PIN
    attempts), as many again as overflow; by default half ``db_pool_size``, at least 2."""
    secret_key: SecretStr | None = None
    """Keys the HMACs of card codes, PINs, client secrets and tokens, and derives the JWT
    signing key. Changing it orphans them."""
    jwt_issuer: str | None = None
    """An external issuer whose JWTs tender trusts besides its own (``iss``, e.g. the merchant
    center's); its keys come from ``jwt_jwks_url``. tender's own tokens are signed with a key
    derived from ``secret_key`` and published at ``/.well-known/jwks.json``."""
    jwt_jwks_url: str | None = None
    """The external issuer's JWK Set (https), fetched by ``kid`` and cached."""
    jwt_audience: str = Field(DEFAULT_AUDIENCE, min_length=1, max_length=500)
    """The ``aud`` every JWT must name: tender, as its issuers know it."""
    jwt_max_lifetime_seconds: int = Field(7 * 86400, ge=60, le=MAX_WINDOW_SECONDS)
    """Admin JWTs that stay valid for longer than this from now are refused."""
    jwt_key_generation: int = Field(1, ge=1, le=10_000)
    """Which key, derived from ``secret_key``, tender signs its JWTs with: raise it by one to
    rotate the key (``tender.auth.keys``); tokens of the generation before still verify."""
    jwt_previous_key: bool = True
    """Whether the previous generation's key still verifies (and is published): off after it
    leaked, so that its tokens stop working at once."""
    customer_jwt_issuer: str | None = None
    """The merchant's identity provider (``iss``): its JWTs let a Glue customer check out the
    carts whose ``customerId`` is the token's ``sub``, and nothing else."""
    customer_jwks_url: str | None = None
    """The identity provider's JWK Set (https), fetched by ``kid`` and cached."""
    customer_jwt_audience: str | None = Field(None, min_length=1, max_length=500)
    """The ``aud`` customer tokens must name (the storefront's client id at the provider)."""
    operations_status_timeout_seconds: float = Field(5.0, gt=0, le=60, allow_inf_nan=False)
    """``GET /operations/status`` answers within this; a check still running is reported
    DOWN."""
    token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    max_pin_attempts: int = Field(5, ge=1, le=100)
    pin_lockout_seconds: int = Field(900, ge=1, le=MAX_WINDOW_SECONDS)
    order_payment_window_seconds: int = Field(24 * 3600, ge=60, le=MAX_HOLD_SECONDS)
    """How long a gift card reservation lasts before it lapses: one a shopper's page made
    (``POST /redeem``) and a placed order's alike. No longer than a hold may last, so that a
    window too long stops the service at start-up instead of failing every reservation."""
    session_ttl_seconds: int = Field(3600, ge=60, le=7 * 86400)
    card_attempts_per_session_minute: int = Field(10, ge=1)
    """Balance checks and add-card attempts one browser session may make per minute."""
    card_attempts_per_client_minute: int = Field(600, ge=1)
    """The same for one API client (a merchant backend serves many shoppers)."""
    card_failures_per_code: str = "10/hour;30/day"
    """Failed lookups of one card code (unknown code or wrong PIN), whoever sends them: caps
    PIN guessing across lockout windows and at providers that have no lockout of their own."""
    card_failures_per_client: str = "300/minute;3000/hour"
    """Failed lookups by one API client's own calls and all of its browser sessions together:
    a shopper who opens session after session still draws on one budget."""
    card_failures_per_ip: str = "20/minute;200/hour"
    """Failed lookups from one shopper address (browser calls; IPv6 by /64); counted only when
    ``trusted_proxies`` is set, since only then is the address known to be the shopper's."""
    trusted_proxies: Annotated[list[str] | None, NoDecode] = None
    """Proxies in front of tender, a JSON list of addresses or CIDRs. Unset: no per-address
    budget (behind an undeclared proxy every shopper would share its address). ``[]``: no
    proxy, the direct peer is the shopper. ``X-Forwarded-For`` is read only from these."""
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins every browser session may call from (a JSON list), besides each session's own
    ``allowedOrigins``."""
    code_length: int = Field(16, ge=1, le=64)
    code_alphabet: str = Field("digits", pattern="^(digits|alphanumeric)$")
    code_prefix: str = ""
    pin_length: int = Field(6, ge=4, le=12)
    sweep_interval_seconds: float = Field(30.0, ge=0, le=86400, allow_inf_nan=False)
    """How often each worker expires overdue holds; 0 turns the background sweep off (``inf``
    is refused rather than read as a quiet off, as is more than a day between sweeps)."""
    shutdown_grace_seconds: int = Field(20, ge=0, le=3600)
    """How long ``tender serve``, on SIGTERM, waits for the requests it has begun before it
    cancels them (each rolls back whole) and exits: under the 30 s after which Kubernetes, and
    systemd after 90, send SIGKILL, so that the pool and the sweep still close in order.
    uvicorn's own default waits without limit."""
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    gift_card_provider: str = "ledger"
    """Which provider holds card money, by its name in ``tender.providers.PROVIDERS``."""
    fault_injection: str = ""
    """Crash points for crash tests, ``point=probability`` (``after_commit=0.05``); refused in
    production. See ``tender.faults``."""
    redeem_capture: Literal["authorize", "immediate"] = "authorize"
    """When a card redeemed from the shopper's page (``POST /redeem``) gives its money:
    ``authorize`` reserves it and completing the order captures; ``immediate`` captures at
    once, as the commercetools connector template does."""
    redeem_pin: Literal["none", "optional", "required"] = "optional"
    """Whether the enabler shows a PIN field beside the card code (``GET /operations/config``):
    ``optional`` when some cards are issued with a PIN and some without (the shopper leaves it
    empty for a card without one), ``required`` when every card has one, ``none`` when no card
    has one."""
    payment_methods: Annotated[list[str] | None, NoDecode] = None
    """Methods offered for what gift cards do not cover (a JSON list of ``invoice`` and
    ``redirect``; gift cards are always offered). Unset: ``invoice``, plus ``redirect`` when a
    redirect provider is configured or the simulator is on."""
    redirect_simulator: bool | None = None
    """The built-in redirect payment page, on which anyone can mark a payment paid: a stand-in
    for a provider while developing. Unset: on only with ``TENDER_ENV=development``; refused in
    production, since it would confirm payments nobody made."""
    redirect_provider_url: str | None = None
    """The redirect provider's payment page for one payment; ``{paymentId}`` (required),
    ``{centAmount}``, ``{currency}`` and ``{returnUrl}`` (the session's ``merchantReturnUrl``,
    percent-encoded) are filled in."""
    redirect_provider_secret: SecretStr | None = None
    """Shared with the redirect provider, never with a browser: the provider signs its
    server-to-server confirmations (``POST /redirect-payments/{id}/callback``) with it."""
    redirect_callback_tolerance_seconds: int = Field(300, ge=30, le=3600)
    """Signed callbacks whose timestamp is further than this from now are refused (replays)."""
    api_docs: bool | None = None
    """The interactive API pages ``/docs`` and ``/redoc``, which load Swagger UI's and ReDoc's
    scripts from a CDN into tender's own origin: an operator who pastes an admin token into
    them hands it to whatever that CDN serves that day. Unset: off in production, on
    otherwise. ``/openapi.json``, which runs no script, is always served."""
    demo: bool | None = None
    """The demo storefront at ``/demo`` (a shop page and its small backend, which creates carts
    and sessions for anyone who opens it). Unset: on only with ``TENDER_ENV=development``;
    refused in production."""
    demo_file: str = "var/demo.json"
    """Where ``tender demo init`` keeps the demo backend's API client and the test cards."""
    sqlite_synchronous: Literal["full", "normal"] = "full"
    """``full``: a commit is on disk before it is acknowledged (survives power loss).
    ``normal`` (WAL): faster commits; a power loss may lose the last acknowledged transactions,
    never corrupts the database."""
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    """uvicorn would take 99999 and listen on another port (its low 16 bits) than it names."""

    @property
    def local_url(self) -> str:
        """Where ``tender serve`` answers, as a browser on this machine reaches it (a server
        listening on every address is reached at the loopback one)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @field_validator("trusted_proxies", "allowed_origins", "payment_methods", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        """Decoded here rather than by the settings source, whose error on malformed JSON
        names no variable and escaped the command line as a traceback."""
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError('not a JSON list such as ["a", "b"]') from None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        """Origins as browsers send them: ``*``, ``null`` (any sandboxed page's), a bare host
        or one with a path was accepted and then matched nothing, or everything."""
        found = [origin(entry) for entry in value]
        wrong = [entry for entry, seen in zip(value, found, strict=True) if seen is None]
        if wrong:
            raise ValueError(
                f"{wrong[0]!r} is not an origin: write it as https://shop.example "
                "(a scheme, a host and a port if any)"
            )
        return [seen for seen in found if seen is not None]

    @field_validator("database_url")
    @classmethod
    def _database_driver(cls, value: str) -> str:
        """Another driver (``postgresql://`` alone means psycopg2) is not installed: refused
        here in one line, never echoing the URL, which may hold a password."""
        if not value.startswith(DATABASE_SCHEMES):
            raise ValueError(
                "use sqlite+aiosqlite:///path/to/tender.db or "
                "postgresql+asyncpg://user:password@host/database"
            )
        return value

    @field_validator("fault_injection")
    @classmethod
    def _parse_fault_injection(cls, value: str) -> str:
        parse_plan(value)  # its ValueError names what is wrong
        return value

    @property
    def fault_plan(self) -> dict[str, float]:
        return parse_plan(self.fault_injection)

    @field_validator("card_failures_per_code", "card_failures_per_client", "card_failures_per_ip")
    @classmethod
    def _rate_strings(cls, value: str) -> str:
        """Budgets use the ``limits`` notation (``10/hour;30/day``); refuse typos at start-up."""
        try:
            items = parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate such as '10/hour' or '20/minute;200/hour'"
            ) from None
        windows = [(item.GRANULARITY.name, item.multiples) for item in items]
        if len(set(windows)) < len(windows):  # one counter a window: which limit would it be?
            raise ValueError(f"{value!r} names one window twice")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            parse_networks(value)
        return value

    def validate_secrets(self) -> None:
        """Refuse to run with secrets anyone could guess (weak ones only warn in development),
        with gift card codes too short to resist guessing, or with crash points armed in
        production: every process that serves or touches the database starts here."""
        if self.env is Environment.PRODUCTION and self.fault_plan:
            raise InsecureSettings(
                "TENDER_FAULT_INJECTION kills workers on purpose and is for crash tests only: "
                "unset it, or set TENDER_ENV=test or development"
            )
        check_code_format(self)
        if self.secret_key is None:
            raise InsecureSettings(
                "TENDER_SECRET_KEY is not set; generate one with `tender secrets init`"
            )
        if self.env is Environment.PRODUCTION and is_weak(self.secret_key.get_secret_value()):
            raise InsecureSettings(
                f"TENDER_SECRET_KEY is weak: use at least {MIN_SECRET_LENGTH} random "
                "characters (`tender secrets init` writes good ones)"
            )
        check_jwt_issuer(self)
        check_customer_issuer(self)
        check_payments(self)

    @property
    def customer_tokens_on(self) -> bool:
        return self.customer_jwt_issuer is not None

    @property
    def redirect_simulator_on(self) -> bool:
        if self.redirect_simulator is None:
            return self.env is Environment.DEVELOPMENT
        return self.redirect_simulator

    @property
    def api_docs_on(self) -> bool:
        if self.api_docs is None:
            return self.env is not Environment.PRODUCTION
        return self.api_docs

    @property
    def demo_on(self) -> bool:
        if self.demo is None:
            return self.env is Environment.DEVELOPMENT
        return self.demo

    @property
    def redirect_provider_on(self) -> bool:
        return self.redirect_provider_url is not None and self.redirect_provider_secret is not None

    def offered_payment_methods(self) -> list[str]:
        """The external methods shoppers may pick, in the order they are listed."""
        redirect = self.redirect_simulator_on or self.redirect_provider_on
        if self.payment_methods is None:
            return ["invoice", "redirect"] if redirect else ["invoice"]
        return list(dict.fromkeys(m.lower() for m in self.payment_methods if m != GIFT_CARD))

    @cached_property
    def ledger_policy(self) -> LedgerPolicy:
        alphabet = DIGITS if self.code_alphabet == "digits" else ALPHANUMERIC
        return LedgerPolicy(
            max_pin_attempts=self.max_pin_attempts,
            pin_lockout=timedelta(seconds=self.pin_lockout_seconds),
            code_format=CodeFormat(
                length=self.code_length,
                alphabet=alphabet,
                luhn=alphabet == DIGITS,
                prefix=self.code_prefix,
            ),
            pin_length=self.pin_length,
        )

    def secret_bytes(self) -> bytes:
        if self.secret_key is None:
            raise InsecureSettings("TENDER_SECRET_KEY is not set")
        return self.secret_key.get_secret_value().encode()
