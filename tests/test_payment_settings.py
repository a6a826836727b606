"""Payment settings: what is offered by default, and the settings refused at start-up because a
payment could then be confirmed by nobody, or by anybody."""

from __future__ import annotations

from typing import Any

import pytest

from tender.config import Environment, InsecureSettings, Settings

STRONG = "vK3u9-Qz_7pLw2Xc8RbN4mYt6HsJ1aFgE5dUoZqWi0"
PROVIDER = {
    "redirect_provider_url": "https://pay.example/p/{paymentId}",
    "redirect_provider_secret": "pRov1der-Secret_9f8e7d6c5b4a3210zyxwvuts",
}


def settings(env: Environment = Environment.PRODUCTION, **values: Any) -> Settings:
    return Settings(env=env, secret_key=STRONG, **values)


@pytest.mark.parametrize(
    ("env", "values", "offered"),
    [
        (Environment.PRODUCTION, {}, ["invoice"]),
        (Environment.TEST, {}, ["invoice"]),
        (Environment.DEVELOPMENT, {}, ["invoice", "redirect"]),
        (Environment.DEVELOPMENT, {"redirect_simulator": False}, ["invoice"]),
        (Environment.TEST, {"redirect_simulator": True}, ["invoice", "redirect"]),
        (Environment.PRODUCTION, PROVIDER, ["invoice", "redirect"]),
        (Environment.PRODUCTION, {**PROVIDER, "payment_methods": ["invoice"]}, ["invoice"]),
        (Environment.PRODUCTION, {**PROVIDER, "payment_methods": ["Redirect"]}, ["redirect"]),
        (Environment.PRODUCTION, {"payment_methods": ["giftcard"]}, []),
    ],
)
def test_offered_methods(env: Environment, values: dict[str, Any], offered: list[str]) -> None:
    configured = settings(env, **values)
    configured.validate_secrets()
    assert configured.offered_payment_methods() == offered


def test_payment_methods_come_from_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENDER_PAYMENT_METHODS", '["invoice"]')
    monkeypatch.setenv("TENDER_REDIRECT_SIMULATOR", "true")
    configured = Settings(_env_file=None, env=Environment.TEST)  # type: ignore[call-arg]
    assert configured.offered_payment_methods() == ["invoice"]
    assert configured.redirect_simulator_on


@pytest.mark.parametrize(
    ("env", "values", "named"),
    [
        (Environment.PRODUCTION, {"redirect_simulator": True}, "TENDER_REDIRECT_SIMULATOR"),
        (Environment.PRODUCTION, {"payment_methods": ["redirect"]}, "TENDER_PAYMENT_METHODS"),
        (Environment.TEST, {"payment_methods": ["invoice", "cash"]}, "'cash'"),
        (
            Environment.PRODUCTION,
            {"redirect_provider_url": PROVIDER["redirect_provider_url"]},
            "TENDER_REDIRECT_PROVIDER_SECRET",
        ),
        (
            Environment.PRODUCTION,
            {"redirect_provider_secret": PROVIDER["redirect_provider_secret"]},
            "TENDER_REDIRECT_PROVIDER_URL",
        ),
        (
            Environment.PRODUCTION,
            {**PROVIDER, "redirect_provider_url": "http://pay.example/p/{paymentId}"},
            "TENDER_REDIRECT_PROVIDER_URL",
        ),
        (
            Environment.TEST,
            {**PROVIDER, "redirect_provider_url": "https://pay.example/p"},
            "TENDER_REDIRECT_PROVIDER_URL",
        ),
        (
            Environment.PRODUCTION,
            {**PROVIDER, "redirect_provider_secret": "changeme"},
            "TENDER_REDIRECT_PROVIDER_SECRET is weak",
        ),
    ],
)
def test_refused_at_start_up(env: Environment, values: dict[str, Any], named: str) -> None:
    with pytest.raises(InsecureSettings, match=named):
        settings(env, **values).validate_secrets()
