"""An automated accessibility audit: axe-core (pinned in ``.tools/package-lock.json``, installed
by ``scripts/ensure-node-tools.sh``) runs in real Chromium at each step of the demo shop's
journey, in English and German, at desktop width and at 375 px, and on the merchant's plain
page with the card form. A violation of WCAG 2.1 A or AA whose impact is serious or critical
fails the test, and so does a page wider than 375 px; every finding goes to
``test-artifacts/accessibility/``. Without axe-core the test skips, except under CI=true, where
that is a failure."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT, SCREENSHOTS, Demo, Shop, unavailable, unknown_code
from tests.browser.playwright_expect import expect
from tests.browser.test_demo_shop import ADDRESS, TEXTS

pytestmark = pytest.mark.xdist_group("browser")

AXE = ROOT / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
FAILING = {"serious", "critical"}
REPORTS = SCREENSHOTS.parent / "accessibility"
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "375px": {"width": 375, "height": 812}}


@pytest.fixture(scope="module")
def axe_script() -> Path:
    if not AXE.exists():
        if shutil.which("npm") is None:
            unavailable("Node is not installed: axe-core cannot be installed for the audit")
        subprocess.run([ROOT / "scripts" / "ensure-node-tools.sh"], check=True, timeout=600)
    if not AXE.exists():
        unavailable(f"{AXE.relative_to(ROOT)} is missing (make test installs it)")
    return AXE


class Audit:
    """axe-core's findings over the steps of one page, at every width: the serious and critical
    ones fail the test, all of them at once, each with where it was found. At 375 px the page
    must also fit, without scrolling sideways."""

    def __init__(self, page: Any, script: Path) -> None:
        self.page = page
        self.script = script
        self.steps: list[str] = []
        self.found: dict[tuple[str, str, str, str, str], list[str]] = {}

    async def run(self, step: str) -> None:
        """Audits the page as it is now at each width, and leaves it at the last one."""
        self.steps.append(step)
        for width, viewport in WIDTHS.items():
            await self.page.set_viewport_size(viewport)
            if not await self.page.evaluate("typeof window.axe === 'object'"):
                await self.page.add_script_tag(path=self.script)
            results = await self.page.evaluate(
                "(options) => axe.run(document, options)",
                {**WCAG_A_AA, "resultTypes": ["violations"]},
            )
            for violation in results["violations"]:
                targets = "; ".join(" ".join(map(str, n["target"])) for n in violation["nodes"])
                key = (step, violation["id"], violation["impact"], violation["help"], targets)
                self.found.setdefault(key, []).append(width)
            overflow = await self.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                key = (step, "reflow", "serious", f"{overflow} px wider than the window", "html")
                self.found.setdefault(key, []).append(width)

    def check(self, name: str) -> None:
        """Writes every finding to ``test-artifacts/accessibility/<name>.txt``; fails on the
        serious and critical ones, naming each with the nodes at fault."""
        failing: list[str] = []
        report = [f"{len(self.steps)} steps, each at {', '.join(WIDTHS)}: {', '.join(self.steps)}"]
        for (step, rule, impact, help, targets), widths in self.found.items():
            line = f"{step} ({', '.join(widths)}): {rule} [{impact}] {help} -- {targets}"
            report.append(line)
            if impact in FAILING:
                failing.append(line)
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{name}.txt").write_text("\n".join(report) + "\n")
        if failing:
            pytest.fail("accessibility violations:\n" + "\n".join(failing), pytrace=False)


@pytest.fixture
async def audited_tab(chromium: Any) -> AsyncIterator[Any]:
    # The demo's Content-Security-Policy allows scripts from its own origin alone: axe-core,
    # added as an inline script, is let in for the audit only.
    context = await chromium.new_context(bypass_csp=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        await context.close()
    assert errors == []


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_the_demo_shop_journey_has_no_serious_accessibility_violation(
    demo: Demo, audited_tab: Any, axe_script: Path, locale: str
) -> None:
    page = audited_tab
    t = TEXTS[locale]
    audit = Audit(page, axe_script)
    card = await demo.tender.card(2000)

    await page.goto(f"{demo.tender.url}/demo?lang={locale}")
    await expect(page.get_by_role("button", name=t["add_pot"])).to_be_visible()
    await audit.run("product list")
    await page.get_by_role("button", name=t["add_pot"]).click()
    await page.get_by_role("button", name=t["add_tea"]).click()
    await audit.run("basket")

    await page.get_by_role("button", name=t["checkout"], exact=True).click()
    await expect(page.get_by_label(t["fields"][0], exact=True)).to_be_focused()
    await audit.run("checkout form")
    for label, value in zip(t["fields"], ADDRESS, strict=True):
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_role("button", name=t["continue"]).click()
    code = page.get_by_label(t["code"])
    await expect(code).to_be_visible()
    await audit.run("payment step")

    await code.fill(unknown_code())
    await page.get_by_role("button", name=t["check"]).click()
    await expect(page.locator(".tender-gc__message")).not_to_have_text("")
    await audit.run("balance error")

    await code.fill(card["code"])
    await page.get_by_role("button", name=t["apply"]).click()
    await expect(page.locator("#applied li")).to_have_count(1)
    await audit.run("card applied")

    await page.get_by_role("button", name=t["place"]).click()
    await expect(page.get_by_role("heading", name=t["thanks"])).to_be_visible()
    await audit.run("confirmation")
    audit.check(f"demo-{locale}")


@pytest.mark.parametrize("locale", ["en", "de"])
async def test_the_card_form_on_a_plain_page_has_no_serious_accessibility_violation(
    shop: Shop, axe_script: Path, locale: str
) -> None:
    page = shop.page
    audit = Audit(page, axe_script)
    await shop.open(locale=locale)
    code = page.locator(".tender-gc__input").first
    await expect(code).to_be_visible()
    await audit.run("card form")
    await code.press("Enter")  # no number: the form says so, and marks the field
    await expect(code).to_have_attribute("aria-invalid", "true")
    await audit.run("code missing")
    await code.fill(unknown_code())
    await code.press("Enter")
    await expect(page.locator(".tender-gc__message")).not_to_have_text("")
    await audit.run("balance error")
    audit.check(f"enabler-page-{locale}")
