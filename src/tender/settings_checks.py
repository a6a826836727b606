"""Settings that parse but must not be run with: refused at start-up (by
``Settings.validate_secrets``), each in one message naming the variable and what to do.

Apart from ``tender.config``, which says what each setting is: these say which combinations
would let someone guess a code, mint a token, confirm a payment or reach a development
convenience.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tender.domain.codes import MIN_RANDOM_CHARACTERS
from tender.secret_key import MIN_SECRET_LENGTH, is_weak

if TYPE_CHECKING:
    from tender.config import Settings

WEB_SCHEMES = ("https://", "http://")
"""Where a key set or a payment page may be fetched from outside production; in production,
over TLS only."""
OWN_JWT_ISSUER = "tender"
"""The ``iss`` of tender's own tokens (``tender.auth.jwt.OWN_ISSUER``; settings import no auth):
an external issuer may not take the name."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class InsecureSettings(RuntimeError):
    """Raised at start-up; the message names the variable and how to fix it."""


def check_jwt_issuer(settings: Settings) -> None:
    """An external issuer is trusted only with its name and its keys' address, and in
    production its keys are fetched over TLS only: a forged JWK Set mints admins."""
    issuer, url = settings.jwt_issuer, settings.jwt_jwks_url
    if (issuer is None) != (url is None):
        raise InsecureSettings(
            "an external JWT issuer needs both TENDER_JWT_ISSUER (its iss) and "
            "TENDER_JWT_JWKS_URL (its JWK Set)"
        )
    if issuer == OWN_JWT_ISSUER:
        raise InsecureSettings(
            f"TENDER_JWT_ISSUER={OWN_JWT_ISSUER!r} is the name of tender's own tokens; "
            "name the external issuer as its tokens do"
        )
    if url is not None:
        schemes = _web_schemes(settings)
        if not url.startswith(schemes):
            raise InsecureSettings("TENDER_JWT_JWKS_URL must be an https:// URL")


def check_customer_issuer(settings: Settings) -> None:
    """Customer tokens come from an issuer of their own, named with its keys and its
    audience: one issuer for admins and customers would let a customer's token pass for
    an admin's, or the other way round."""
    parts = (
        settings.customer_jwt_issuer,
        settings.customer_jwks_url,
        settings.customer_jwt_audience,
    )
    if all(p is None for p in parts):
        return
    if any(p is None for p in parts):
        raise InsecureSettings(
            "customer tokens need TENDER_CUSTOMER_JWT_ISSUER, TENDER_CUSTOMER_JWKS_URL and "
            "TENDER_CUSTOMER_JWT_AUDIENCE together"
        )
    if settings.customer_jwt_issuer in (OWN_JWT_ISSUER, settings.jwt_issuer):
        raise InsecureSettings(
            "TENDER_CUSTOMER_JWT_ISSUER must differ from tender's own issuer and from "
            "TENDER_JWT_ISSUER: an admin's issuer cannot vouch for customers"
        )
    schemes = _web_schemes(settings)
    if not str(settings.customer_jwks_url).startswith(schemes):
        raise InsecureSettings("TENDER_CUSTOMER_JWKS_URL must be an https:// URL")


def check_payments(settings: Settings) -> None:
    """Refuse payment settings that would let a payment be confirmed by nobody, or by
    anybody: a method offered with no way to confirm it, or the simulator in production."""
    if settings.demo and settings.env is Environment.PRODUCTION:
        raise InsecureSettings(
            "TENDER_DEMO serves a shop page whose backend makes carts for anyone: it runs "
            "only with TENDER_ENV=development or test"
        )
    if settings.redirect_simulator and settings.env is Environment.PRODUCTION:
        raise InsecureSettings(
            "TENDER_REDIRECT_SIMULATOR lets anyone mark a payment paid: it runs only with "
            "TENDER_ENV=development or test; configure a redirect provider instead"
        )
    url, secret = settings.redirect_provider_url, settings.redirect_provider_secret
    if (url is None) != (secret is None):
        raise InsecureSettings(
            "a redirect provider needs both TENDER_REDIRECT_PROVIDER_URL (its payment page) "
            "and TENDER_REDIRECT_PROVIDER_SECRET (the key of its signed callbacks)"
        )
    if url is not None:
        schemes = _web_schemes(settings)
        if not url.startswith(schemes) or "{paymentId}" not in url:
            raise InsecureSettings(
                "TENDER_REDIRECT_PROVIDER_URL is the provider's page for one payment, "
                "https://… with {paymentId} in it"
            )
    if secret is not None and settings.env is Environment.PRODUCTION:
        if is_weak(secret.get_secret_value()):
            raise InsecureSettings(
                f"TENDER_REDIRECT_PROVIDER_SECRET is weak: use at least {MIN_SECRET_LENGTH} "
                "random characters, shared with the provider only"
            )
    known = {"invoice", "redirect"}
    for name in settings.offered_payment_methods():
        if name not in known:
            raise InsecureSettings(
                f"TENDER_PAYMENT_METHODS: unknown method {name!r}; use a JSON list of "
                "invoice and redirect (gift cards are always offered)"
            )
        if name == "redirect" and not (
            settings.redirect_provider_on or settings.redirect_simulator_on
        ):
            raise InsecureSettings(
                "TENDER_PAYMENT_METHODS offers redirect, but nothing could confirm it: set "
                "TENDER_REDIRECT_PROVIDER_URL and TENDER_REDIRECT_PROVIDER_SECRET"
            )


def check_code_format(settings: Settings) -> None:
    """A code is a bearer secret: refuse formats with fewer than 12 random characters.

    The prefix and the Luhn check digit are fixed or computed, so they add nothing an
    attacker has to guess."""
    check_digit = 1 if settings.code_alphabet == "digits" else 0
    if check_digit and not settings.code_prefix.isdigit() and settings.code_prefix:
        raise InsecureSettings(
            "TENDER_CODE_PREFIX must be digits with TENDER_CODE_ALPHABET=digits (the Luhn "
            "check digit is computed over the whole code)"
        )
    random_chars = settings.code_length - len(settings.code_prefix) - check_digit
    if random_chars >= MIN_RANDOM_CHARACTERS:
        return
    fixed = []
    if settings.code_prefix:
        fixed.append(f"the {len(settings.code_prefix)}-character TENDER_CODE_PREFIX")
    if check_digit:
        fixed.append("the Luhn check digit of TENDER_CODE_ALPHABET=digits")
    after = f" after {' and '.join(fixed)}" if fixed else ""
    needed = settings.code_length - random_chars + MIN_RANDOM_CHARACTERS
    raise InsecureSettings(
        f"TENDER_CODE_LENGTH={settings.code_length} leaves {random_chars} random characters"
        f"{after}; gift card codes need at least {MIN_RANDOM_CHARACTERS}: set "
        f"TENDER_CODE_LENGTH to {needed} or more"
        + (" or shorten TENDER_CODE_PREFIX" if settings.code_prefix else "")
    )


def _web_schemes(settings: Settings) -> tuple[str, ...]:
    return ("https://",) if settings.env is Environment.PRODUCTION else WEB_SCHEMES
